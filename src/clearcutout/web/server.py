"""Serving the app with Uvicorn; with a certificate, TLS 1.3 only."""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from clearcutout.errors import TlsConfigError


class _Tls13Config(uvicorn.Config):
    """Uvicorn's config with the SSL context pinned to TLS 1.3 (1.2 handshakes fail)."""

    def load(self) -> None:
        super().load()
        if self.ssl is not None:
            self.ssl.minimum_version = ssl.TLSVersion.TLSv1_3
            self.ssl.maximum_version = ssl.TLSVersion.TLSv1_3


def server_config(
    app: FastAPI | str,
    *,
    host: str,
    port: int,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    log_level: str = "info",
    graceful_s: float | None = None,
    workers: int = 1,
) -> uvicorn.Config:
    """A Uvicorn config for ``app``; both or neither of ``tls_cert``/``tls_key``.

    ``graceful_s`` bounds how long shutdown waits for requests in flight (an image being
    processed included) before they are cut off. ``workers`` > 1 needs ``app`` as an
    import string of a factory: each process builds its own app (nothing is shared
    between them but the database, which holds sessions, CSRF keys and throttles).
    """
    if (tls_cert is None) != (tls_key is None):
        raise TlsConfigError("Give both --tls-cert and --tls-key, or neither.")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise TlsConfigError(f"TLS file not found: {path}")
    return _Tls13Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        proxy_headers=False,
        server_header=False,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=int(graceful_s) if graceful_s is not None else None,
        workers=workers,
        factory=isinstance(app, str),
        # A process builds its app (database, keys) before it answers the supervisor.
        timeout_worker_healthcheck=60,
    )


def verify_tls_files(config: uvicorn.Config) -> None:
    """Load the certificate now, so a bad file is one clear error before serving."""
    if config.ssl_certfile is None:
        return
    try:
        config.load()
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"Cannot load the TLS certificate or key: {exc}") from exc


_WILDCARDS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 (recognised, not bound)


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket bound to ``host:port`` (port 0: any free port).

    Bound here, before the app starts, so a busy port is one clear line and the address
    is announced only once it is really ours. Raises ``OSError`` as the system does."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def bind_error_message(host: str, port: int, error: OSError) -> str:
    """One line saying why ``host:port`` cannot be served and what to do."""
    if error.errno == errno.EADDRINUSE:
        return (
            f"Port {port} on {host} is already in use (another server is running there). "
            f"Stop it, or choose another port: make run PORT={port + 1} "
            f"(or clearcutout serve --port {port + 1}, or CLEARCUTOUT_PORT={port + 1})."
        )
    if error.errno == errno.EACCES:
        return f"No permission to listen on port {port}: choose a port above 1023."
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine: choose another HOST."
    return f"Cannot listen on {host}:{port}: {error.strerror or error}."


def address_url(scheme: str, host: str, port: int) -> str:
    """``scheme://host:port`` with IPv6 addresses in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


def public_url(scheme: str, sock: socket.socket) -> str:
    """The address others reach the bound ``sock`` at: the address itself, or this
    machine's name when it listens on every interface (a wildcard is no address)."""
    host, port = sock.getsockname()[:2]
    if host in _WILDCARDS:
        host = socket.gethostname()
    return address_url(scheme, host, port)


class AnnouncingServer(uvicorn.Server):
    """Uvicorn's server that calls ``on_started`` once the app has started on its
    socket, never before (a failed start announces nothing)."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            self._on_started()
