"""What a new person meets, through HTTP: where login leads, ``next`` kept only on this
site, one favicon everywhere, and a landing page that tells the truth about transport
encryption for this very deployment."""

from __future__ import annotations

import io
import ssl
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import sessionmaker

from clearcutout.config import Settings
from clearcutout.crypto import Keyring
from clearcutout.db import create_db_engine
from clearcutout.engine.decode import SUPPORTED_FORMATS
from clearcutout.service import accounts
from clearcutout.service.context import unit_of_work
from clearcutout.service.infra.i18n import gettext_for
from clearcutout.service.privacy import policy
from clearcutout.web import create_app
from clearcutout.web.navigation import safe_next
from clearcutout.web.routes.images import BROWSER_FILE_TYPES
from tests.conftest import fast_settings
from tests.integration.test_tls import self_signed
from tests.support.app_server import running_app
from tests.support.database import migrate
from tests.web.conftest import csrf_from


def migrated(settings: Settings) -> Settings:
    migrate(settings)
    return settings


EMAIL = "mo@example.org"
PASSWORD = "paper lanterns 2025"


def make_person(settings: Settings, *, accepted_policy: bool = True) -> None:
    """A verified account; with the policy in force accepted, as after the sign-up form."""
    engine = create_db_engine(settings.effective_database_url)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with unit_of_work(factory, settings, Keyring.from_settings(settings)) as ctx:
        user = accounts.create_user_as_operator(
            ctx, email=EMAIL, name="Mo Reyes", password=PASSWORD
        )
        if accepted_policy:
            version = policy.current_version(ctx).version
            policy.accept(ctx, user, version_id=version, source="signup")
    engine.dispose()


def log_in(client: TestClient, login_path: str = "/login", **extra: str) -> httpx.Response:
    page = client.get(login_path)
    form = {"csrf_token": csrf_from(page.text), "email": EMAIL, "password": PASSWORD, **extra}
    return client.post("/login", data=form, follow_redirects=False)


@pytest.fixture
def person(client: TestClient, web_settings: Settings) -> TestClient:
    make_person(web_settings)
    return client


def test_login_lands_on_the_upload_page(person: TestClient) -> None:
    response = log_in(person)
    assert response.status_code == 303 and response.headers["location"] == "/app"
    page = person.get("/app")
    assert "<h1>Remove backgrounds</h1>" in page.text


def test_a_signed_out_visit_comes_back_to_the_page_after_login(person: TestClient) -> None:
    redirect = person.get("/app/history?page=1", follow_redirects=False)
    assert redirect.status_code == 303
    assert redirect.headers["location"] == "/login?next=%2Fapp%2Fhistory%3Fpage%3D1"
    form = person.get(redirect.headers["location"]).text
    assert '<input type="hidden" name="next" value="/app/history?page=1">' in form
    response = log_in(person, redirect.headers["location"], next="/app/history?page=1")
    assert response.headers["location"] == "/app/history?page=1"


@pytest.mark.parametrize(
    "hostile",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "/\t/evil.example/",
        "javascript:alert(1)",
        "evil.example",
        "",
    ],
)
def test_next_never_leaves_the_site(person: TestClient, hostile: str) -> None:
    assert safe_next(hostile) is None
    page = person.get("/login", params={"next": hostile}).text
    form = page.split('action="/login"', 1)[1].split("</form>", 1)[0]
    assert 'name="next"' not in form
    assert log_in(person, next=hostile).headers["location"] == "/app"


def test_the_preferences_switch_does_not_redirect_off_site(client: TestClient) -> None:
    token = csrf_from(client.get("/").text)
    response = client.post(
        "/preferences",
        data={"csrf_token": token, "lang": "de", "next": "/\\evil.example/"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_a_pending_policy_is_asked_first_then_the_page_asked_for(
    client: TestClient, web_settings: Settings
) -> None:
    make_person(web_settings, accepted_policy=False)
    response = log_in(client, next="/app/history")
    assert response.headers["location"] == "/privacy/accept?next=%2Fapp%2Fhistory"
    prompt = client.get(response.headers["location"]).text
    assert '<input type="hidden" name="next" value="/app/history">' in prompt
    version = prompt.split('name="version" value="', 1)[1].split('"', 1)[0]
    accepted = client.post(
        "/privacy/accept",
        data={"csrf_token": csrf_from(prompt), "version": version, "next": "/app/history"},
        follow_redirects=False,
    )
    assert accepted.headers["location"] == "/app/history"


def test_the_signed_in_menu_has_one_privacy_entry_and_the_footer_the_policy(
    person: TestClient,
) -> None:
    log_in(person)
    page = person.get("/app").text
    header = page.split("<header", 1)[1].split("</header>", 1)[0]
    footer = page.split("<footer", 1)[1].split("</footer>", 1)[0]
    # The menu is rendered twice (a row and a disclosure); each has one privacy entry.
    assert header.count('href="/account/privacy"') == 2
    assert 'href="/privacy"' not in header and ">Privacy<" not in header
    assert 'href="/privacy">Privacy policy</a>' in footer


def test_every_page_links_a_favicon_that_is_served(client: TestClient) -> None:
    for path in ("/", "/login", "/signup", "/privacy", "/cookies"):
        page = client.get(path).text
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
        assert '<link rel="icon" href="/favicon.ico"' in page
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg") and "</svg>" in svg.text
    ico = client.get("/favicon.ico")
    assert ico.status_code == 200 and ico.headers["content-type"] == "image/x-icon"
    icon = Image.open(io.BytesIO(ico.content))
    assert icon.format == "ICO" and {(16, 16), (32, 32)} <= icon.info["sizes"]


# ----------------------------------------------------------------------------- transport


def transport_sentence(html: str) -> str:
    return " ".join(html.split('<p id="transport">', 1)[1].split("</p>", 1)[0].split())


def test_plain_http_is_called_unencrypted(client: TestClient) -> None:
    sentence = transport_sentence(client.get("/").text)
    assert "TLS" not in sentence
    assert "plain HTTP, so connections to it are not encrypted" in sentence


def test_behind_an_https_address_the_page_says_https(tmp_path: Path) -> None:
    settings = migrated(fast_settings(tmp_path / "data", base_url="https://cutouts.example"))
    with TestClient(create_app(settings)) as client:
        sentence = transport_sentence(client.get("/").text)
    assert "Connections use HTTPS." in sentence and "TLS 1.3" not in sentence


def test_served_with_a_certificate_the_page_says_tls_1_3(tmp_path: Path) -> None:
    settings = migrated(fast_settings(tmp_path / "data"))
    cert, key = self_signed(tmp_path)
    with running_app(settings, tls_cert=cert, tls_key=key) as base_url:
        trust = ssl.create_default_context(cafile=str(cert))
        response = httpx.get(f"{base_url}/", verify=trust, timeout=10)
    assert "Connections use TLS 1.3." in transport_sentence(response.text)


def test_german_visitors_read_the_same_truth(client: TestClient) -> None:
    page = client.get("/", headers={"Accept-Language": "de"}).text
    assert "nicht verschlüsselt" in transport_sentence(page)


# ----------------------------------------------------------------------------- upload page


def test_the_upload_page_knows_every_format_the_engine_reads() -> None:
    assert set(BROWSER_FILE_TYPES) == SUPPORTED_FORMATS


def test_the_upload_page_carries_the_servers_size_limit(tmp_path: Path) -> None:
    settings = migrated(fast_settings(tmp_path / "data", max_upload_mb=3.5))
    make_person(settings)
    with TestClient(create_app(settings)) as client:
        log_in(client)
        page = client.get("/app").text
    assert f'data-limit-bytes="{int(3.5 * 1024 * 1024)}"' in page
    assert 'data-limit-mb="3.5"' in page and "up to 3.5 MB each" in page


def test_the_upload_page_offers_the_quality_presets_with_the_servers_default(
    tmp_path: Path,
) -> None:
    settings = migrated(fast_settings(tmp_path / "data", default_quality="best"))
    make_person(settings)
    with TestClient(create_app(settings)) as client:
        log_in(client)
        page = client.get("/app").text
    assert '<select id="image-quality" name="quality"' in page
    for value in ("fast", "balanced"):
        assert f'<option value="{value}">' in page
    assert '<option value="best" selected>' in page
    german = gettext_for("de").gettext
    assert (german("Quality"), german("Balanced")) == ("Qualität", "Ausgewogen")
