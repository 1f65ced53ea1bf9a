"""Hostile HTTP requests against a real Uvicorn server: bodies sent to the remove.bg API
without a valid key, deeply nested and huge JSON, absurd paging.

Raw sockets let a test send a request's head and only the start of a large body, then
see whether the server answers before waiting for the rest (it must: authentication and
counting come before the body is read).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from clearcutout.config import RemoveBgSettings, UrlFetchSettings
from tests.support.app_server import running_app
from tests.support.image_server import ImageServer
from tests.support.removebg import create_key, removebg_settings

URL = "/v1.0/removebg"


@dataclass
class Live:
    base_url: str
    key: str

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    settings = removebg_settings(
        tmp_path / "data", removebg=RemoveBgSettings(rate_limit_per_minute=3)
    )
    key = create_key(settings, "hostile@example.org")
    with running_app(settings) as base_url:
        yield Live(base_url, key)


def _head_then_part_of_body(
    live: Live, *, headers: dict[str, str], declared: int, sent: int
) -> tuple[int, dict[str, str], bytes, float]:
    """Send a POST that declares ``declared`` body bytes but sends only ``sent``; return
    the status, headers and body of the answer and the seconds it took (or fail after 5 s
    without an answer: the server is waiting for the body)."""
    head = [f"POST {URL} HTTP/1.1", f"Host: 127.0.0.1:{live.port}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head += [f"Content-Length: {declared}", "", ""]
    with socket.create_connection(("127.0.0.1", live.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall("\r\n".join(head).encode() + b"\0" * sent)
        received = b""
        try:
            while b"\r\n\r\n" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pytest.fail("no answer within 5 s: the server waits for the whole body")
        elapsed = time.monotonic() - started
        head_bytes, _, rest = received.partition(b"\r\n\r\n")
        lines = head_bytes.decode("latin-1").split("\r\n")
        answer_headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            answer_headers[name.strip().lower()] = value.strip()
        length = int(answer_headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return int(lines[0].split()[1]), answer_headers, rest, elapsed


@pytest.mark.parametrize("key", [None, "cck_not_a_real_key"], ids=["no-key", "wrong-key"])
def test_removebg_refuses_a_bad_key_before_reading_the_body(live: Live, key: str | None) -> None:
    headers = {"Content-Type": "multipart/form-data; boundary=x"}
    if key is not None:
        headers["X-Api-Key"] = key
    status, answer, body, elapsed = _head_then_part_of_body(
        live, headers=headers, declared=20 * 1024 * 1024, sent=64 * 1024
    )
    assert status == 403
    assert json.loads(body)["errors"][0]["code"] in {"missing_api_key", "invalid_api_key"}
    assert elapsed < 2
    assert answer["x-ratelimit-remaining"] == "2"  # counted, before any body byte was read


def test_removebg_counts_unauthenticated_requests_before_their_bodies(live: Live) -> None:
    """Each body-less attempt takes a slot of the address's window: the fourth is 429."""
    headers = {"Content-Type": "application/json"}
    statuses = [
        _head_then_part_of_body(live, headers=headers, declared=10_000_000, sent=10)[0]
        for _ in range(4)
    ]
    assert statuses == [403, 403, 403, 429]


def test_removebg_with_a_valid_key_still_reads_the_body(live: Live) -> None:
    response = requests.post(
        live.base_url + URL,
        data=b"{not json",
        headers={"X-Api-Key": live.key, "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "invalid_input"
    assert response.headers["X-RateLimit-Remaining"] == "2"


# --------------------------------------------------------------------- deep and huge JSON


def _deep(depth: int) -> bytes:
    return b'{"size": "auto", "x": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    "body",
    [
        _deep(100_000),
        b"[" * 500_000,
        b'{"x": [' + b"[]," * 2_000_000 + b"[]]}",
        b'{"x": [' + b"0," * 2_000_000 + b"0]}",
    ],
    ids=["deep-100k", "unclosed-500k", "2M-lists", "2M-numbers"],
)
@pytest.mark.parametrize("path", [URL, "/api/v1/jobs"])
@pytest.mark.parametrize("authenticated", [True, False])
def test_deep_or_huge_json_is_a_4xx_json_error(
    live: Live, body: bytes, path: str, authenticated: bool
) -> None:
    headers = {"Content-Type": "application/json"}
    if authenticated:
        headers["X-Api-Key"] = live.key
    response = requests.post(live.base_url + path, data=body, headers=headers, timeout=20)
    assert 400 <= response.status_code < 500, response.text[:200]
    assert response.headers["content-type"].startswith("application/json")
    [error] = response.json()["errors"]
    assert error["code"]
    if authenticated and response.status_code == 400:
        assert error["code"] == "invalid_input"


# ------------------------------------------------------------ availability under abuse


def test_slow_url_servers_do_not_take_the_app_down(
    tmp_path: Path, image_server: ImageServer, small_photo: bytes
) -> None:
    """40 remove.bg requests whose image_url drips its headers a byte at a time are in
    flight; /healthz, the login page and an authenticated API call still answer within
    2 s, a small image is still cut out, and every slow request ends by the fetch deadline
    (or is refused at once when every download slot is held)."""
    settings = removebg_settings(
        tmp_path / "data",
        url_fetch=UrlFetchSettings(allow_loopback=True, total_timeout_s=8, read_timeout_s=5),
    )
    key = create_key(settings, "busy@example.org")
    slow_url = image_server.url("/drip-headers?seconds=60&interval=0.5")
    with running_app(settings) as base_url:

        def small_upload() -> requests.Response:
            return requests.post(
                base_url + URL,
                files={"image_file": ("small.jpg", small_photo, "image/jpeg")},
                headers={"X-Api-Key": key},
                timeout=30,
            )

        assert small_upload().status_code == 200  # the model is loaded before the attack
        results: list[int] = []

        def slow() -> None:
            response = requests.post(
                base_url + URL,
                data={"image_url": slow_url},
                headers={"X-Api-Key": key},
                timeout=60,
            )
            results.append(response.status_code)

        threads = [threading.Thread(target=slow) for _ in range(40)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        while sum(path.startswith("/drip") for path, _ in image_server.requests) < 8:
            assert time.monotonic() - started < 10, "the slow downloads did not start"
            time.sleep(0.05)
        # The rest are refused at once (every download slot is held); wait for them to
        # settle (or 5 s), so what follows measures the steady state of the attack.
        while len(results) < 40 - UrlFetchSettings().max_concurrent:
            if time.monotonic() - started > 5:
                break
            time.sleep(0.05)

        answers: dict[str, tuple[int, float]] = {}
        for name, path in (
            ("healthz", "/healthz"),
            ("login page", "/login"),
            ("remove.bg account", "/v1.0/account"),
        ):
            began = time.monotonic()
            response = requests.get(base_url + path, headers={"X-Api-Key": key}, timeout=10)
            answers[name] = (response.status_code, time.monotonic() - began)
        # An image is CPU work (seconds on a busy machine); it must get through, not wait
        # for the slow downloads.
        small = small_upload()
        for thread in threads:
            thread.join(timeout=30)
        total_s = time.monotonic() - started
    assert all(status == 200 and seconds < 2 for status, seconds in answers.values()), answers
    assert small.status_code == 200
    # Every slow request ended: a 400 at the deadline, or a 429 when the slots were full.
    assert sorted(set(results)) == [400, 429] and len(results) == 40
    assert results.count(400) == UrlFetchSettings().max_concurrent
    assert total_s < 20
