"""Safe URL fetching against real loopback HTTP servers.

Loopback is refused by default; the downloads, redirects and limits are exercised with
the test hook ``allow_loopback`` on, and every refusal is checked with it off too.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pydantic
import pytest

from clearcutout.config import Settings, UrlFetchSettings
from clearcutout.errors import FileTooLargeError, UrlFetchBusyError
from clearcutout.service.infra.fetch import UrlFetchError, fetch_url
from clearcutout.service.infra.fetch_rules import FetchLimits, address_is_public, limits_from
from tests.conftest import fast_settings
from tests.support.image_server import ImageServer, serving

PNG = b"\x89PNG\r\n\x1a\n" + b"pixels" * 100
OPEN = FetchLimits(max_bytes=64 * 1024, allow_loopback=True, total_timeout_s=10)
CLOSED = FetchLimits(max_bytes=64 * 1024)


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with serving() as running:
        running.files["/photo.png"] = (PNG, "image/png")
        yield running


def _ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


# ------------------------------------------------------------------------ downloads


def test_an_image_is_downloaded_from_an_allowed_server(server: ImageServer) -> None:
    assert fetch_url(server.url("/photo.png"), purpose="image", limits=OPEN) == PNG


def test_redirects_are_followed_and_each_target_vetted(server: ImageServer) -> None:
    target = server.url("/photo.png")
    hop2 = server.redirect(target, status=301)
    hop1 = server.redirect(hop2, status=307)
    assert fetch_url(hop1, purpose="image", limits=OPEN) == PNG
    assert [path.split("?")[0] for path, _ in server.requests] == [
        "/redirect",
        "/redirect",
        "/photo.png",
    ]


def test_a_relative_redirect_resolves_against_the_current_url(server: ImageServer) -> None:
    assert fetch_url(server.redirect("/photo.png"), purpose="image", limits=OPEN) == PNG


def test_more_redirects_than_allowed_fail(server: ImageServer) -> None:
    url = server.url("/photo.png")
    for _ in range(3):
        url = server.redirect(url)
    limits = FetchLimits(max_bytes=1 << 20, allow_loopback=True, max_redirects=2)
    with pytest.raises(UrlFetchError) as caught:
        fetch_url(url, purpose="image", limits=limits)
    assert caught.value.code == "failed_image_download"
    assert fetch_url(url, purpose="image", limits=OPEN) == PNG  # 3 ≤ the default 5


def test_the_connection_goes_to_the_vetted_address_with_the_name_in_host(
    server: ImageServer,
) -> None:
    """One resolution per hop, then the connection uses that address: a second DNS answer
    (rebinding to an internal address) is never asked for."""
    answers = [["127.0.0.1"], ["10.0.0.1"]]
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[min(len(asked) - 1, 1)]

    url = f"http://images.example.test:{server.port}/photo.png"
    assert fetch_url(url, purpose="image", limits=OPEN, resolver=resolver) == PNG
    assert asked == ["images.example.test"]
    assert server.requests == [("/photo.png", f"images.example.test:{server.port}")]


def test_a_body_over_the_limit_is_abandoned(server: ImageServer) -> None:
    started = time.monotonic()
    with pytest.raises(FileTooLargeError) as caught:
        fetch_url(server.url("/endless"), purpose="image", limits=OPEN)
    assert caught.value.code == "file_too_large"
    assert caught.value.http_status == 400
    assert time.monotonic() - started < 5


def test_a_declared_length_over_the_limit_is_refused_before_reading(server: ImageServer) -> None:
    with pytest.raises(FileTooLargeError):
        fetch_url(server.url("/huge"), purpose="background", limits=OPEN)


def test_a_body_exactly_at_the_limit_is_accepted(server: ImageServer) -> None:
    server.files["/exact"] = (b"x" * OPEN.max_bytes, "image/png")
    assert len(fetch_url(server.url("/exact"), purpose="image", limits=OPEN)) == OPEN.max_bytes


@pytest.mark.parametrize(
    ("path", "limits"),
    [
        ("/slow?seconds=3", FetchLimits(max_bytes=1024, allow_loopback=True, read_timeout_s=0.5)),
        ("/stall?seconds=3", FetchLimits(max_bytes=1024, allow_loopback=True, read_timeout_s=0.5)),
        (
            "/slow?seconds=3",
            FetchLimits(
                max_bytes=1024, allow_loopback=True, read_timeout_s=10, total_timeout_s=0.5
            ),
        ),
    ],
    ids=["read-timeout", "stalled-body", "total-timeout"],
)
def test_slow_servers_time_out(server: ImageServer, path: str, limits: FetchLimits) -> None:
    started = time.monotonic()
    with pytest.raises(UrlFetchError) as caught:
        fetch_url(server.url(path), purpose="image", limits=limits)
    assert caught.value.code == "failed_image_download"
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("url_of", ["direct", "redirect"])
def test_headers_dripped_byte_by_byte_obey_the_total_deadline(
    server: ImageServer, url_of: str
) -> None:
    """A server that sends one header byte every 0.2 s never trips the 1 s read timeout;
    the overall deadline still ends the download (connect + headers + body)."""
    url = server.url("/drip-headers?seconds=8&interval=0.2")
    if url_of == "redirect":
        url = server.redirect(url)
    limits = FetchLimits(max_bytes=1024, allow_loopback=True, read_timeout_s=1, total_timeout_s=1)
    started = time.monotonic()
    with pytest.raises(UrlFetchError) as caught:
        fetch_url(url, purpose="image", limits=limits)
    assert caught.value.code == "failed_image_download"
    assert "took too long" in caught.value.message
    assert time.monotonic() - started < 2.5


def test_downloads_past_the_concurrency_cap_are_refused_at_once(server: ImageServer) -> None:
    """With every slot held by a slow server, the next download is refused (429) without
    waiting, and a slot frees as soon as its download ends."""
    limits = FetchLimits(max_bytes=1024, allow_loopback=True, total_timeout_s=1.5, max_concurrent=1)
    failures: list[Exception] = []

    def hold_the_slot() -> None:
        try:
            fetch_url(server.url("/slow?seconds=5"), purpose="image", limits=limits)
        except UrlFetchError as exc:
            failures.append(exc)

    slow = threading.Thread(target=hold_the_slot)
    slow.start()
    while not any(path.startswith("/slow") for path, _ in server.requests):
        time.sleep(0.01)
    started = time.monotonic()
    with pytest.raises(UrlFetchBusyError) as caught:
        fetch_url(server.url("/photo.png"), purpose="image", limits=limits)
    assert time.monotonic() - started < 0.5
    assert caught.value.http_status == 429
    assert caught.value.retry_after_s > 0
    slow.join(timeout=5)
    assert len(failures) == 1  # the slow one timed out
    assert fetch_url(server.url("/photo.png"), purpose="image", limits=limits) == PNG


@pytest.mark.parametrize("status", [404, 500, 204])
def test_an_error_status_is_a_failed_download(server: ImageServer, status: int) -> None:
    if status == 204:
        # 2xx with no body is a successful download of nothing; the decoder refuses it.
        assert fetch_url(server.url(f"/status/{status}"), purpose="image", limits=OPEN) == b""
        return
    with pytest.raises(UrlFetchError) as caught:
        fetch_url(server.url(f"/status/{status}"), purpose="background", limits=OPEN)
    assert caught.value.code == "failed_bg_download"


def test_a_closed_port_is_a_failed_download() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UrlFetchError) as caught:
        fetch_url(f"http://127.0.0.1:{port}/x.png", purpose="image", limits=OPEN)
    assert caught.value.code == "failed_image_download"


def test_an_unknown_host_is_a_failed_download() -> None:
    with pytest.raises(UrlFetchError) as caught:
        fetch_url("http://no-such-host.invalid/x.png", purpose="image", limits=OPEN)
    assert caught.value.code == "failed_image_download"


def test_https_checks_the_certificate_of_the_host_name(server: ImageServer) -> None:
    """TLS to a plain-HTTP port fails the handshake: a failed download, not a hang."""
    with pytest.raises(UrlFetchError) as caught:
        fetch_url(f"https://127.0.0.1:{server.port}/photo.png", purpose="image", limits=OPEN)
    assert caught.value.code == "failed_image_download"


# ------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "gopher://example.com/",
        "data:image/png;base64,AAAA",
        "http://",
        "not a url",
        "",
        "http://user:secret@example.com/a.png",
        "http://example.com:99999/a.png",
    ],
)
def test_malformed_or_non_http_urls_are_invalid(url: str) -> None:
    with pytest.raises(UrlFetchError) as caught:
        fetch_url(url, purpose="image", limits=OPEN)
    assert caught.value.code == "invalid_image_url"


INTERNAL_URLS = [
    "http://127.0.0.1/",
    "http://127.1.2.3:8080/",
    "http://localhost/",
    "http://[::1]/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://100.100.100.200/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fd00:ec2::254]/",
    "http://[fc00::1]/",
    "http://[ff02::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a00:1]/",
    "http://[2002:a00:1::]/",
    "http://2130706433/",  # 127.0.0.1 as one decimal number
    "http://0x7f.1/",
]


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_internal_addresses_are_refused_by_default(url: str) -> None:
    with pytest.raises(UrlFetchError) as caught:
        fetch_url(url, purpose="image", limits=CLOSED)
    assert caught.value.code == "invalid_image_url", caught.value.message


LOOPBACK_FORMS = {"http://localhost/", "http://2130706433/", "http://0x7f.1/"}


@pytest.mark.parametrize(
    "url",
    [u for u in INTERNAL_URLS if "127." not in u and "::1]" not in u and u not in LOOPBACK_FORMS],
)
def test_the_loopback_hook_opens_nothing_but_loopback(url: str) -> None:
    with pytest.raises(UrlFetchError) as caught:
        fetch_url(url, purpose="background", limits=OPEN)
    assert caught.value.code == "invalid_bg_image_url"


def test_a_real_loopback_server_is_refused_without_the_hook(server: ImageServer) -> None:
    for url in (server.url("/photo.png"), f"http://localhost:{server.port}/photo.png"):
        with pytest.raises(UrlFetchError) as caught:
            fetch_url(url, purpose="image", limits=CLOSED)
        assert caught.value.code == "invalid_image_url"
    assert server.requests == []  # never connected


@pytest.mark.skipif(not _ipv6_loopback_available(), reason="no IPv6 loopback here")
def test_an_ipv6_loopback_server_is_refused_without_the_hook() -> None:
    with serving("::1") as server6:
        server6.files["/photo.png"] = (PNG, "image/png")
        assert fetch_url(server6.url("/photo.png"), purpose="image", limits=OPEN) == PNG
        with pytest.raises(UrlFetchError):
            fetch_url(server6.url("/photo.png"), purpose="image", limits=CLOSED)


@pytest.mark.parametrize(
    "target",
    [
        "http://10.1.2.3/photo.png",
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://192.168.0.10:8080/",
        "http://[fd00::5]/",
        "http://[::ffff:10.0.0.1]/",
    ],
)
def test_a_redirect_to_an_internal_address_is_refused(server: ImageServer, target: str) -> None:
    """The first hop is allowed (the hook makes the loopback server reachable); the
    redirect's target is vetted again and refused without connecting."""
    with pytest.raises(UrlFetchError) as caught:
        fetch_url(server.redirect(target), purpose="image", limits=OPEN)
    assert caught.value.code == "invalid_image_url"


def test_a_redirect_to_a_name_resolving_internally_is_refused(server: ImageServer) -> None:
    def resolver(host: str, port: int) -> list[str]:
        return {"cdn.example.test": ["127.0.0.1"], "inside.example.test": ["10.9.8.7"]}[host]

    url = server.redirect("http://inside.example.test/x").replace("127.0.0.1", "cdn.example.test")
    with pytest.raises(UrlFetchError) as caught:
        fetch_url(url, purpose="image", limits=OPEN, resolver=resolver)
    assert caught.value.code == "invalid_image_url"


def test_a_name_with_one_internal_address_among_public_ones_is_refused() -> None:
    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.0.0.7"]

    with pytest.raises(UrlFetchError) as caught:
        fetch_url("http://mixed.example.test/", purpose="image", limits=CLOSED, resolver=resolver)
    assert caught.value.code == "invalid_image_url"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("127.0.0.1", False),
        ("100.64.12.1", False),
        ("198.18.0.1", False),
        ("192.0.2.1", False),
        ("fec0::1", False),
        ("2001:db8::1", False),
        ("::ffff:192.168.0.1", False),
    ],
)
def test_address_classification(address: str, public: bool) -> None:
    assert address_is_public(ipaddress.ip_address(address)) is public


def test_logs_never_contain_the_url_or_host(
    server: ImageServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="clearcutout")
    secret_path = "/photo.png?token=s3cr3t-signature"
    server.files["/photo.png"] = (PNG, "image/png")
    fetch_url(server.url(secret_path), purpose="image", limits=OPEN)
    with pytest.raises(UrlFetchError):
        fetch_url("http://secret-host.example.invalid/a", purpose="image", limits=OPEN)
    text = caplog.text
    assert "s3cr3t" not in text and "secret-host" not in text and "127.0.0.1" not in text
    assert "fetch.done" in text


def test_limits_come_from_the_settings(tmp_path: object) -> None:
    settings = fast_settings(tmp_path, max_upload_mb=2)  # type: ignore[arg-type]
    limits = limits_from(settings)
    assert limits.max_bytes == 2 * 1024 * 1024
    assert limits.allow_loopback is False
    assert limits.max_redirects == 5


# ------------------------------------------------------------ the operator's allow-list


def _to_loopback(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


def _listed(*entries: str) -> FetchLimits:
    settings = fast_settings(Path("/nonexistent"), url_fetch={"allowed_hosts": list(entries)})
    return dataclasses.replace(limits_from(settings), max_bytes=64 * 1024, total_timeout_s=10)


@pytest.mark.parametrize(
    ("entries", "host"),
    [
        (("127.0.0.0/8",), "127.0.0.1"),
        (("127.0.0.1",), "127.0.0.1"),
        (("images.internal",), "images.internal"),
        (("IMAGES.internal.",), "images.Internal"),
        (("*.corp.example",), "photos.eu.corp.example"),
        (("10.0.0.0/8", "127.0.0.0/30"), "127.0.0.1"),
    ],
)
def test_listed_internal_hosts_can_be_fetched(
    server: ImageServer, entries: tuple[str, ...], host: str
) -> None:
    url = f"http://{host}:{server.port}/photo.png"
    assert fetch_url(url, purpose="image", limits=_listed(*entries), resolver=_to_loopback) == PNG


@pytest.mark.parametrize(
    ("entries", "host"),
    [
        ((), "127.0.0.1"),
        (("10.0.0.0/8",), "127.0.0.1"),
        (("images.internal",), "other.internal"),
        (("images.internal",), "127.0.0.1"),  # the name is listed, not its address
        (("*.corp.example",), "corp.example.evil.test"),
        (("*.corp.example",), "evilcorp.example"),
        (("127.0.0.2",), "127.0.0.1"),
    ],
)
def test_every_unlisted_internal_host_stays_refused(
    server: ImageServer, entries: tuple[str, ...], host: str
) -> None:
    url = f"http://{host}:{server.port}/photo.png"
    with pytest.raises(UrlFetchError) as caught:
        fetch_url(url, purpose="image", limits=_listed(*entries), resolver=_to_loopback)
    assert caught.value.code == "invalid_image_url"
    assert server.requests == []


def test_a_listed_host_cannot_redirect_to_an_unlisted_internal_one(server: ImageServer) -> None:
    limits = _listed("images.internal")
    target = f"http://other.internal:{server.port}/photo.png"
    url = f"http://images.internal:{server.port}" + server.redirect(target)[len(server.base_url) :]
    with pytest.raises(UrlFetchError) as caught:
        fetch_url(url, purpose="image", limits=limits, resolver=_to_loopback)
    assert caught.value.code == "invalid_image_url"


def test_the_allow_list_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "CLEARCUTOUT_URL_FETCH__ALLOWED_HOSTS", "images.internal, 10.20.0.0/16 *.corp.example"
    )
    limits = limits_from(Settings())
    assert limits.allowed_names == ("images.internal", "*.corp.example")
    assert limits.allowed_networks == (ipaddress.ip_network("10.20.0.0/16"),)
    monkeypatch.setenv("CLEARCUTOUT_URL_FETCH__ALLOWED_HOSTS", "")
    assert limits_from(Settings()).allowed_networks == ()


@pytest.mark.parametrize("entry", ["not a host!", "10.0.0.0/33", "http://x/"])
def test_a_malformed_allow_list_entry_is_a_settings_error(entry: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        UrlFetchSettings(allowed_hosts=[entry])
