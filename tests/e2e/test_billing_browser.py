"""Out of credits in headless Chromium: with billing on, a Free user's second photo is
refused on the upload page with the message that says what to do, and the Billing page
shows the plan and the credits left."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import sessionmaker

from clearcutout.crypto import Keyring
from clearcutout.service import accounts
from clearcutout.service.context import unit_of_work
from tests.e2e.test_images_ui import PASSWORD, page  # noqa: F401 (the browser fixture)
from tests.support.app_server import running_app
from tests.support.billing import LocalStripe, billing_settings
from tests.support.database import migrated_engine
from tests.support.removebg import photo_bytes


def test_a_free_user_out_of_credits_sees_why_on_the_upload_page(
    tmp_path: Path,
    page: Any,  # noqa: F811
    localstripe: LocalStripe,
) -> None:
    from playwright.sync_api import expect

    settings = billing_settings(tmp_path / "data", localstripe.url)
    engine = migrated_engine(settings)
    with unit_of_work(
        sessionmaker(bind=engine, expire_on_commit=False), settings, Keyring.from_settings(settings)
    ) as ctx:
        accounts.create_user_as_operator(
            ctx, email="mo@example.org", name="Mo Reyes", password=PASSWORD, region="eu"
        )
    engine.dispose()
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "first.jpg").write_bytes(photo_bytes(320, 214))
    (photos / "second.jpg").write_bytes(photo_bytes(300, 200))

    with running_app(settings) as base_url:
        page.goto(f"{base_url}/login")
        page.get_by_label("Email address").fill("mo@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()
        page.goto(f"{base_url}/app")
        items = page.locator("#uploads > li")
        page.get_by_label("Drag and drop photos here").set_input_files([str(photos / "first.jpg")])
        expect(items).to_have_count(1)
        expect(items.first).not_to_have_attribute("data-status", "failed")
        page.get_by_label("Drag and drop photos here").set_input_files([str(photos / "second.jpg")])
        expect(items).to_have_count(2)
        second = items.filter(has=page.locator(".upload-name", has_text="second.jpg"))
        expect(second).to_have_attribute("data-status", "failed")
        expect(second.get_by_role("alert")).to_contain_text("You are out of credits")
        expect(second.get_by_role("alert")).to_contain_text("Billing page")

        page.get_by_role("link", name="Billing").first.click()
        expect(page.locator("#billing-plan")).to_have_text("Free")
        expect(page.locator("#billing-credits")).to_have_text("0")
