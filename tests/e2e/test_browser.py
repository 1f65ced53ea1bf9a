"""A person in headless Chromium: sign up → verification mail (from the SMTP server) →
log in → change preferences → log out → reset the password → log in again.

Screenshots of every page land in ``test-artifacts/e2e/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SmtpServer, email_text, fast_settings, missing_service
from tests.support.app_server import running_app
from tests.support.database import migrate

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
ALLOWED_COOKIES = {"session-token", "csrf-token", "theme", "lang"}


@pytest.fixture
def browser_page() -> Iterator[object]:
    if not CHROMIUM.exists():
        missing_service("Debian Chromium (/usr/bin/chromium) is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 900})
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def link_from(message: object, path: str) -> str:
    match = re.search(rf"http://[\d.:]+{re.escape(path)}\?token=[\w-]+", email_text(message))  # type: ignore[arg-type]
    assert match, email_text(message)  # type: ignore[arg-type]
    return match.group(0)


def test_a_person_signs_up_verifies_logs_in_changes_preferences_and_resets_the_password(
    tmp_path: Path, smtp_server: SmtpServer, browser_page: object
) -> None:
    from playwright.sync_api import Page, Response, expect

    page: Page = browser_page  # type: ignore[assignment]
    # Only this test's screenshots: other browser tests keep theirs in folders below.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old_shot in ARTIFACTS.glob("*.png"):
        old_shot.unlink()
    cookie_names: set[str] = set()

    def collect(response: Response) -> None:
        for header in response.headers_array():
            if header["name"].lower() == "set-cookie":
                for line in header["value"].split("\n"):
                    cookie_names.add(line.split("=", 1)[0].strip())

    page.on("response", collect)
    settings = fast_settings(tmp_path / "data", smtp=smtp_server.settings())
    migrate(settings)

    def shot(name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    with running_app(settings) as base_url:
        settings.base_url = base_url  # links in emails point at this server
        page.goto(f"{base_url}/")
        expect(page.get_by_role("heading", level=1)).to_contain_text("private")
        shot("01-home")
        page.goto(f"{base_url}/privacy")
        expect(page.locator("time")).to_have_text("December 24, 2024")
        shot("02-privacy")
        page.goto(f"{base_url}/cookies")
        shot("03-cookies")

        page.goto(f"{base_url}/signup")
        page.get_by_label("Email address").fill("lin@example.org")
        page.get_by_label("Name").fill("Lin Wu")
        page.get_by_label("Password").fill("paper lanterns 2025")
        page.get_by_label("European Union").check()
        page.get_by_label("I am 13 years or older").check()
        page.get_by_role("checkbox").check()
        shot("04-signup")
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
        shot("05-signup-done")

        [verification] = smtp_server.wait_for(1)
        page.goto(link_from(verification, "/verify-email"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Email address confirmed")

        page.get_by_role("link", name="Log in").first.click()
        page.get_by_label("Email address").fill("lin@example.org")
        page.get_by_label("Password").fill("paper lanterns 2025")
        shot("06-login")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Remove backgrounds")
        page.get_by_role("link", name="Account").first.click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
        expect(page.locator("#profile-email")).to_have_text("lin@example.org")
        shot("07-account")

        preferences = page.get_by_role("region", name="Preferences")
        preferences.get_by_label("Dark").check()
        preferences.get_by_label("Language").select_option("de")
        preferences.get_by_role("button", name="Save preferences").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Dein Konto")
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(18, 19, 22)", background  # the dark side of --bg
        shot("08-account-dark-de")

        page.get_by_role("button", name="Abmelden").first.click()
        expect(page.get_by_role("link", name="Anmelden").first).to_be_visible()
        page.goto(f"{base_url}/account")
        expect(page).to_have_url(f"{base_url}/login?next=%2Faccount")

        page.get_by_role("link", name="Passwort vergessen?").click()
        page.get_by_label("E-Mail-Adresse").fill("lin@example.org")
        page.get_by_role("button", name="Link senden").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Sieh in dein Postfach")
        reset_mail = smtp_server.wait_for(2)[1]
        assert reset_mail["Subject"] == "Setze dein ClearCutout-Passwort zurück"
        page.goto(link_from(reset_mail, "/password-reset/confirm"))
        page.get_by_label("Neues Passwort").fill("lantern festival 2026")
        shot("09-reset")
        page.get_by_role("button", name="Neues Passwort speichern").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Passwort geändert")

        page.goto(f"{base_url}/login")
        page.get_by_label("E-Mail-Adresse").fill("lin@example.org")
        page.get_by_label("Passwort").fill("lantern festival 2026")
        page.get_by_role("button", name="Anmelden").last.click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Hintergründe entfernen")

    assert cookie_names == ALLOWED_COOKIES
    assert sorted(c["name"] for c in page.context.cookies()) == sorted(ALLOWED_COOKIES)
