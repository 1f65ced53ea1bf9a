"""The app served by a real Uvicorn on a free loopback port, in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from clearcutout.config import Settings
from clearcutout.web import create_app
from clearcutout.web.server import server_config
from tests.conftest import free_port


@contextmanager
def running_app(
    settings: Settings, *, tls_cert: Path | None = None, tls_key: Path | None = None
) -> Iterator[str]:
    """Serve the app; yields its base URL."""
    port = free_port()
    config = server_config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        tls_cert=tls_cert,
        tls_key=tls_key,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "server thread died"
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"{'https' if tls_cert else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
