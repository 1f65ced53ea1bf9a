"""CORS: none by default; the operator's origins may call the JSON APIs from a browser
(preflight answered), without cookies, and never the pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from clearcutout.config import Settings
from clearcutout.web import create_app
from tests.support.removebg import create_key, removebg_settings

SHOP = "https://shop.example"
PREFLIGHT = {
    "Origin": SHOP,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "x-api-key, content-type",
}


def client_for(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def open_to_shop(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    settings = removebg_settings(tmp_path / "data", cors_origins=[SHOP])
    key = create_key(settings, "shop@example.org")
    for client in client_for(settings):
        yield client, key


def test_no_origin_is_allowed_by_default(tmp_path: Path) -> None:
    settings = removebg_settings(tmp_path / "data")
    assert settings.cors_origins == []
    for client in client_for(settings):
        preflight = client.options("/v1.0/removebg", headers=PREFLIGHT)
        assert "access-control-allow-origin" not in preflight.headers
        answer = client.get("/v1.0/account", headers={"Origin": SHOP})
        assert "access-control-allow-origin" not in answer.headers


def test_preflight_from_an_allowed_origin_is_answered(open_to_shop: tuple[TestClient, str]) -> None:
    client, _key = open_to_shop
    for path in ("/v1.0/removebg", "/api/v1/jobs"):
        response = client.options(path, headers=PREFLIGHT)
        assert response.status_code == 200, path
        assert response.headers["access-control-allow-origin"] == SHOP
        assert "POST" in response.headers["access-control-allow-methods"]
        allowed = response.headers["access-control-allow-headers"].lower()
        assert "x-api-key" in allowed and "content-type" in allowed
        assert "access-control-allow-credentials" not in response.headers
        assert int(response.headers["access-control-max-age"]) > 0


def test_preflight_from_another_origin_is_refused(open_to_shop: tuple[TestClient, str]) -> None:
    client, _key = open_to_shop
    response = client.options(
        "/v1.0/removebg", headers={**PREFLIGHT, "Origin": "https://evil.example"}
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


def test_an_allowed_origin_reads_the_answer_and_its_headers(
    open_to_shop: tuple[TestClient, str],
) -> None:
    client, key = open_to_shop
    response = client.get("/v1.0/account", headers={"Origin": SHOP, "X-Api-Key": key})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SHOP
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "x-ratelimit-remaining" in exposed and "x-credits-charged" in exposed
    # An error answer is readable too, or a front end could not show it.
    refused = client.get("/v1.0/account", headers={"Origin": SHOP})
    assert refused.status_code == 403
    assert refused.headers["access-control-allow-origin"] == SHOP


def test_pages_never_answer_another_origin(open_to_shop: tuple[TestClient, str]) -> None:
    client, _key = open_to_shop
    page = client.get("/login", headers={"Origin": SHOP})
    assert "access-control-allow-origin" not in page.headers
    preflight = client.options("/login", headers=PREFLIGHT)
    assert "access-control-allow-origin" not in preflight.headers


def test_origins_come_comma_separated_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLEARCUTOUT_CORS_ORIGINS", "https://a.example, https://b.example/")
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]
