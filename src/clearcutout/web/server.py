"""Serving the app with Uvicorn; with a certificate, TLS 1.3 only."""

from __future__ import annotations

import ssl
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
