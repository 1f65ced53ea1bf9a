"""CSRF: what may skip the check (a valid API key on the JSON API, nothing else), the
token's binding to the session, and the Origin check."""

from __future__ import annotations

import io
import re

import pytest
from fastapi.testclient import TestClient

from clearcutout.config import Settings
from clearcutout.web import create_app
from tests.web.conftest import csrf_from
from tests.web.test_web import PASSWORD, signed_in


def _api_key(client: TestClient) -> str:
    page = client.get("/account")
    response = client.post(
        "/account/api-keys",
        data={"csrf_token": csrf_from(page.text), "label": "k", "scopes": ["images", "account"]},
    )
    assert response.status_code == 200, response.text
    match = re.search(r"(cck_[0-9a-f]{8}_[\w-]+)", response.text)
    assert match, "the new key is shown once"
    return match.group(1)


def _name_on_account_page(client: TestClient) -> str:
    return client.get("/account").text


@pytest.mark.parametrize("key", ["anything", "cck_00000000_not-a-key", ""])
def test_a_bogus_api_key_header_does_not_skip_csrf_on_cookie_routes(
    client: TestClient, web_settings: Settings, key: str
) -> None:
    signed_in(client, web_settings)
    forged = client.post("/account/name", data={"name": "Mallory"}, headers={"X-Api-Key": key})
    assert forged.status_code == 403
    assert "Mallory" not in _name_on_account_page(client)


def test_a_valid_api_key_does_not_skip_csrf_on_cookie_routes(
    client: TestClient, web_settings: Settings
) -> None:
    """A key authenticates the JSON API only; the account pages use the cookie."""
    signed_in(client, web_settings)
    key = _api_key(client)
    forged = client.post("/account/name", data={"name": "Mallory"}, headers={"X-Api-Key": key})
    assert forged.status_code == 403
    assert "Mallory" not in _name_on_account_page(client)


def test_on_the_json_api_a_wrong_key_is_refused_and_never_falls_back_to_the_cookie(
    client: TestClient, web_settings: Settings
) -> None:
    signed_in(client, web_settings)
    response = client.post(
        "/api/v1/jobs",
        headers={"X-Api-Key": "cck_00000000_forged"},
        files={"image_file": ("a.png", io.BytesIO(b"x"), "image/png")},
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "invalid_api_key"


def test_on_the_json_api_a_valid_key_needs_no_csrf_token(
    client: TestClient, web_settings: Settings
) -> None:
    signed_in(client, web_settings)
    key = _api_key(client)
    client.cookies.clear()
    response = client.delete("/api/v1/jobs/no-such-job", headers={"X-Api-Key": key})
    assert response.status_code == 404  # past CSRF and authentication: the job is unknown


def test_the_token_is_bound_to_the_session(client: TestClient, web_settings: Settings) -> None:
    """A token signed by us for another session (or for none), planted together with
    its cookie, does not pass for the victim's session."""
    signed_in(client, web_settings)
    with TestClient(create_app(web_settings)) as attacker:
        attacker_token = csrf_from(attacker.get("/login").text)  # valid, but signed-out
    # Planted over the victim's own cookie (same name, domain and path).
    [own] = [cookie for cookie in client.cookies.jar if cookie.name == "csrf-token"]
    client.cookies.set("csrf-token", attacker_token, domain=own.domain, path=own.path)
    forged = client.post("/account/name", data={"name": "Mallory", "csrf_token": attacker_token})
    assert forged.status_code == 403
    # The page re-issues a token for this session, and that one works.
    page = client.get("/account")
    token = csrf_from(page.text)
    assert token != attacker_token
    ok = client.post("/account/name", data={"name": "Ada King", "csrf_token": token})
    assert ok.status_code == 200 and "Ada King" in ok.text


def test_signing_out_and_in_again_replaces_the_token(
    client: TestClient, web_settings: Settings
) -> None:
    signed_in(client, web_settings)
    before = csrf_from(client.get("/account").text)
    client.post("/logout", data={"csrf_token": before})
    login_token = csrf_from(client.get("/login").text)
    assert login_token != before
    client.post(
        "/login",
        data={"csrf_token": login_token, "email": "ada@example.org", "password": PASSWORD},
        follow_redirects=False,
    )
    stale = client.post("/account/name", data={"name": "Old Token", "csrf_token": before})
    assert stale.status_code == 403
    fresh = csrf_from(client.get("/account").text)
    renamed = client.post("/account/name", data={"name": "New", "csrf_token": fresh})
    assert renamed.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://testserver", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://testserver.evil.example"},
        {"Referer": "https://evil.example/page"},
        {"Origin": "http://testserver:8443"},
    ],
)
def test_cross_origin_unsafe_requests_are_refused_even_with_the_token(
    client: TestClient, web_settings: Settings, headers: dict[str, str]
) -> None:
    signed_in(client, web_settings)
    token = csrf_from(client.get("/account").text)
    forged = client.post(
        "/account/name", data={"name": "Mallory", "csrf_token": token}, headers=headers
    )
    assert forged.status_code == 403
    assert "Mallory" not in _name_on_account_page(client)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "http://testserver"},
        {"Referer": "http://testserver/account"},
        {"Origin": "http://127.0.0.1:8000"},  # the configured public address
        # What Chromium sends for our own forms under Referrer-Policy: no-referrer.
        {"Origin": "null", "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
    ],
)
def test_same_origin_requests_pass(
    client: TestClient, web_settings: Settings, headers: dict[str, str]
) -> None:
    signed_in(client, web_settings)
    token = csrf_from(client.get("/account").text)
    ok = client.post(
        "/account/name", data={"name": "Ada King", "csrf_token": token}, headers=headers
    )
    assert ok.status_code == 200


def test_wrong_api_keys_on_the_json_api_are_throttled_per_address(web_settings: Settings) -> None:
    limits = web_settings.throttle.model_copy(update={"api_key_failures_per_ip": 3})
    settings = web_settings.model_copy(update={"throttle": limits})
    with TestClient(create_app(settings)) as client:
        signed_in(client, settings)
        key = _api_key(client)
        client.cookies.clear()
        statuses = [
            client.get("/api/v1/jobs", headers={"X-Api-Key": f"cck_0000000{i}_guess"}).status_code
            for i in range(5)
        ]
        assert statuses == [401, 401, 401, 429, 429]
        refused = client.post("/api/v1/jobs", headers={"X-Api-Key": "cck_00000009_guess"})
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        # The owner of a valid key at the same address is not locked out.
        assert client.get("/api/v1/jobs", headers={"X-Api-Key": key}).status_code == 200
