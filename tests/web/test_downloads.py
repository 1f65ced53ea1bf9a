"""Downloads keep the photo's name (``dog.jpg`` → ``dog.png``) and "Download all" is one
ZIP of the finished cutouts, for their owner only."""

from __future__ import annotations

import io
import zipfile
from urllib.parse import quote

from PIL import Image

from tests.support.jobs import JobsApp, small_photo


def submit_named(app: JobsApp, account: object, name: str, **fields: str) -> str:
    response = app.client.post(
        "/api/v1/jobs",
        headers=account.headers,  # type: ignore[attr-defined]
        files={"image_file": (name, small_photo(), "image/jpeg")},
        data=fields,
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def test_result_is_named_after_the_photo(app: JobsApp) -> None:
    account = app.account()
    job_id = submit_named(app, account, "dog.jpg")
    app.wait(account, job_id)
    png = app.client.get(f"/api/v1/jobs/{job_id}/result?format=png", headers=account.headers)
    assert png.status_code == 200
    assert 'filename="dog.png"' in png.headers["content-disposition"]
    webp = app.client.get(f"/api/v1/jobs/{job_id}/result?format=webp", headers=account.headers)
    assert 'filename="dog.webp"' in webp.headers["content-disposition"]


def test_a_non_ascii_name_survives_in_filename_star(app: JobsApp) -> None:
    account = app.account()
    job_id = submit_named(app, account, "Straße am Meer.jpg")
    app.wait(account, job_id)
    response = app.client.get(f"/api/v1/jobs/{job_id}/result", headers=account.headers)
    disposition = response.headers["content-disposition"]
    assert f"filename*=UTF-8''{quote('Straße am Meer.png')}" in disposition
    assert 'filename="Stra?e am Meer.png"' in disposition  # the ASCII stand-in


def test_download_all_is_a_zip_of_every_finished_cutout(app: JobsApp) -> None:
    account = app.account()
    ids = [submit_named(app, account, name) for name in ("dog.jpg", "cat.jpg", "dog.png")]
    for job_id in ids:
        app.wait(account, job_id)
    other = app.account()
    app.wait(other, submit_named(app, other, "someone-elses.jpg"))

    response = app.client.get("/api/v1/jobs/archive", headers=account.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert 'attachment; filename="cutouts.zip"' in response.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = archive.namelist()
        # Newest first; two photos named "dog" do not overwrite each other.
        assert names == ["dog.png", "cat.png", "dog (2).png"]
        for name in names:
            with Image.open(io.BytesIO(archive.read(name))) as image:
                assert image.format == "PNG" and image.mode == "RGBA"


def test_download_all_of_chosen_jobs_skips_what_cannot_be_downloaded(app: JobsApp) -> None:
    account = app.account()
    kept, deleted = (submit_named(app, account, name) for name in ("kept.jpg", "deleted.jpg"))
    for job_id in (kept, deleted):
        app.wait(account, job_id)
    assert app.client.delete(f"/api/v1/jobs/{deleted}", headers=account.headers).status_code == 204
    other = app.account()
    foreign = submit_named(app, other, "foreign.jpg")
    app.wait(other, foreign)

    response = app.client.get(
        f"/api/v1/jobs/archive?format=jpg&ids={kept},{deleted},{foreign}",
        headers=account.headers,
    )
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.namelist() == ["kept.jpg"]
        assert archive.read("kept.jpg")[:3] == b"\xff\xd8\xff"

    nothing = app.client.get(f"/api/v1/jobs/archive?ids={foreign}", headers=account.headers)
    assert nothing.status_code == 404
    assert set(nothing.json()) == {"errors"}
    assert app.client.get("/api/v1/jobs/archive").status_code == 401


def test_a_background_photo_is_composed_on_request_and_not_stored(app: JobsApp) -> None:
    account = app.account()
    job_id = submit_named(app, account, "dog.jpg")
    app.wait(account, job_id)
    storage = app.settings.data_dir / "storage"
    stored_before = sorted(p for p in storage.rglob("*") if p.is_file())
    green = io.BytesIO()
    Image.new("RGB", (300, 200), (20, 200, 40)).save(green, format="PNG")
    response = app.client.post(
        f"/api/v1/jobs/{job_id}/result",
        headers=account.headers,
        files={"bg_image_file": ("green.png", green.getvalue(), "image/png")},
        data={"format": "png"},
    )
    assert response.status_code == 200, response.text
    assert 'filename="dog.png"' in response.headers["content-disposition"]
    with Image.open(io.BytesIO(response.content)) as image:
        rgba = image.convert("RGBA")
        assert rgba.size == (320, 214)
        assert rgba.getchannel("A").getextrema() == (255, 255)  # opaque: on the photo
        corner = rgba.getpixel((2, 2))
        assert corner[1] > 150 and corner[0] < 80  # the green background
    stored_after = sorted(p for p in storage.rglob("*") if p.is_file())
    assert stored_after == stored_before and stored_before  # the background was not kept

    wrong = app.client.post(
        f"/api/v1/jobs/{job_id}/result",
        headers=account.headers,
        files={"image_file": ("green.png", green.getvalue(), "image/png")},
    )
    assert wrong.status_code == 400
