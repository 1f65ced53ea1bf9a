"""Fetching images from caller-given URLs (``image_url``, ``bg_image_url``) safely.

A URL from a caller must not become a way into our network (server-side request
forgery, OWASP SSRF prevention cheat sheet). So:

- only ``http`` and ``https``, no credentials in the URL;
- the host name is resolved here, once per hop, and every address it resolves to must be
  public: private, loopback, link-local (cloud metadata at 169.254.169.254), multicast,
  reserved, unspecified, carrier-grade NAT (100.64.0.0/10) and unique-local IPv6 are
  refused, as are IPv6 forms that embed such an IPv4 address (IPv4-mapped, NAT64, 6to4,
  Teredo);
- the connection goes to the vetted address itself, with the original host name only in
  the ``Host`` header and in TLS (SNI and certificate check), so a second DNS answer
  cannot swap in another address (DNS rebinding);
- an operator allow-list (``url_fetch.allowed_hosts``: host names, ``*.`` suffixes, IP
  addresses and CIDR networks) opens named internal hosts; an address is then allowed
  when the URL's host name is listed or the address lies in a listed network, and every
  other internal address stays refused;
- redirects are followed by hand, at most ``max_redirects``, each target vetted again;
- the body is streamed and abandoned past the size limit; connecting and each read have
  their own time limits, and one deadline covers the whole download — DNS, connect, TLS,
  response headers and body of every hop. Socket timeouts alone cannot give that (a
  server dripping one header byte per second never trips a read timeout), so a watchdog
  shuts the socket down when the deadline passes, whatever the fetch is waiting for;
- at most ``max_concurrent`` downloads run at once in a process; further ones are refused
  at once (``UrlFetchBusyError``, 429 with ``Retry-After``) instead of queueing, so slow
  servers cannot take every worker thread of the web app.

What the bytes are is left to the decoder. Errors carry remove.bg's codes:
``invalid_image_url`` / ``invalid_bg_image_url`` for a URL we will not fetch,
``failed_image_download`` / ``failed_bg_download`` when fetching fails, and
``file_too_large`` past the size limit. Logs never contain the URL or its host.

The limits and the address rule live in ``service.infra.fetch_rules``; this module does
the download.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import SplitResult, urljoin, urlsplit

from clearcutout.errors import FileTooLargeError, UrlFetchBusyError, UrlFetchError
from clearcutout.service.infra.fetch_rules import FetchLimits, IPAddress, address_is_public

__all__ = ["Purpose", "Resolver", "fetch_url"]

log = logging.getLogger(__name__)

Purpose = Literal["image", "background"]
#: Resolves a host name to its addresses (``socket.getaddrinfo`` by default).
Resolver = Callable[[str, int], Sequence[str]]

_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_CHUNK: Final = 64 * 1024
_CODES: Final[dict[Purpose, tuple[str, str]]] = {
    "image": ("invalid_image_url", "failed_image_download"),
    "background": ("invalid_bg_image_url", "failed_bg_download"),
}
_PARAMETER: Final[dict[Purpose, str]] = {"image": "image_url", "background": "bg_image_url"}
# DNS lookups run here so that they, too, obey the time limit (getaddrinfo has none).
_resolver_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="url-fetch-dns")


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class _Target:
    """One vetted hop: where to connect and what to say."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


class _Fetch:
    """One download, hop by hop, inside one overall deadline."""

    def __init__(self, purpose: Purpose, limits: FetchLimits, resolver: Resolver) -> None:
        self.purpose = purpose
        self.limits = limits
        self.resolver = resolver
        self.deadline = time.monotonic() + limits.total_timeout_s
        self.invalid_code, self.failed_code = _CODES[purpose]
        self.parameter = _PARAMETER[purpose]
        # The socket in use, for the watchdog; ``expired`` once the deadline has passed.
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.expired = False

    # -- the deadline ------------------------------------------------------------------

    def watch(self, sock: socket.socket | None) -> None:
        """Make ``sock`` the one the watchdog shuts down (``None`` when it is closed)."""
        with self._lock:
            self._sock = sock
            expired = self.expired
        if expired and sock is not None:
            _shut(sock)

    def expire(self) -> None:
        """The watchdog: past the deadline, end whatever the current socket waits for."""
        with self._lock:
            self.expired = True
            sock = self._sock
        if sock is not None:
            _shut(sock)

    # -- errors ------------------------------------------------------------------------

    def invalid(self, reason: str, detail: str) -> UrlFetchError:
        log.info("fetch.refused purpose=%s reason=%s", self.purpose, reason)
        return UrlFetchError(f"{self.parameter}: {detail}", code=self.invalid_code)

    def failed(self, reason: str, detail: str) -> UrlFetchError:
        log.info("fetch.failed purpose=%s reason=%s", self.purpose, reason)
        return UrlFetchError(
            f"{self.parameter}: the image could not be downloaded ({detail}).",
            code=self.failed_code,
        )

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0 or self.expired:
            raise self.failed("timeout", "took too long")
        return left

    # -- vetting -----------------------------------------------------------------------

    def parse(self, url: str) -> SplitResult:
        if not isinstance(url, str) or not url.strip():
            raise self.invalid("empty", "give an http or https URL.")
        try:
            parts = urlsplit(url.strip())
            _ = parts.port  # raises ValueError for a malformed port
        except ValueError as exc:
            raise self.invalid("malformed", "this is not a valid URL.") from exc
        if parts.scheme.lower() not in ("http", "https"):
            raise self.invalid("scheme", "only http and https URLs can be fetched.")
        if not parts.hostname:
            raise self.invalid("no_host", "the URL has no host.")
        if parts.username is not None or parts.password is not None:
            raise self.invalid("credentials", "URLs with a user name or password are refused.")
        return parts

    def resolve(self, host: str, port: int) -> tuple[str, ...]:
        literal = _ip_literal(host)
        if literal is not None:
            candidates: Sequence[str] = [str(literal)]
        else:
            try:
                ascii_host = host.encode("idna").decode("ascii")
            except UnicodeError as exc:
                raise self.invalid("bad_host", "the host name is not valid.") from exc
            future = _resolver_pool.submit(self.resolver, ascii_host, port)
            try:
                candidates = future.result(timeout=min(self.remaining(), 10.0))
            except FutureTimeoutError as exc:
                raise self.failed("dns_timeout", "the host name did not resolve in time") from exc
            except (OSError, UnicodeError) as exc:
                raise self.failed("dns", "the host name does not resolve") from exc
        name_allowed = literal is None and self.limits.host_is_allowed(host)
        addresses: list[str] = []
        for candidate in candidates:
            try:
                address = ipaddress.ip_address(candidate.split("%", 1)[0])
            except ValueError as exc:
                raise self.failed("dns", "the host name does not resolve") from exc
            # Every address must be public (an attacker's DNS may mix in a private one),
            # unless the operator listed the host name or the address's network.
            if not (
                address_is_public(address, allow_loopback=self.limits.allow_loopback)
                or name_allowed
                or self.limits.address_is_allowed(address)
            ):
                raise self.invalid(
                    "private_address",
                    "the host is a private, loopback, link-local or otherwise internal "
                    "address; only public addresses can be fetched.",
                )
            addresses.append(str(address))
        if not addresses:
            raise self.failed("dns", "the host name does not resolve")
        return tuple(dict.fromkeys(addresses))

    def vet(self, url: str) -> _Target:
        parts = self.parse(url)
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return _Target(scheme, host, port, path, self.resolve(host, port))

    # -- transfer ----------------------------------------------------------------------

    def connect(self, target: _Target) -> http.client.HTTPConnection:
        errors: list[str] = []
        for address in target.addresses:
            left = self.remaining()
            timeout = min(self.limits.connect_timeout_s, left)
            try:
                sock = socket.create_connection((address, target.port), timeout=timeout)
            except OSError as exc:
                errors.append(type(exc).__name__)
                continue
            self.watch(sock)
            try:
                read_timeout = min(self.limits.read_timeout_s, self.remaining())
                connection = _pinned_connection(target, sock, read_timeout)
            except ssl.SSLError as exc:
                self.watch(None)
                sock.close()
                self.remaining()  # a handshake cut short by the deadline is a timeout
                raise self.failed("tls", "the TLS handshake failed") from exc
            except OSError as exc:
                self.watch(None)
                sock.close()
                self.remaining()
                errors.append(type(exc).__name__)
                continue
            # The TLS socket replaces the plain one (which it detached).
            self.watch(connection.sock)
            return connection
        log.info("fetch.connect_failed purpose=%s errors=%s", self.purpose, ",".join(errors))
        raise self.failed("connect", "could not connect to the host")

    def get(self, target: _Target) -> tuple[int, str | None, bytes]:
        """One request: status, ``Location`` and (for a 2xx) the body within the limits."""
        connection = self.connect(target)
        response: http.client.HTTPResponse | None = None
        try:
            connection.putrequest("GET", target.path, skip_accept_encoding=True)
            connection.putheader("Accept", "image/*, */*;q=0.5")
            connection.putheader("Accept-Encoding", "identity")
            connection.putheader("User-Agent", "ClearCutout-URL-Fetch/1")
            connection.endheaders()
            response = connection.getresponse()
            if response.status in _REDIRECTS:
                return response.status, response.getheader("Location"), b""
            if not 200 <= response.status < 300:
                raise self.failed("status", f"the server answered HTTP {response.status}")
            declared = (response.getheader("Content-Length") or "").strip()
            if declared.isdigit() and int(declared) > self.limits.max_bytes:
                raise self.too_large()
            return response.status, None, self.read_body(response, connection)
        except TimeoutError as exc:
            raise self.failed("timeout", "took too long") from exc
        except (OSError, http.client.HTTPException) as exc:
            self.remaining()  # a socket the watchdog shut down: report the timeout
            raise self.failed("transfer", "the connection failed") from exc
        finally:
            # A response read until the server closes owns the socket: close both.
            self.watch(None)
            if response is not None:
                response.close()
            connection.close()

    def read_body(
        self, response: http.client.HTTPResponse, connection: http.client.HTTPConnection
    ) -> bytes:
        chunks: list[bytes] = []
        received = 0
        while True:
            if connection.sock is not None:
                connection.sock.settimeout(min(self.limits.read_timeout_s, self.remaining()))
            chunk = response.read1(_CHUNK)
            if not chunk:
                self.remaining()  # an end forced by the watchdog is not the real end
                break
            received += len(chunk)
            if received > self.limits.max_bytes:
                raise self.too_large()
            chunks.append(chunk)
        return b"".join(chunks)

    def too_large(self) -> FileTooLargeError:
        log.info("fetch.failed purpose=%s reason=too_large", self.purpose)
        limit_mb = self.limits.max_bytes / (1024 * 1024)
        error = FileTooLargeError(
            f"{self.parameter}: the file is larger than the limit of {limit_mb:g} MB."
        )
        # remove.bg answers every input problem with 400.
        error.http_status = 400
        return error

    def run(self, url: str) -> bytes:
        watchdog = threading.Timer(max(0.0, self.deadline - time.monotonic()), self.expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            return self.hops(url)
        finally:
            watchdog.cancel()

    def hops(self, url: str) -> bytes:
        for _hop in range(self.limits.max_redirects + 1):
            target = self.vet(url)
            status, location, body = self.get(target)
            if status not in _REDIRECTS:
                return body
            if not location:
                raise self.failed("redirect", f"HTTP {status} without a Location")
            url = urljoin(_url_of(target), location.strip())
        raise self.failed("redirects", "too many redirects")


def _shut(sock: socket.socket) -> None:
    """Shut ``sock`` down under any thread blocked on it (TLS included: the plain socket
    call, not ``SSLSocket``'s, which would drop its state under the reader's feet)."""
    with contextlib.suppress(OSError):  # closed already or never connected
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _url_of(target: _Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"{target.scheme}://{host}:{target.port}{target.path}"


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection over a socket that is already connected to the vetted address."""

    def __init__(self, host: str, port: int, sock: socket.socket) -> None:
        super().__init__(host, port)
        self.sock = sock

    def connect(self) -> None:  # the socket is connected already; never connect again
        if self.sock is None:
            raise http.client.NotConnected("pinned connection was closed")


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the vetted address, with SNI and certificate check for the host name."""

    def __init__(self, host: str, port: int, sock: ssl.SSLSocket) -> None:
        super().__init__(host, port)
        self.sock = sock

    def connect(self) -> None:
        if self.sock is None:
            raise http.client.NotConnected("pinned connection was closed")


_gates: dict[int, threading.BoundedSemaphore] = {}
_gates_lock = threading.Lock()


def _gate(limit: int) -> threading.BoundedSemaphore:
    """The process-wide cap on downloads at once (one per configured limit)."""
    with _gates_lock:
        gate = _gates.get(limit)
        if gate is None:
            gate = _gates[limit] = threading.BoundedSemaphore(max(1, limit))
        return gate


_TLS_CONTEXT: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    global _TLS_CONTEXT  # built once: loading the CA bundle is not free
    if _TLS_CONTEXT is None:
        _TLS_CONTEXT = ssl.create_default_context()
        _TLS_CONTEXT.minimum_version = ssl.TLSVersion.TLSv1_2
    return _TLS_CONTEXT


def _pinned_connection(
    target: _Target, sock: socket.socket, read_timeout_s: float
) -> http.client.HTTPConnection:
    sock.settimeout(read_timeout_s)
    if target.scheme == "https":
        wrapped = _tls_context().wrap_socket(sock, server_hostname=target.host)
        return _PinnedHTTPSConnection(target.host, target.port, wrapped)
    return _PinnedHTTPConnection(target.host, target.port, sock)


def fetch_url(
    url: str,
    *,
    purpose: Purpose,
    limits: FetchLimits,
    resolver: Resolver | None = None,
) -> bytes:
    """Download ``url`` within ``limits``; ``purpose`` picks the error codes.

    ``resolver`` replaces the system's DNS lookup (tests use it to map names).
    """
    started = time.monotonic()
    gate = _gate(limits.max_concurrent)
    if not gate.acquire(blocking=False):
        log.info("fetch.busy purpose=%s", purpose)
        raise UrlFetchBusyError()
    try:
        body = _Fetch(purpose, limits, resolver or _system_resolver).run(url)
    finally:
        gate.release()
    log.info(
        "fetch.done purpose=%s bytes=%d seconds=%.3f",
        purpose,
        len(body),
        time.monotonic() - started,
    )
    return body
