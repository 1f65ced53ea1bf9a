"""Hostile HTTP requests against a real Uvicorn server: bodies sent to the remove.bg API
without a valid key, deeply nested and huge JSON, absurd paging.

Raw sockets let a test send a request's head and only the start of a large body, then
see whether the server answers before waiting for the rest (it must: authentication and
counting come before the body is read).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from clearcutout.config import RemoveBgSettings
from tests.support.app_server import running_app
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
