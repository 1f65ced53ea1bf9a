"""``clearcutout serve``: the web app on a socket bound before anything else starts (a
taken port fails at once, in one line), over HTTPS with ``--tls-cert``, in one process
or ``--workers`` processes sharing the port. Registered by :mod:`clearcutout.cli.operator`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from clearcutout.cli.console import fail, stdout
from clearcutout.config import get_settings


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: CLEARCUTOUT_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default: CLEARCUTOUT_PORT).")
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="PEM certificate chain: serve HTTPS, TLS 1.3 only.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert.")] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes sharing the port (stateless; docs/scale-out.md).")
    ] = 1,
) -> None:
    """Run the web app (refuses an un-migrated database)."""
    from clearcutout.web import create_app
    from clearcutout.web.server import (
        AnnouncingServer,
        address_url,
        bind,
        bind_error_message,
        public_url,
        server_config,
        verify_tls_files,
    )

    settings = get_settings()
    host = settings.host if host is None else host
    port = settings.port if port is None else port
    try:
        sock = bind(host, port)
    except OSError as exc:
        fail(bind_error_message(host, port, exc))
    scheme = "https" if tls_cert else "http"
    bound_port = sock.getsockname()[1]
    if "base_url" not in settings.model_fields_set:
        # Emailed links point where this server really is, not at a default address
        # (the environment carries it to the processes of --workers too).
        os.environ["CLEARCUTOUT_BASE_URL"] = public_url(scheme, sock)
        settings = settings.model_copy(update={"base_url": os.environ["CLEARCUTOUT_BASE_URL"]})
    with sock:
        # Built here even with several processes: an un-migrated database is refused at once.
        app = create_app(settings)
        config = server_config(
            app if workers == 1 else "clearcutout.web:create_app",
            workers=workers,
            host=host,
            port=bound_port,
            tls_cert=tls_cert,
            tls_key=tls_key,
            graceful_s=settings.shutdown_grace_seconds,
        )
        verify_tls_files(config)
        # After Uvicorn's config, which installs its own logging setup: our INFO lines
        # (job and retention counts, no personal data) go to stderr beside Uvicorn's.
        logging.basicConfig(
            level=logging.INFO, format="%(levelname)s %(name)s %(message)s", force=True
        )

        def announce() -> None:
            address = public_url(scheme, sock)
            every = "" if address == address_url(scheme, host, bound_port) else ", every interface"
            stdout.print(f"ClearCutout is running at {address}/  (Ctrl+C stops{every})")
            stdout.print(f"Data directory: {settings.data_dir}")

        if workers == 1:
            AnnouncingServer(config, announce).run(sockets=[sock])
            return
        from uvicorn.supervisors import Multiprocess

        app.state.runtime.close()  # each process opens its own
        announce()  # the socket is bound; the processes start on it now
        Multiprocess(config, sockets=[sock]).run()
