"""The web app through HTTP: CSRF, headers, cookies, errors, pages, API keys."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from clearcutout.config import Settings
from clearcutout.db import DatabaseNotMigratedError
from clearcutout.service.infra.mail import outbox_dir
from clearcutout.service.privacy.policy import current_policy
from clearcutout.web import create_app
from tests.conftest import fast_settings
from tests.web.conftest import csrf_from

PASSWORD = "analytical engine 1843"


def sign_up(client: TestClient, **overrides: str) -> TestClient:
    token = csrf_from(client.get("/signup").text)
    form = {
        "csrf_token": token,
        "email": "ada@example.org",
        "name": "Ada Lovelace",
        "password": PASSWORD,
        "region": "eu",
        "accept_policy": current_policy().version,
        "age": "adult",
    }
    form.update(overrides)
    return client.post("/signup", data=form)  # type: ignore[return-value]


def outbox_links(settings: Settings, path: str) -> list[str]:
    links = []
    for file in sorted(outbox_dir(settings).glob("*.eml")):
        message = email.message_from_bytes(file.read_bytes(), policy=policy.default)
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        links += re.findall(rf"http://127\.0\.0\.1:8000({re.escape(path)}\?token=[\w-]+)", text)
    return links


def signed_in(client: TestClient, settings: Settings) -> TestClient:
    assert sign_up(client).status_code == 200
    [link] = outbox_links(settings, "/verify-email")
    assert client.get(link).status_code == 200
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": "ada@example.org", "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 303
    return client


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/", "/signup", "/privacy", "/static/style.css", "/nope", "/api/v1/account"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "default-src 'self'" in csp
        assert "http" not in csp  # no third-party origin
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert "camera=()" in headers["permissions-policy"]
        assert "strict-transport-security" not in headers  # plain HTTP: no HSTS


def test_a_forged_post_without_the_csrf_token_is_refused(
    client: TestClient, web_settings: Settings
) -> None:
    signed_in(client, web_settings)
    forged = client.post("/account/name", data={"name": "Mallory"})
    assert forged.status_code == 403
    wrong = client.post("/account/name", data={"name": "Mallory", "csrf_token": "x.y"})
    assert wrong.status_code == 403
    page = client.get("/account")
    assert "Mallory" not in page.text
    ok = client.post("/account/name", data={"name": "Ada King", "csrf_token": csrf_from(page.text)})
    assert ok.status_code == 200 and "Ada King" in ok.text


def test_csrf_is_checked_before_login_too(client: TestClient) -> None:
    client.get("/login")
    response = client.post("/login", data={"email": "a@example.org", "password": "x"})
    assert response.status_code == 403


def test_login_sets_an_httponly_lax_session_cookie_and_rotates_it(
    client: TestClient, web_settings: Settings
) -> None:
    signed_in(client, web_settings)
    first = client.cookies["session-token"]
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": "ada@example.org", "password": PASSWORD},
        follow_redirects=False,
    )
    cookie = next(c for c in response.headers.get_list("set-cookie") if "session-token" in c)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.cookies["session-token"] != first
    client.cookies.set("session-token", first)
    assert client.get("/account", follow_redirects=False).status_code == 303  # old one ended


def test_sign_up_under_thirteen_shows_a_message_and_stores_nothing(
    client: TestClient, web_settings: Settings
) -> None:
    response = sign_up(client, age="child")
    assert response.status_code == 400
    assert "not available to children under 13" in response.text
    assert "ada@example.org" not in response.text  # nothing kept, not even in the form
    assert not outbox_dir(web_settings).exists()


def test_personal_data_and_passwords_are_not_readable_in_the_database_file(
    client: TestClient, web_settings: Settings
) -> None:
    signed_in(client, web_settings)
    client.get("/account")
    raw = b"".join(path.read_bytes() for path in web_settings.data_dir.glob("clearcutout.sqlite3*"))
    assert len(raw) > 10_000
    for needle in ("ada@example.org", "Ada Lovelace", "Lovelace", PASSWORD):
        assert needle.encode() not in raw
        assert needle.encode("utf-16-le") not in raw


def test_api_errors_are_json_in_one_shape(client: TestClient) -> None:
    response = client.get("/api/v1/account")
    assert response.status_code == 401
    assert response.json() == {
        "errors": [
            {
                "code": "unauthenticated",
                "title": "Not authenticated",
                "detail": "Sign in or send an API key in the X-Api-Key header.",
            }
        ]
    }
    bad_key = client.get("/api/v1/account", headers={"X-Api-Key": "cck_nope_nope"})
    assert bad_key.status_code == 401
    assert bad_key.json()["errors"][0]["code"] == "invalid_api_key"


def test_api_key_is_shown_once_works_in_its_scope_and_stops_after_revocation(
    client: TestClient, web_settings: Settings
) -> None:
    signed_in(client, web_settings)
    page = client.get("/account")
    created = client.post(
        "/account/api-keys",
        data={"csrf_token": csrf_from(page.text), "label": "laptop", "scopes": ["account"]},
    )
    key = re.search(r'<code id="new-api-key">([^<]+)</code>', created.text)
    assert key
    raw = key.group(1)
    listing = client.get("/account").text
    displayed_prefix = "_".join(raw.split("_")[:2])  # cck_<hex>; the secret may hold "_"
    assert raw not in listing and displayed_prefix in listing

    api = TestClient(client.app)
    me = api.get("/api/v1/account", headers={"X-Api-Key": raw})
    assert me.status_code == 200 and me.json()["email"] == "ada@example.org"
    assert "set-cookie" not in me.headers

    images_only = client.post(
        "/account/api-keys",
        data={"csrf_token": csrf_from(listing), "label": "ci", "scopes": ["images"]},
    )
    images_key = re.search(r'<code id="new-api-key">([^<]+)</code>', images_only.text)
    assert images_key
    denied = api.get("/api/v1/account", headers={"X-Api-Key": images_key.group(1)})
    assert denied.status_code == 403 and denied.json()["errors"][0]["code"] == "forbidden"

    page = client.get("/account").text
    key_id = re.findall(r"/account/api-keys/(\w+)/revoke", page)
    for identifier in key_id:
        client.post(f"/account/api-keys/{identifier}/revoke", data={"csrf_token": csrf_from(page)})
    assert api.get("/api/v1/account", headers={"X-Api-Key": raw}).status_code == 401


def test_login_lockout_message_is_the_same_for_unknown_and_known_addresses(
    client: TestClient, web_settings: Settings
) -> None:
    signed_in(client, web_settings)
    token = csrf_from(client.get("/login").text)
    bodies = {}
    for address in ("ada@example.org", "ghost@example.org"):
        for _ in range(web_settings.throttle.login_per_account):
            wrong = client.post(
                "/login", data={"csrf_token": token, "email": address, "password": "wrong!"}
            )
            assert wrong.status_code == 401
        locked = client.post(
            "/login", data={"csrf_token": token, "email": address, "password": PASSWORD}
        )
        assert locked.status_code == 429
        assert locked.headers["retry-after"] == "60"  # the first step of the backoff
        bodies[address] = re.search(r'role="alert">([^<]+)<', locked.text).group(1)  # type: ignore[union-attr]
    assert bodies["ada@example.org"] == bodies["ghost@example.org"]


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [("de-DE,de;q=0.9,en;q=0.8", "Datenschutz"), ("en-US,en;q=0.9", "Privacy"), ("fr", "Privacy")],
)
def test_language_follows_accept_language_without_a_preference(
    client: TestClient, accept_language: str, expected: str
) -> None:
    page = client.get("/privacy", headers={"Accept-Language": accept_language})
    assert f">{expected}<" in page.text


def test_language_and_theme_preferences_are_kept_in_cookies(client: TestClient) -> None:
    token = csrf_from(client.get("/").text)
    response = client.post(
        "/preferences",
        data={"csrf_token": token, "lang": "de", "theme": "dark", "next": "/cookies"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/cookies"
    page = client.get("/cookies", headers={"Accept-Language": "en"})
    assert '<html lang="de" data-theme="dark">' in page.text


def test_privacy_page_shows_the_policy_and_its_last_updated_date(client: TestClient) -> None:
    page = client.get("/privacy", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert '<time datetime="2024-12-24">December 24, 2024</time>' in page.text
    assert "<h2>Information We Collect</h2>" in page.text
    german = client.get("/privacy", headers={"Accept-Language": "de"})
    assert "24. Dezember 2024" in german.text


def test_the_app_refuses_to_start_on_an_unmigrated_database(tmp_path: Path) -> None:
    with pytest.raises(DatabaseNotMigratedError, match="clearcutout db upgrade"):
        create_app(fast_settings(tmp_path / "fresh"))


def test_every_english_message_has_a_german_translation() -> None:
    from clearcutout.service.infra.i18n import gettext_for
    from tests.support.msgids import all_msgids

    german = gettext_for("de")
    untranslated = sorted(
        m
        for m in all_msgids()
        if german.gettext(m) == m
        and m not in {"Cookies", "Name", "Region", "System", "ClearCutout"}
    )
    assert untranslated == []


def test_secrets_file_is_created_private_and_reused(tmp_path: Path) -> None:
    from clearcutout.crypto import Keyring

    settings = fast_settings(tmp_path / "d")
    first = Keyring.from_settings(settings)
    path = settings.effective_secrets_file
    assert path.stat().st_mode & 0o777 == 0o600
    second = Keyring.from_settings(settings)
    assert first.email_index("a@b.c") == second.email_index("a@b.c")
    assert first.master_key("eu") == second.master_key("eu") != first.master_key("us")
