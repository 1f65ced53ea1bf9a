"""Deletion (privacy policy, "Correction & Deletion"): with the password re-entered,
every session ends, every stored object goes, the user's key is destroyed (so a copy
taken before cannot be opened with any key we hold), no database row references the user,
login and API key fail, and a confirmation email goes to the address captured before. On
``file://`` and S3."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, LargeBinary, String, select

from clearcutout import crypto
from clearcutout.db.models import Base, User
from clearcutout.service.infra import objects
from clearcutout.service.privacy import export
from tests.conftest import SmtpServer, email_text
from tests.service.privacy.conftest import csrf_from, keys_of, sign_in
from tests.support.jobs import PASSWORD, Account, JobsApp, job_settings, jobs_app, s3_regions
from tests.support.seaweedfs import SeaweedFS
from tests.support.service import run


def rows_referencing(engine: Engine, user_id: str) -> list[str]:
    """Every row of every table with the user id in a text or binary column."""
    found: list[str] = []
    needle = user_id.encode()
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | LargeBinary)]
            for row in connection.execute(select(*columns)):
                for column, value in zip(columns, row, strict=True):
                    if (isinstance(value, str) and user_id in value) or (
                        isinstance(value, bytes) and needle in value
                    ):
                        found.append(f"{table.name}.{column.name}")
    return found


def cannot_open_with_any_key_we_hold(app: JobsApp, key: str, owner_id: str, blob: bytes) -> bool:
    """The blob opens neither with a region master key nor with the app's keys."""
    keyring = app.services.keyring
    candidates = [keyring.master_key(region) for region in app.settings.regions]
    for candidate in candidates:
        try:
            objects.open_sealed(candidate, owner_id=owner_id, object_key=key, blob=blob)
        except crypto.DecryptionError:
            continue
        return False
    return True


def _everything(app: JobsApp, photo: bytes) -> tuple[Account, dict[str, bytes]]:
    """An account with two processed images, a ready export, and copies of its objects."""
    account = app.account()
    for _ in range(2):
        job = app.submit(account, photo)
        assert app.wait(account, job["id"])["status"] == "done"

    def exported(ctx: object) -> str:
        user = ctx.db.get(User, account.user_id)  # type: ignore[attr-defined]
        return export.request_export(ctx, user).id  # type: ignore[arg-type]

    export_id = run(app.services, exported)
    run(app.services, lambda ctx: export.build_export(ctx, export_id))
    store = objects.region_store(app.settings, "eu")
    copies = {key: store.get(key) for key in keys_of(app, "eu", account.user_id)}
    assert len(copies) == 5  # two originals, two results, one export
    return account, copies


def test_deleting_an_account_leaves_nothing_readable(backend_app: JobsApp, photo: bytes) -> None:
    app = backend_app
    account, copies = _everything(app, photo)
    browser = sign_in(app.client, account)
    second_browser = sign_in(TestClient(app.client.app), account)
    assert second_browser.get("/account", follow_redirects=False).status_code == 200

    # A wrong password changes nothing.
    page = browser.get("/account/privacy")
    wrong = browser.post(
        "/account/privacy/delete",
        data={"csrf_token": csrf_from(page.text), "password": "not my password"},
    )
    assert wrong.status_code == 400
    assert "password is not correct" in wrong.text
    assert len(keys_of(app, "eu", account.user_id)) == 5

    deleted = browser.post(
        "/account/privacy/delete",
        data={"csrf_token": csrf_from(page.text), "password": PASSWORD},
    )
    assert deleted.status_code == 200
    assert 'id="account-deleted"' in deleted.text

    # Storage: nothing under the user, in any region.
    for region in app.settings.regions:
        assert keys_of(app, region, account.user_id) == []
    # A copy taken before cannot be opened with any key we still hold.
    for key, blob in copies.items():
        assert blob.startswith(objects.MAGIC)
        assert cannot_open_with_any_key_we_hold(app, key, account.user_id, blob)
    # Database: no row mentions the user id, except the append-only access log, which
    # keeps its entries (the export, the deletion) as ids only (service.staff.accesslog).
    assert set(rows_referencing(app.services.engine, account.user_id)) == {
        "access_log.actor_user_id",
        "access_log.subject_user_id",
    }
    # Sessions ended everywhere, login and API key fail.
    assert second_browser.get("/account", follow_redirects=False).status_code == 303
    login = TestClient(app.client.app)
    token = csrf_from(login.get("/login").text)
    failed = login.post(
        "/login",
        data={"csrf_token": token, "email": account.email, "password": PASSWORD},
        follow_redirects=False,
    )
    assert failed.status_code != 303
    assert app.client.get("/api/v1/account", headers=account.headers).status_code == 401
    assert app.client.get("/api/v1/jobs", headers=account.headers).status_code == 401


def test_a_confirmation_email_goes_to_the_address_captured_before_deletion(
    tmp_path: Path, photo: bytes, smtp_server: SmtpServer
) -> None:
    for app in jobs_app(job_settings(tmp_path / "data", smtp=smtp_server.settings())):
        account = app.account()
        browser = sign_in(app.client, account)
        page = browser.get("/account/privacy")
        browser.post(
            "/account/privacy/delete",
            data={"csrf_token": csrf_from(page.text), "password": PASSWORD},
        )
        smtp_server.wait_for(1)
        mails = smtp_server.to(account.email)
        assert len(mails) == 1
        assert "deleted" in str(mails[0]["Subject"])
        assert "have been deleted" in email_text(mails[0])


@pytest.mark.parametrize("where", ["eu", "us"])
def test_deletion_also_clears_a_copy_left_in_another_region(
    tmp_path: Path, seaweedfs: SeaweedFS, photo: bytes, where: str
) -> None:
    regions = s3_regions(seaweedfs, f"leftover-{where}-{tmp_path.name[-8:]}")
    for app in jobs_app(job_settings(tmp_path / "data", regions=regions)):
        account = app.account(region="eu")
        # As if a region move had been cut short after copying: a stray object elsewhere.
        stray = objects.job_object_key(account.user_id, "0" * 32, "original")
        objects.region_store(app.settings, where).put(stray, b"CCO1 sealed leftovers")
        browser = sign_in(app.client, account)
        page = browser.get("/account/privacy")
        browser.post(
            "/account/privacy/delete",
            data={"csrf_token": csrf_from(page.text), "password": PASSWORD},
        )
        assert keys_of(app, where, account.user_id) == []
