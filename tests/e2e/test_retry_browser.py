"""A person in headless Chromium retries a job that failed during a storage outage: the
history shows it failed with a Retry button; pressing it queues the job again, and the
local executor finishes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import sessionmaker

from clearcutout.crypto import Keyring
from clearcutout.engine import CutoutOptions
from clearcutout.errors import StorageError
from clearcutout.service import accounts, jobs
from clearcutout.service.context import unit_of_work
from tests.conftest import fast_settings
from tests.e2e.test_images_ui import PASSWORD, page
from tests.support.app_server import running_app
from tests.support.database import migrated_engine
from tests.support.removebg import photo_bytes

__all__ = ["page"]


def test_the_owner_retries_a_failed_job_from_the_history(tmp_path: Path, page: Any) -> None:
    from playwright.sync_api import expect

    settings = fast_settings(
        tmp_path / "data", default_model="u2netp", worker_threads=1, job_poll_seconds=0.2
    )
    engine = migrated_engine(settings)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    keyring = Keyring.from_settings(settings)
    with unit_of_work(sessions, settings, keyring) as ctx:
        user = accounts.create_user_as_operator(
            ctx, email="ines@example.org", name="Inés", password=PASSWORD, region="eu"
        )
        job_id = jobs.submit(
            ctx, user, photo_bytes(400, 300), CutoutOptions(), original_name="outage.jpg"
        ).id
        assert jobs.claim(ctx, job_id, lease_owner="gone")
        assert jobs.fail(
            ctx,
            jobs.HeldRun(job_id, "gone", region="eu", model="u2netp", seconds=0.0),
            StorageError("Object storage failed to read an object: ReadTimeoutError."),
        )
    engine.dispose()

    with running_app(settings) as base_url:
        page.goto(f"{base_url}/login")
        page.get_by_label("Email address").fill("ines@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()
        page.goto(f"{base_url}/app/history")
        row = page.locator(f"tr[data-job-id='{job_id}']")
        expect(row.locator(".badge")).to_have_text("Failed")
        row.get_by_role("button", name="Retry").click()
        expect(row.locator(".badge")).to_have_text("Waiting in line")
        expect(row.get_by_role("button", name="Retry")).to_have_count(0)
        for _ in range(120):
            page.wait_for_timeout(500)
            page.reload()
            if row.locator(".badge").inner_text() == "Done":
                break
        expect(row.locator(".badge")).to_have_text("Done")
        expect(row.get_by_role("link", name="Download PNG")).to_be_visible()
