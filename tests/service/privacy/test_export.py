"""Access and portability (privacy policy, "Access & Portability"): "Download my data" as
a ZIP with the account, preferences, every job's metadata, the retained images decrypted,
the access log and the consent history; built in the background, announced by an emailed
link that only its signed-in owner can open and that expires; also ``GET
/api/v1/account/export``."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from PIL import Image

from clearcutout.db.models import User
from clearcutout.service.infra import objects
from clearcutout.service.privacy import export
from clearcutout.service.staff import accesslog
from tests.conftest import SmtpServer, email_text
from tests.service.privacy.conftest import MovableClock, csrf_from, keys_of, sign_in
from tests.service.privacy.test_retention import _sweep
from tests.support.jobs import JobsApp, job_settings, jobs_app
from tests.support.service import run


def _archive(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def _read_json(archive: zipfile.ZipFile, name: str) -> object:
    return json.loads(archive.read(name))


def check_archive(
    data: bytes, *, email: str, kept_job: str, expired_job: str, photo: bytes
) -> None:
    """The ZIP holds every file ``service.privacy.export`` lists, and the retained images
    decrypted."""
    archive = _archive(data)
    names = set(archive.namelist())
    assert set(export.EXPORT_FILES) <= names
    account = _read_json(archive, "account.json")
    assert isinstance(account, dict)
    assert account["email"] == email and account["region"] == "eu"
    assert account["region_label"] == "European Union" and account["plan"] == "free"
    preferences = _read_json(archive, "preferences.json")
    assert isinstance(preferences, dict) and preferences["email"]["marketing"] is False
    jobs = _read_json(archive, "jobs.json")
    assert isinstance(jobs, list)
    by_id = {job["id"]: job for job in jobs}
    assert set(by_id) == {kept_job, expired_job}
    assert by_id[expired_job]["status"] == "expired" and by_id[expired_job]["files"] == []
    kept = by_id[kept_job]
    assert kept["original_name"] == "holiday photo.jpg"
    assert kept["files"] == [f"images/{kept_job}/original.jpg", f"images/{kept_job}/result.png"]
    assert archive.read(f"images/{kept_job}/original.jpg") == photo
    with Image.open(io.BytesIO(archive.read(f"images/{kept_job}/result.png"))) as cutout:
        assert cutout.mode == "RGBA"
    assert not any(name.startswith(f"images/{expired_job}") for name in names)
    access = _read_json(archive, "access_log.json")
    assert isinstance(access, list) and [e["action"] for e in access] == ["view_account"]
    assert access[0]["reason"] == "support ticket 42"
    history = _read_json(archive, "consent_history.json")
    assert isinstance(history, list)
    # No secret leaks into the archive: no password hash, no API-key hash.
    for name in names - {n for n in names if n.startswith("images/")}:
        text = archive.read(name).decode("utf-8")
        assert "$argon2" not in text and "key_hash" not in text and "token_hash" not in text


def _two_jobs(app: JobsApp, clock: MovableClock, photo: bytes) -> tuple[str, str, object]:
    """One job past its retention (swept) and one still kept, and a staff access."""
    account = app.account()
    expired = app.submit(account, photo)
    app.wait(account, expired["id"])
    clock.advance(days=30, minutes=1)
    kept = app.submit(account, photo)
    app.wait(account, kept["id"])
    _sweep(app, clock)

    def staff_look(ctx: object) -> None:
        staff = ctx.db.get(User, app.account().user_id)  # type: ignore[attr-defined]
        accesslog.record(
            ctx,  # type: ignore[arg-type]
            actor=staff,
            subject_user_id=account.user_id,
            action="view_account",
            reason="support ticket 42",
        )

    run(app.services, staff_look)
    return kept["id"], expired["id"], account


def test_the_api_returns_the_whole_archive(app: JobsApp, photo: bytes) -> None:
    kept, expired, account = _two_jobs(app, app.clock, photo)  # type: ignore[attr-defined]
    response = app.client.get("/api/v1/account/export", headers=account.headers)  # type: ignore[attr-defined]
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    check_archive(
        response.content,
        email=account.email,  # type: ignore[attr-defined]
        kept_job=kept,
        expired_job=expired,
        photo=photo,
    )
    images_only = app.account(scopes=["images"])
    refused = app.client.get("/api/v1/account/export", headers=images_only.headers)
    assert refused.status_code == 403
    assert app.client.get("/api/v1/account/export").status_code == 401


def test_download_my_data_is_prepared_in_the_background_and_emailed(
    tmp_path: Path, photo: bytes, smtp_server: SmtpServer
) -> None:
    settings = job_settings(tmp_path / "data", smtp=smtp_server.settings())
    for app in jobs_app(settings):
        clock = MovableClock()
        app.client.app.state.runtime.clock = clock  # type: ignore[attr-defined]
        kept, expired, account = _two_jobs(app, clock, photo)
        client = sign_in(app.client, account)  # type: ignore[arg-type]
        page = client.get("/account/privacy")
        asked = client.post(
            "/account/privacy/export",
            data={"csrf_token": csrf_from(page.text)},
            follow_redirects=False,
        )
        assert asked.status_code == 303

        address = account.email  # type: ignore[attr-defined]
        smtp_server.wait_for(1)
        mails = [m for m in smtp_server.to(address) if "ready to download" in str(m["Subject"])]
        assert len(mails) == 1
        link = re.search(r"https?://\S+/account/privacy/export/[0-9a-f]+", email_text(mails[0]))
        assert link, email_text(mails[0])
        path = urlsplit(link.group(0)).path

        # The stored archive is sealed, under the person's prefix, in their region.
        export_keys = [k for k in keys_of(app, "eu", account.user_id) if "/exports/" in k]  # type: ignore[attr-defined]
        assert len(export_keys) == 1
        sealed = objects.region_store(app.settings, "eu").get(export_keys[0])
        assert sealed.startswith(objects.MAGIC) and b"account.json" not in sealed

        downloaded = client.get(path)
        assert downloaded.status_code == 200
        check_archive(
            downloaded.content, email=address, kept_job=kept, expired_job=expired, photo=photo
        )

        # Only the signed-in owner: someone else gets "not found", nobody gets a ZIP.
        other = app.account()
        stranger = sign_in(TestClient(app.client.app), other)
        assert stranger.get(path).status_code == 404
        anonymous = TestClient(app.client.app).get(path, follow_redirects=False)
        assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"

        # The link expires (export_link_hours), and the sweep deletes the archive.
        clock.advance(hours=settings.export_link_hours, minutes=1)
        client = sign_in(TestClient(app.client.app), account)  # type: ignore[arg-type]
        assert client.get(path, follow_redirects=False).status_code == 410
        report = _sweep(app, clock)
        assert report.exports_deleted == 1
        assert [k for k in keys_of(app, "eu", account.user_id) if "/exports/" in k] == []  # type: ignore[attr-defined]
