"""The privacy controls through HTTP: CSP and scripts per configuration, Do Not Track and
Global Privacy Control, the cookie page, first-party referrals, one-click unsubscribe,
staff pages, policy versions and the acceptance asked at login, rectification."""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from email import policy as email_policy
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from clearcutout.config import IntegrationSettings, Settings
from clearcutout.db import create_db_engine, session_factory
from clearcutout.db.models import AccessLogEntry, User
from clearcutout.service.infra.mail import outbox_dir
from clearcutout.web import create_app
from tests.support.staff import enrol_totp
from tests.web.conftest import csrf_from
from tests.web.test_web import PASSWORD, outbox_links, sign_up

UMAMI = IntegrationSettings(
    umami_script_url="https://stats.example.net/script.js", umami_website_id="site-1"
)
TAWK = IntegrationSettings(tawk_property_id="prop123")
ENDORSELY = IntegrationSettings(endorsely_id="org-9")
ESSENTIAL = ["session-token", "csrf-token", "theme", "lang"]


def app_client(settings: Settings, **overrides: Any) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=overrides)))


@pytest.fixture
def umami_client(web_settings: Settings) -> Iterator[TestClient]:
    with app_client(web_settings, integrations=UMAMI) as test_client:
        yield test_client


def log_in(client: TestClient, address: str = "ada@example.org") -> Any:
    token = csrf_from(client.get("/login").text)
    return client.post(
        "/login",
        data={"csrf_token": token, "email": address, "password": PASSWORD},
        follow_redirects=False,
    )


def signed_up(client: TestClient, settings: Settings, **overrides: str) -> None:
    assert sign_up(client, **overrides).status_code == 200
    link = outbox_links(settings, "/verify-email")[-1]
    assert client.get(link).status_code == 200


def user_row(settings: Settings) -> User:
    engine = create_db_engine(settings.effective_database_url)
    try:
        with session_factory(engine)() as db:
            user = db.scalars(select(User)).one()
            db.expunge(user)
            return user
    finally:
        engine.dispose()


# ----------------------------------------------------------------------------- CSP, scripts


def csp_origins(csp: str) -> set[str]:
    return set(re.findall(r"(?:https?|wss)://[^\s;]+", csp))


def test_with_nothing_configured_the_csp_and_pages_name_no_third_party(client: TestClient) -> None:
    for path in ("/", "/cookies", "/signup", "/privacy"):
        response = client.get(path)
        assert csp_origins(response.headers["content-security-policy"]) == set()
        assert "<script" not in response.text


def test_umami_is_admitted_by_the_csp_and_loaded_when_configured(
    umami_client: TestClient,
) -> None:
    response = umami_client.get("/")
    csp = response.headers["content-security-policy"]
    assert csp_origins(csp) == {"https://stats.example.net"}
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src"))
    assert script_src == "script-src 'self' https://stats.example.net"
    assert "connect-src 'self' https://stats.example.net" in csp
    assert (
        '<script async src="https://stats.example.net/script.js" data-website-id="site-1">'
        in response.text
    )


@pytest.mark.parametrize("header", [{"DNT": "1"}, {"Sec-GPC": "1"}])
def test_umami_is_never_loaded_for_a_request_that_asks_not_to_be_tracked(
    umami_client: TestClient, header: dict[str, str]
) -> None:
    response = umami_client.get("/", headers=header)
    assert "stats.example.net/script.js" not in response.text
    assert "<script" not in response.text
    assert "stats.example.net/script.js" in umami_client.get("/", headers={"DNT": "0"}).text


def test_each_integration_adds_only_its_own_origins(web_settings: Settings) -> None:
    with app_client(web_settings, integrations=TAWK) as tawk:
        response = tawk.get("/")
        csp = response.headers["content-security-policy"]
        assert all("tawk.to" in o or "jsdelivr" in o for o in csp_origins(csp))
        assert "frame-src 'self' https://*.tawk.to" in csp
        assert '<script async src="/static/integrations/tawk.js" data-property="prop123"' in (
            response.text
        )
        assert tawk.get("/static/integrations/tawk.js").status_code == 200
    with app_client(web_settings, integrations=ENDORSELY) as endorsely:
        csp = endorsely.get("/").headers["content-security-policy"]
        assert csp_origins(csp) == {"https://assets.endorsely.com", "https://*.endorsely.com"}
        assert "frame-src" not in csp


# ----------------------------------------------------------------------------- cookie page


def cookie_names(html: str) -> list[str]:
    return re.findall(r"<tr><td><code>([^<]+)</code>", html)


def test_cookie_page_lists_only_the_four_cookies_by_default(client: TestClient) -> None:
    page = client.get("/cookies").text
    assert cookie_names(page) == ESSENTIAL
    assert "Other services on this site" not in page
    assert "Tawk" not in page and "Umami" not in page and "Endorsely" not in page


@pytest.mark.parametrize(
    ("integrations", "service", "extra_cookies"),
    [
        (UMAMI, "Umami Analytics", []),
        (TAWK, "Tawk.to", ["TawkConnectionTime", "__tawkuuid", "twk_idm_key"]),
        (ENDORSELY, "Endorsely", ["endorsely_referral"]),
    ],
)
def test_cookie_page_lists_exactly_what_is_enabled(
    web_settings: Settings,
    integrations: IntegrationSettings,
    service: str,
    extra_cookies: list[str],
) -> None:
    with app_client(web_settings, integrations=integrations) as test_client:
        page = test_client.get("/cookies").text
    assert cookie_names(page) == ESSENTIAL + extra_cookies
    assert re.findall(r"<h3>([^<]+)</h3>", page) == [service]
    if not extra_cookies:
        assert "This service sets no cookies." in page


# ----------------------------------------------------------------------------- referral


def test_a_referral_code_travels_from_any_page_into_sign_up_without_a_cookie(
    client: TestClient, web_settings: Settings
) -> None:
    home = client.get("/?ref=partner-42")
    assert 'href="/signup?ref=partner-42"' in home.text
    set_cookies = home.headers.get_list("set-cookie")
    assert [c.split("=")[0] for c in set_cookies] == ["csrf-token"]
    form = client.get("/signup?ref=partner-42").text
    assert '<input type="hidden" name="ref" value="partner-42">' in form
    signed_up(client, web_settings, ref="partner-42")
    assert user_row(web_settings).referral_code == "partner-42"
    assert set(client.cookies.keys()) <= set(ESSENTIAL)


# ----------------------------------------------------------------------------- unsubscribe


def test_unsubscribe_link_confirms_on_get_and_unsubscribes_on_one_click_post(
    web_settings: Settings,
) -> None:
    with app_client(web_settings) as browser:
        signed_up(browser, web_settings)
    from clearcutout.crypto import Keyring
    from clearcutout.service.context import unit_of_work
    from clearcutout.service.privacy import emailprefs

    engine = create_db_engine(web_settings.effective_database_url)
    with unit_of_work(
        session_factory(engine), web_settings, Keyring.from_settings(web_settings)
    ) as ctx:
        assert (
            emailprefs.announce(ctx, category="service_updates", subject="News", paragraphs=["Hi."])
            == 1
        )
    engine.dispose()
    newest = sorted(outbox_dir(web_settings).glob("*.eml"))[-1]
    message = email.message_from_bytes(newest.read_bytes(), policy=email_policy.default)
    link = re.fullmatch(
        r"<http://127\.0\.0\.1:8000(/unsubscribe\?token=[\w.-]+)>", message["List-Unsubscribe"]
    )
    assert link and message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # A fresh client: no session, no CSRF cookie — like a mail client or a link scanner.
    with app_client(web_settings) as stranger:
        confirm = stranger.get(link.group(1))
        assert confirm.status_code == 200 and 'id="confirm-unsubscribe"' in confirm.text
        stranger.cookies.clear()
        response = stranger.post(
            link.group(1),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200, response.text
        assert "You are unsubscribed" in response.text
        forged = stranger.post(
            link.group(1)[:-3] + "abc",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert forged.status_code == 400
    with app_client(web_settings) as browser:
        assert log_in(browser).status_code == 303
        page = browser.get("/account/privacy").text
    assert 'id="subscribe-service_updates" ' in page
    assert re.search(r'id="subscribe-service_updates"\s*>', page)  # unchecked now
    assert "unsubscribe link" in page  # the change is in the consent history


def test_a_get_of_the_unsubscribe_link_changes_nothing(
    client: TestClient, web_settings: Settings
) -> None:
    signed_up(client, web_settings)
    from clearcutout.crypto import Keyring
    from clearcutout.service.context import unit_of_work
    from clearcutout.service.privacy import emailprefs

    engine = create_db_engine(web_settings.effective_database_url)
    keyring = Keyring.from_settings(web_settings)
    with unit_of_work(session_factory(engine), web_settings, keyring) as ctx:
        user = ctx.db.scalars(select(User)).one()
        token = emailprefs.unsubscribe_token(ctx, user_id=user.id, category="service_updates")
    for _ in range(3):
        assert client.get(f"/unsubscribe?token={token}").status_code == 200
    with unit_of_work(session_factory(engine), web_settings, keyring) as ctx:
        user = ctx.db.scalars(select(User)).one()
        assert emailprefs.preferences(ctx, user)["service_updates"] is True
    engine.dispose()


# ----------------------------------------------------------------------------- privacy page


def test_email_preferences_and_a_question_from_the_privacy_page(
    client: TestClient, web_settings: Settings
) -> None:
    signed_up(client, web_settings)
    assert log_in(client).status_code == 303
    page = client.get("/account/privacy")
    for section in (
        "email-preferences",
        "privacy-requests",
        "policy-acceptance",
        "consent-history",
    ):
        assert f'id="{section}"' in page.text
    token = csrf_from(page.text)
    saved = client.post(
        "/account/privacy/email",
        data={"csrf_token": token, "subscribe": ["marketing"]},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = client.get("/account/privacy").text
    assert re.search(r'id="subscribe-marketing" checked', page)
    assert not re.search(r'id="subscribe-service_updates" checked', page)
    refused = client.post(
        "/account/privacy/requests",
        data={"csrf_token": token, "kind": "objection", "processing": "", "message": ""},
    )
    assert refused.status_code == 400 and "Choose the processing you object to." in refused.text
    sent = client.post(
        "/account/privacy/requests",
        data={"csrf_token": token, "kind": "question", "message": "Where are my images?"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    page = client.get(sent.headers["location"]).text
    assert "Where are my images?" in page and "We received your request" in page
    forged = client.post("/account/privacy/email", data={"subscribe": ["marketing"]})
    assert forged.status_code == 403


def test_every_field_a_person_gave_is_editable_on_the_account_pages(
    client: TestClient, web_settings: Settings
) -> None:
    signed_up(client, web_settings)
    assert log_in(client).status_code == 303
    account = client.get("/account").text
    privacy = client.get("/account/privacy").text
    editable = {
        "name": ('action="/account/name"', 'name="name"'),
        "email": ('action="/account/email"', 'name="new_email"'),
        "password": ('action="/account/password"', 'name="new_password"'),
        "region": ('action="/account/region"', 'name="region"'),
        "language": ('action="/account/preferences"', 'name="lang"'),
        "theme": ('action="/account/preferences"', 'name="theme"'),
    }
    for field, markers in editable.items():
        assert all(marker in account for marker in markers), field
    assert 'action="/account/privacy/email"' in privacy and 'name="subscribe"' in privacy
    assert "You accepted the version of 2024-12-24" in privacy
    assert 'href="/account/privacy"' in account


# ----------------------------------------------------------------------------- staff


def test_staff_pages_are_404_for_everyone_but_staff(
    client: TestClient, web_settings: Settings
) -> None:
    for path in ("/staff/requests", "/staff/accounts"):
        assert client.get(path).status_code == 404
    signed_up(client, web_settings)
    assert log_in(client).status_code == 303
    assert client.get("/staff/requests").status_code == 404
    token = csrf_from(client.get("/account").text)
    flag = client.post(
        "/staff/accounts/x/flag-child", data={"csrf_token": token, "reason": "r", "confirm": "yes"}
    )
    assert flag.status_code == 404
    engine = create_db_engine(web_settings.effective_database_url)
    with session_factory(engine)() as db:
        db.scalars(select(User)).one().is_staff = True
        db.commit()
    engine.dispose()
    # Staff pages need the second factor first (tests/web/test_staff_authz.py).
    assert client.get("/staff/requests", follow_redirects=False).status_code == 303
    enrol_totp(client)
    page = client.get("/staff/requests")
    assert page.status_code == 200 and "No open requests." in page.text
    looked = client.post(
        "/staff/accounts/lookup",
        data={"csrf_token": token, "email": "ada@example.org", "reason": "test of lookup"},
    )
    assert looked.status_code == 200 and "Ada Lovelace" in looked.text
    engine = create_db_engine(web_settings.effective_database_url)
    with session_factory(engine)() as db:
        [entry] = db.scalars(
            select(AccessLogEntry).where(AccessLogEntry.action == "view_account")
        ).all()
        assert (entry.action, entry.reason) == ("view_account", "test of lookup")
    engine.dispose()


# ----------------------------------------------------------------------------- policy


def test_privacy_page_shows_last_updated_and_links_to_every_version(client: TestClient) -> None:
    page = client.get("/privacy").text
    assert "Last updated:" in page and "December 24, 2024" in page
    assert 'href="/privacy/versions/2024-12-24"' in page
    old = client.get("/privacy/versions/2024-12-24")
    assert old.status_code == 200 and "December 24, 2024" in old.text
    assert client.get("/privacy/versions/1999-01-01").status_code == 404


def test_after_a_significant_change_login_asks_for_acceptance_once(
    client: TestClient, web_settings: Settings
) -> None:
    from datetime import UTC, datetime

    from clearcutout.crypto import Keyring
    from clearcutout.service.context import unit_of_work
    from clearcutout.service.privacy import policy

    signed_up(client, web_settings)
    engine = create_db_engine(web_settings.effective_database_url)
    with unit_of_work(
        session_factory(engine), web_settings, Keyring.from_settings(web_settings)
    ) as ctx:
        policy.publish(
            ctx,
            text="Title\nIntro line.\nBody\nMore text here.\n",
            effective=datetime.now(UTC).date(),
            summary="We now keep chat logs.",
            significant=True,
        )
    engine.dispose()
    login = log_in(client)
    assert login.headers["location"] == "/privacy/accept"
    prompt = client.get("/privacy/accept")
    assert "We now keep chat logs." in prompt.text
    assert "Our privacy policy has changed" in prompt.text
    accepted = client.post(
        "/privacy/accept",
        data={
            "csrf_token": csrf_from(prompt.text),
            "version": datetime.now(UTC).date().isoformat(),
        },
        follow_redirects=False,
    )
    assert accepted.status_code == 303
    assert log_in(client).headers["location"] == "/app"
    privacy = client.get("/privacy").text
    assert "significant change" in privacy and 'href="/privacy/versions/2024-12-24"' in privacy
