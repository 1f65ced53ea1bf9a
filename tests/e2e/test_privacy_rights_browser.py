"""Acceptance of the privacy rights: a person walks the Privacy page in headless Chromium
– download their data (the ZIP's content checked), unsubscribe from an email link, object
to a kind of processing, delete the account – and afterwards none of their objects is
left in storage and no copy taken before can be decrypted with any key we hold.

Screenshots land in ``test-artifacts/privacy-rights/``.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from clearcutout import crypto
from clearcutout.crypto import Keyring
from clearcutout.db import session_factory
from clearcutout.db.models import UserKey
from clearcutout.service import accounts
from clearcutout.service.accounts import apikeys
from clearcutout.service.context import unit_of_work
from clearcutout.service.infra import objects
from clearcutout.service.privacy import emailprefs
from tests.conftest import SmtpServer, email_text
from tests.e2e.test_browser import ALLOWED_COOKIES, browser_page
from tests.support.database import migrated_engine
from tests.support.jobs import job_settings, small_photo

__all__ = ["browser_page"]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "privacy-rights"
PASSWORD = "paper lanterns 2025"
EMAIL = "noor@example.org"


def test_a_person_exports_unsubscribes_objects_and_deletes_their_account(
    tmp_path: Path, smtp_server: SmtpServer, browser_page: object
) -> None:
    from playwright.sync_api import Page, expect

    from tests.support.app_server import running_app

    page: Page = browser_page  # type: ignore[assignment]
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)

    def shot(target: Page, name: str) -> None:
        target.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    settings = job_settings(tmp_path / "data", smtp=smtp_server.settings())
    engine = migrated_engine(settings)
    sessions = session_factory(engine)
    keyring = Keyring.from_settings(settings)
    with unit_of_work(sessions, settings, keyring) as ctx:
        user = accounts.create_user_as_operator(
            ctx, email=EMAIL, name="Noor Haddad", password=PASSWORD
        )
        user_id = user.id
        _info, api_key = apikeys.create_api_key(ctx, user, label="e2e", scopes=["images"])
    photo = small_photo()

    with running_app(settings) as base_url:
        settings.base_url = base_url  # links in emails point at this server
        # One processed image, through the API.
        with httpx.Client(base_url=base_url, headers={"X-Api-Key": api_key}) as api:
            created = api.post(
                "/api/v1/jobs", files={"image_file": ("noor.jpg", photo, "image/jpeg")}
            )
            assert created.status_code == 202, created.text
            job_id = created.json()["id"]
            deadline = time.monotonic() + 60
            while api.get(f"/api/v1/jobs/{job_id}").json()["status"] != "done":
                assert time.monotonic() < deadline
                time.sleep(0.2)
        store = objects.region_store(settings, "eu")
        prefix = objects.user_prefix(user_id)
        copies = {key: store.get(key) for key in store.iter_keys(prefix)}
        assert len(copies) == 2

        page.goto(f"{base_url}/login")
        page.get_by_label("Email address").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("button", name="I accept the privacy policy").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your privacy")

        # 1. Download my data: prepared in the background, link emailed.
        before = len(smtp_server.messages)
        export_card = page.get_by_role("region", name="Download my data")
        expect(export_card).to_contain_text("European Union")
        export_card.get_by_role("button", name="Prepare my data").click()
        [ready] = smtp_server.wait_for(before + 1)[before:]
        assert ready["Subject"] == "Your ClearCutout data is ready to download"
        link = re.search(
            rf"{re.escape(base_url)}/account/privacy/export/[0-9a-f]+", email_text(ready)
        )
        assert link, email_text(ready)
        page.reload()
        shot(page, "01-export-ready")
        download_link = page.get_by_role("link", name="Download (ZIP)")
        expect(download_link).to_have_attribute("href", urlsplit(link.group(0)).path)
        with page.expect_download() as download_info:
            download_link.click()
        archive = zipfile.ZipFile(io.BytesIO(Path(download_info.value.path()).read_bytes()))
        names = set(archive.namelist())
        assert {"account.json", "jobs.json", "consent_history.json", "access_log.json"} <= names
        assert json.loads(archive.read("account.json"))["email"] == EMAIL
        assert [job["id"] for job in json.loads(archive.read("jobs.json"))] == [job_id]
        assert archive.read(f"images/{job_id}/original.jpg") == photo
        assert f"images/{job_id}/result.png" in names
        history = json.loads(archive.read("consent_history.json"))
        assert [e["value"] for e in history] == ["accepted"]

        # 2. Unsubscribe from an email's link, in a fresh browser (not signed in).
        before = len(smtp_server.messages)
        with unit_of_work(sessions, settings, keyring) as ctx:
            assert (
                emailprefs.announce(
                    ctx, category="service_updates", subject="New model", paragraphs=["Sharper."]
                )
                == 1
            )
        [update] = smtp_server.wait_for(before + 1)[before:]
        unsubscribe = re.search(
            rf"{re.escape(base_url)}/unsubscribe\?token=[\w.-]+", email_text(update)
        )
        assert unsubscribe, email_text(update)
        stranger_context = page.context.browser.new_context(locale="en-US")  # type: ignore[union-attr]
        try:
            stranger = stranger_context.new_page()
            stranger.goto(unsubscribe.group(0))
            stranger.get_by_role("button", name="Unsubscribe").click()
            expect(stranger.locator("#unsubscribed")).to_contain_text("Service updates")
            shot(stranger, "02-unsubscribed")
        finally:
            stranger_context.close()
        page.reload()
        expect(page.get_by_label("Service updates")).not_to_be_checked()

        # 3. Object to a kind of processing.
        requests = page.get_by_role("region", name="Object to processing or ask a question")
        requests.get_by_label("Object to a kind of processing").check()
        requests.get_by_label("Processing you object to").select_option("analytics")
        requests.get_by_label("Your message").fill("Please do not count my visits.")
        requests.get_by_role("button", name="Send").click()
        expect(page.get_by_role("status")).to_contain_text("We received your request")
        shot(page, "03-objection-sent")

        # 4. Delete the account (password asked again; a wrong one changes nothing).
        danger = page.get_by_role("region", name="Delete my account")
        danger.get_by_label("Your password").fill("not my password")
        danger.get_by_role("button", name="Delete my account").click()
        expect(page.locator("#form-error")).to_contain_text("Your password is not correct.")
        assert sorted(store.iter_keys(prefix))  # still there
        danger = page.get_by_role("region", name="Delete my account")
        danger.get_by_label("Your password").fill(PASSWORD)
        shot(page, "04-delete")
        danger.get_by_role("button", name="Delete my account").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your account has been deleted")
        shot(page, "05-deleted")
        page.goto(f"{base_url}/account/privacy")
        expect(page).to_have_url(re.compile(r"/login\?next=%2Faccount%2Fprivacy$"))

    # Nothing of them is left in any region's storage, and nothing can be decrypted.
    for region in settings.regions:
        assert list(objects.region_store(settings, region).iter_keys(prefix)) == []
    with unit_of_work(sessions, settings, keyring) as ctx:
        assert ctx.db.get(UserKey, user_id) is None
    for key, blob in copies.items():
        for region in settings.regions:
            try:
                objects.open_sealed(
                    keyring.master_key(region), owner_id=user_id, object_key=key, blob=blob
                )
            except crypto.DecryptionError:
                continue
            raise AssertionError(f"{key} opened after the account was deleted")
    assert {c["name"] for c in page.context.cookies()} <= ALLOWED_COOKIES
    engine.dispose()
