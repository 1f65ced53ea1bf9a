"""A person walks their Privacy page in headless Chromium: accept the policy at login,
change email preferences, unsubscribe from a received email in a fresh browser (not
logged in), object to a kind of processing.

Screenshots land in ``test-artifacts/privacy/``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from clearcutout.crypto import Keyring
from clearcutout.db import session_factory
from clearcutout.service import accounts
from clearcutout.service.context import unit_of_work
from clearcutout.service.privacy import emailprefs
from tests.conftest import SmtpServer, email_text, fast_settings
from tests.e2e.test_browser import ALLOWED_COOKIES, browser_page
from tests.support.database import migrated_engine

__all__ = ["browser_page"]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "privacy"
PASSWORD = "paper lanterns 2025"


def test_a_person_manages_email_preferences_unsubscribes_and_objects(
    tmp_path: Path, smtp_server: SmtpServer, browser_page: object
) -> None:
    from playwright.sync_api import Page, expect

    page: Page = browser_page  # type: ignore[assignment]
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)

    def shot(target: Page, name: str) -> None:
        target.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    settings = fast_settings(tmp_path / "data", smtp=smtp_server.settings())
    engine = migrated_engine(settings)
    sessions = session_factory(engine)
    keyring = Keyring.from_settings(settings)
    # An operator-created account has accepted no policy yet: asked at the first login.
    with unit_of_work(sessions, settings, keyring) as ctx:
        accounts.create_user_as_operator(
            ctx, email="lin@example.org", name="Lin Wu", password=PASSWORD
        )

    from tests.support.app_server import running_app

    with running_app(settings) as base_url:
        settings.base_url = base_url  # links in emails point at this server
        page.goto(f"{base_url}/login")
        page.get_by_label("Email address").fill("lin@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Please accept our privacy policy"
        )
        shot(page, "01-policy-prompt")
        page.get_by_role("button", name="I accept the privacy policy").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your privacy")
        expect(page.get_by_role("status")).to_contain_text("You accepted the privacy policy")

        emails = page.get_by_role("region", name="Emails we send you")
        expect(emails.get_by_label("Service updates")).to_be_checked()
        expect(emails.get_by_label("News and offers (marketing)")).not_to_be_checked()
        expect(emails.get_by_label("Billing – always sent")).to_be_disabled()
        emails.get_by_label("News and offers (marketing)").check()
        shot(page, "02-privacy-page")
        emails.get_by_role("button", name="Save email preferences").click()
        expect(page.get_by_role("status")).to_have_text("Your email preferences were saved.")
        expect(page.get_by_label("News and offers (marketing)")).to_be_checked()
        history = page.get_by_role("region", name="Your consent history")
        expect(history.get_by_role("row")).to_have_count(3)  # header, acceptance, marketing
        shot(page, "03-preferences-saved")

        # A marketing email arrives, with its one-click link.
        before = len(smtp_server.messages)
        with unit_of_work(sessions, settings, keyring) as ctx:
            sent = emailprefs.announce(
                ctx, category="marketing", subject="Spring offer", paragraphs=["Half price."]
            )
        assert sent == 1
        [offer] = smtp_server.wait_for(before + 1)[before:]
        assert offer["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = re.search(rf"{re.escape(base_url)}/unsubscribe\?token=[\w.-]+", email_text(offer))
        assert link, email_text(offer)
        assert offer["List-Unsubscribe"] == f"<{link.group(0)}>"

        # Opened in a fresh browser: no session, no cookie of ours.
        stranger_context = page.context.browser.new_context(  # type: ignore[union-attr]
            locale="en-US", viewport={"width": 1100, "height": 700}
        )
        try:
            stranger = stranger_context.new_page()
            stranger.goto(link.group(0))
            expect(stranger.get_by_role("heading", level=1)).to_have_text("Unsubscribe")
            expect(stranger.get_by_role("link", name="Log in")).to_be_visible()  # not signed in
            shot(stranger, "04-unsubscribe-confirm")
            stranger.get_by_role("button", name="Unsubscribe").click()
            expect(stranger.locator("#unsubscribed")).to_contain_text("News and offers (marketing)")
            shot(stranger, "05-unsubscribed")
        finally:
            stranger_context.close()

        page.reload()
        expect(page.get_by_label("News and offers (marketing)")).not_to_be_checked()
        expect(
            page.get_by_role("region", name="Your consent history").get_by_role("row").nth(1)
        ).to_contain_text("unsubscribe link")

        requests = page.get_by_role("region", name="Object to processing or ask a question")
        requests.get_by_label("Object to a kind of processing").check()
        requests.get_by_label("Processing you object to").select_option("analytics")
        requests.get_by_label("Your message").fill("Please do not count my visits.")
        shot(page, "06-objection")
        requests.get_by_role("button", name="Send").click()
        expect(page.get_by_role("status")).to_contain_text("We received your request")
        expect(page.locator("#my-requests")).to_contain_text("Website analytics (Umami)")
        expect(page.locator("#my-requests")).to_contain_text("Please do not count my visits.")
        shot(page, "07-objection-sent")
        [ack] = smtp_server.wait_for(before + 2)[before + 1 :]
        assert ack["Subject"] == "We received your privacy request"
        assert "List-Unsubscribe" not in ack

    assert {c["name"] for c in page.context.cookies()} <= ALLOWED_COOKIES
    engine.dispose()
