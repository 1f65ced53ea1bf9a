"""History thumbnails: made from the sealed result on request, for the owner's browser
session only; nobody else (another account, no session, an API key alone) gets one."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.service.privacy.conftest import sign_in
from tests.support.jobs import JobsApp, job_settings, jobs_app, small_photo


@pytest.fixture
def app(tmp_path: Path) -> Iterator[JobsApp]:
    yield from jobs_app(job_settings(tmp_path / "data"))


def test_the_owner_sees_a_small_transparent_thumbnail_of_each_finished_cutout(
    app: JobsApp,
) -> None:
    owner = app.account()
    job = app.submit(owner, small_photo(640, 428))
    assert app.wait(owner, job["id"])["status"] == "done"
    browser = sign_in(TestClient(app.client.app), owner)

    history = browser.get("/app/history").text
    path = f"/app/history/{job['id']}/thumbnail"
    assert f'<img class="checkerboard" src="{path}"' in history

    response = browser.get(path)
    assert response.status_code == 200 and response.headers["content-type"] == "image/webp"
    assert response.headers["cache-control"] == "no-store"
    thumbnail = Image.open(io.BytesIO(response.content))
    assert thumbnail.format == "WEBP" and thumbnail.mode == "RGBA"
    assert max(thumbnail.size) == 192 and thumbnail.size[0] > thumbnail.size[1]
    alpha = thumbnail.getchannel("A")
    assert alpha.getextrema() == (0, 255)  # background gone, subject kept
    assert len(response.content) < 40_000


def test_nobody_else_gets_a_thumbnail(app: JobsApp) -> None:
    owner, stranger = app.account(), app.account()
    job = app.submit(owner, small_photo())
    assert app.wait(owner, job["id"])["status"] == "done"
    path = f"/app/history/{job['id']}/thumbnail"

    other = sign_in(TestClient(app.client.app), stranger)
    assert other.get(path).status_code == 404
    anonymous = TestClient(app.client.app)
    assert anonymous.get(path).status_code == 401
    assert anonymous.get(path, headers=owner.headers).status_code == 401  # session only


def test_no_thumbnail_while_queued_or_after_deletion(tmp_path: Path, app: JobsApp) -> None:
    # No executor: the job stays queued.
    for queued_app in jobs_app(job_settings(tmp_path / "queued", executor="none")):
        owner = queued_app.account()
        job = queued_app.submit(owner, small_photo())
        browser = sign_in(TestClient(queued_app.client.app), owner)
        assert browser.get(f"/app/history/{job['id']}/thumbnail").status_code == 409

    owner = app.account()
    browser = sign_in(TestClient(app.client.app), owner)
    job = app.submit(owner, small_photo())
    assert app.wait(owner, job["id"])["status"] == "done"
    assert browser.get(f"/app/history/{job['id']}/thumbnail").status_code == 200
    assert app.client.delete(f"/api/v1/jobs/{job['id']}", headers=owner.headers).status_code == 204
    assert browser.get(f"/app/history/{job['id']}/thumbnail").status_code == 404


def test_a_thumbnail_is_never_stored(app: JobsApp) -> None:
    owner = app.account()
    job = app.submit(owner, small_photo())
    assert app.wait(owner, job["id"])["status"] == "done"
    storage = app.settings.data_dir / "storage"
    before = sorted(path for path in storage.rglob("*") if path.is_file())
    browser = sign_in(TestClient(app.client.app), owner)
    for _ in range(2):
        assert browser.get(f"/app/history/{job['id']}/thumbnail").status_code == 200
    assert sorted(path for path in storage.rglob("*") if path.is_file()) == before
    assert len(before) == 2  # the sealed original and the sealed result
