"""Acceptance of staff accountability in headless Chromium: an admin grants ``support``
to a user in the admin area; that user enrols TOTP; views a customer's image with a
reason; the customer sees the access on their Privacy page; ``clearcutout audit verify``
passes, and after a direct database edit of one entry it fails, naming that entry.

Screenshots land in ``test-artifacts/staff/``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pyotp
from sqlalchemy import text

from clearcutout.crypto import Keyring
from clearcutout.db import session_factory
from clearcutout.service import accounts
from clearcutout.service.accounts import apikeys
from clearcutout.service.context import unit_of_work
from clearcutout.service.staff import roles
from tests.e2e.test_browser import browser_page
from tests.support.database import migrated_engine
from tests.support.jobs import job_settings, small_photo

__all__ = ["browser_page"]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "staff"
PASSWORD = "paper lanterns 2025"
EXE = Path(sys.executable).parent / "clearcutout"


def _audit_verify(data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLEARCUTOUT_DATA_DIR": str(data_dir)}
    env.pop("CLEARCUTOUT_DATABASE_URL", None)
    return subprocess.run(
        [str(EXE), "audit", "verify"], capture_output=True, text=True, env=env, timeout=120
    )


def _log_in(page: Any, base_url: str, email: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base_url}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    accept = page.locator("#accept-policy")
    if accept.count():
        accept.click()
    expect(page.get_by_role("link", name="Log out").or_(page.get_by_role("button", name="Log out")))


def _enrol(page: Any, base_url: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base_url}/staff/requests")
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-factor sign-in")
    secret = page.locator("#totp-secret").inner_text().strip()
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)


def test_support_views_an_image_for_a_reason_and_the_customer_sees_it(
    tmp_path: Path, browser_page: object
) -> None:
    from playwright.sync_api import Page, expect

    from tests.support.app_server import running_app

    page: Page = browser_page  # type: ignore[assignment]
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)

    def shot(target: Page, name: str) -> None:
        target.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    data_dir = tmp_path / "data"
    settings = job_settings(data_dir)
    engine = migrated_engine(settings)
    sessions = session_factory(engine)
    keyring = Keyring.from_settings(settings)
    with unit_of_work(sessions, settings, keyring) as ctx:
        boss = accounts.create_user_as_operator(
            ctx, email="boss@example.org", name="Grace Admin", password=PASSWORD
        )
        roles.set_role(ctx, actor=None, user=boss, role="admin", reason="first admin")
        accounts.create_user_as_operator(
            ctx, email="sam@example.org", name="Sam Support", password=PASSWORD
        )
        customer = accounts.create_user_as_operator(
            ctx, email="noor@example.org", name="Noor Haddad", password=PASSWORD
        )
        _info, api_key = apikeys.create_api_key(ctx, customer, label="e2e", scopes=["images"])

    with running_app(settings) as base_url:
        with httpx.Client(base_url=base_url, headers={"X-Api-Key": api_key}) as api:
            created = api.post(
                "/api/v1/jobs", files={"image_file": ("noor.jpg", small_photo(), "image/jpeg")}
            )
            assert created.status_code == 202, created.text
            job_id = created.json()["id"]
            deadline = time.monotonic() + 60
            while api.get(f"/api/v1/jobs/{job_id}").json()["status"] != "done":
                assert time.monotonic() < deadline
                time.sleep(0.2)

        # 1. The admin enrols TOTP and grants support to Sam in the admin area.
        _log_in(page, base_url, "boss@example.org")
        _enrol(page, base_url)
        page.goto(f"{base_url}/staff/admin/users")
        page.get_by_label("Email address").fill("sam@example.org")
        page.get_by_label("Why do you need to see this account?").fill("new support hire")
        page.get_by_role("button", name="Find (logged)").click()
        expect(page.locator("#found-role")).to_have_text("user")
        page.locator("#role-choice").select_option("support")
        page.locator("#role-reason").fill("joins the support team")
        page.get_by_role("button", name="Change the role (logged)").click()
        expect(page.locator("#staff-members")).to_contain_text("support")
        shot(page, "01-role-granted")

        # 2. Sam signs in, must enrol TOTP, then views Noor's image for a reason.
        browser = page.context.browser
        assert browser is not None
        sam_context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 900})
        sam = sam_context.new_page()
        _log_in(sam, base_url, "sam@example.org")
        _enrol(sam, base_url)
        shot(sam, "02-recovery-codes")
        sam.goto(f"{base_url}/staff/accounts")
        sam.get_by_label("Email address").fill("noor@example.org")
        sam.get_by_label("Why do you need to see this account?").fill(
            "ticket 7: cutout looks wrong"
        )
        sam.get_by_role("button", name="Look up (logged)").click()
        expect(sam.locator("#account-facts")).to_contain_text("Noor Haddad")
        # Without a reason nothing is shown: the browser refuses the empty field, and the
        # server does too (tests/service/staff/test_accesslog.py).
        sam.get_by_label("Why do you need to see this person's jobs?").fill("ticket 7")
        sam.get_by_role("button", name="View job metadata (logged)").click()
        expect(sam.locator("#staff-jobs")).to_contain_text(job_id[:8])
        expect(sam.locator("#staff-jobs")).not_to_contain_text("noor.jpg")
        sam.locator(f"#image-reason-{job_id}").fill("ticket 7: check the original")
        sam.get_by_role("button", name="View (logged)").click()
        image = sam.locator("#customer-image")
        expect(image).to_be_visible()
        assert sam.evaluate("document.getElementById('customer-image').naturalWidth") > 0
        shot(sam, "03-image-viewed")
        sam_context.close()

        # 3. Noor sees who accessed the data, as role + staff number, with the reason.
        noor_context = browser.new_context(locale="en-US")
        noor = noor_context.new_page()
        _log_in(noor, base_url, "noor@example.org")
        noor.goto(f"{base_url}/account/privacy")
        accesses = noor.get_by_role("region", name="Who accessed your data")
        expect(accesses).to_contain_text("Viewed one of your images")
        expect(accesses).to_contain_text("ticket 7: check the original")
        expect(accesses).to_contain_text("Support #2")
        expect(accesses).not_to_contain_text("Sam")
        shot(noor, "04-who-accessed")
        noor_context.close()

    # 4. The chain verifies; a direct edit of one entry is named.
    intact = _audit_verify(data_dir)
    assert intact.returncode == 0, intact.stderr
    assert "Access log intact" in intact.stdout
    with engine.begin() as connection:
        seq, entry_id = connection.execute(
            text("SELECT seq, id FROM access_log WHERE action = 'view_image'")
        ).one()
        connection.execute(
            text("UPDATE access_log SET reason = 'routine check' WHERE id = :id"), {"id": entry_id}
        )
    engine.dispose()
    broken = _audit_verify(data_dir)
    assert broken.returncode == 1
    assert f"broken at entry #{seq} (id {entry_id})" in broken.stderr, broken.stderr
    assert re.search(r"changed after it was written", broken.stderr)
