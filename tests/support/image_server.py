"""A real HTTP server on a loopback port that serves images, redirects and misbehaviour."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit


@dataclass
class ImageServer:
    """Serves ``files`` by path; ``/redirect?to=URL&status=302``, ``/slow?seconds=``,
    ``/endless`` (a body that never ends, no length), ``/huge`` (declares a huge length),
    ``/status/NNN``, ``/drip-headers?seconds=&interval=`` (response headers one byte at a
    time, each well inside any read timeout). Remembers each request's path and ``Host`` header."""

    host: str = "127.0.0.1"
    port: int = 0
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def redirect(self, to: str, *, status: int = 302) -> str:
        """A URL on this server that redirects to ``to``."""
        return self.url(f"/redirect?status={status}&to={quote(to, safe='')}")


def _handler(server: ImageServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            server.requests.append((self.path, self.headers.get("Host", "")))
            if parts.path in server.files:
                body, media_type = server.files[parts.path]
                self.send_response(200)
                self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif parts.path == "/redirect":
                self.send_response(int(query.get("status", "302")))
                self.send_header("Location", query["to"])
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif parts.path == "/slow":
                time.sleep(float(query.get("seconds", "3")))
                self.send_response(200)
                self.send_header("Content-Length", "1")
                self.end_headers()
                self.wfile.write(b"x")
            elif parts.path == "/stall":
                # Headers at once, then the body trickles: one byte, then a long pause.
                self.send_response(200)
                self.send_header("Content-Length", "100")
                self.end_headers()
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(float(query.get("seconds", "3")))
            elif parts.path == "/drip-headers":
                # A slow-loris server: the status line, then one header byte every
                # ``interval`` seconds for ``seconds`` seconds, then an image.
                interval = float(query.get("interval", "0.2"))
                until = time.monotonic() + float(query.get("seconds", "5"))
                try:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
                    self.wfile.flush()
                    while time.monotonic() < until:
                        time.sleep(interval)
                        self.wfile.write(b"a")
                        self.wfile.flush()
                    self.wfile.write(b"\r\nContent-Length: 1\r\n\r\nx")
                    self.wfile.flush()
                except OSError:
                    pass
                self.close_connection = True
            elif parts.path == "/endless":
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Connection", "close")
                self.end_headers()
                chunk = b"\0" * 65536
                try:
                    for _ in range(10_000):
                        self.wfile.write(chunk)
                except OSError:
                    pass
            elif parts.path == "/huge":
                self.send_response(200)
                self.send_header("Content-Length", str(10**12))
                self.end_headers()
            elif parts.path.startswith("/status/"):
                self.send_response(int(parts.path.rsplit("/", 1)[1]))
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class _Server6(_Server):
    import socket as _socket

    address_family = _socket.AF_INET6


@contextmanager
def serving(host: str = "127.0.0.1") -> Iterator[ImageServer]:
    """Start an :class:`ImageServer` on a free port of ``host`` (``::1`` for IPv6)."""
    server = ImageServer(host=host)
    cls = _Server6 if ":" in host else _Server
    httpd = cls((host, 0), _handler(server))
    server.port = httpd.server_address[1]
    # A short poll: shutdown() waits for the loop to look (0.5 s by default, per test).
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
