"""The jobs REST API end to end: the app with its local executor, the real U²-Netp."""

from __future__ import annotations

import base64
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select, update

from clearcutout.db.models import Job, UsageDaily
from clearcutout.service import jobs
from tests.support.jobs import PASSWORD, JobsApp, job_settings, jobs_app, small_photo
from tests.support.service import run


def count_rows(app: JobsApp, model: type[Any]) -> int:
    with app.services.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(model)) or 0)


def stored_files(app: JobsApp) -> list[Path]:
    root = app.settings.data_dir / "storage"
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def test_a_job_runs_to_done_and_downloads_in_every_format(
    app_on_database: JobsApp, photo: bytes
) -> None:
    app = app_on_database
    account = app.account()
    created = app.submit(account, photo, crop="true", crop_margin="10px")
    assert created["status"] == "queued" and created["region"] == "eu"
    assert created["model"] == "u2netp"
    assert created["status_url"] == f"/api/v1/jobs/{created['id']}"

    job = app.wait(account, created["id"])
    assert job["status"] == "done", job
    assert job["error"] is None
    assert job["original_name"] == "holiday photo.jpg"
    assert job["options"]["crop"] is True and job["options"]["crop_margin"] == "10px"
    assert set(job["timings"]) >= {"decode", "inference", "refine", "compose"}
    assert 29 * 86400 < job["seconds_until_expiry"] <= 30 * 86400
    assert job["foreground"]["width"] > 0 and job["foreground"]["height"] > 0

    png = app.client.get(job["result_url"], headers=account.headers)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(png.content))
    assert image.mode == "RGBA"
    assert image.size == (int(png.headers["x-width"]), int(png.headers["x-height"]))
    assert image.size != (320, 214)  # cropped to the subject, as the job asked
    assert not image.info.get("exif") and not image.getexif()

    for fmt, media_type, mode in (("jpg", "image/jpeg", "RGB"), ("webp", "image/webp", "RGBA")):
        response = app.client.get(
            job["result_url"], params={"format": fmt}, headers=account.headers
        )
        assert response.status_code == 200 and response.headers["content-type"] == media_type
        assert Image.open(io.BytesIO(response.content)).mode == mode

    on_red = app.client.get(
        job["result_url"], params={"format": "png", "bg_color": "ff0000"}, headers=account.headers
    )
    red = Image.open(io.BytesIO(on_red.content))
    assert red.mode == "RGB" and red.getpixel((0, 0)) == (255, 0, 0)

    archive = app.client.get(job["result_url"], params={"format": "zip"}, headers=account.headers)
    assert sorted(zipfile.ZipFile(io.BytesIO(archive.content)).namelist()) == [
        "alpha.png",
        "color.jpg",
    ]

    original = app.client.get(job["original_url"], headers=account.headers)
    assert original.status_code == 200 and original.content == photo
    assert original.headers["content-type"] == "image/jpeg"


def test_json_with_base64_is_accepted_too(app: JobsApp, photo: bytes) -> None:
    account = app.account()
    response = app.client.post(
        "/api/v1/jobs",
        headers=account.headers,
        json={
            "image_file_b64": base64.b64encode(photo).decode(),
            "filename": "me.jpg",
            "semitransparency": False,
            "format": "webp",
        },
    )
    assert response.status_code == 202, response.text
    assert response.headers["location"] == response.json()["status_url"]
    job = app.wait(account, response.json()["id"])
    assert job["status"] == "done" and job["original_name"] == "me.jpg"
    result = app.client.get(job["result_url"], headers=account.headers)
    assert result.headers["content-type"] == "image/webp"


def test_store_false_answers_with_the_image_and_keeps_nothing(app: JobsApp, photo: bytes) -> None:
    account = app.account()
    response = app.client.post(
        "/api/v1/jobs",
        headers=account.headers,
        files={"image_file": ("secret.jpg", photo, "image/jpeg")},
        data={"store": "false", "format": "png", "bg_color": "white"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (320, 214)
    assert response.headers["x-width"] == "320" and response.headers["x-height"] == "214"
    assert int(response.headers["x-foreground-width"]) > 0
    for header in ("x-foreground-top", "x-foreground-left", "x-foreground-height"):
        assert header in response.headers

    assert count_rows(app, Job) == 0
    assert stored_files(app) == []
    assert app.client.get("/api/v1/jobs", headers=account.headers).json()["total"] == 0
    # Only the anonymous counter remembers that something was processed.
    assert count_rows(app, UsageDaily) == 1


def test_another_users_job_ids_are_not_found_on_every_endpoint(app: JobsApp, photo: bytes) -> None:
    owner, other = app.account(), app.account()
    job = app.wait(owner, app.submit(owner, photo)["id"])
    missing = "0" * 32
    endpoints = [
        ("get", "/api/v1/jobs/{id}"),
        ("get", "/api/v1/jobs/{id}/result"),
        ("get", "/api/v1/jobs/{id}/original"),
        ("delete", "/api/v1/jobs/{id}"),
    ]
    for method, template in endpoints:
        foreign = app.client.request(method, template.format(id=job["id"]), headers=other.headers)
        absent = app.client.request(method, template.format(id=missing), headers=other.headers)
        assert foreign.status_code == 404, (method, template)
        assert foreign.json() == absent.json()
        assert foreign.json()["errors"][0]["code"] == "job_not_found"
    assert app.client.get("/api/v1/jobs", headers=other.headers).json()["data"] == []
    # Still there for its owner.
    assert app.wait(owner, job["id"])["status"] == "done"


def test_an_api_key_without_the_images_scope_is_refused(app: JobsApp, photo: bytes) -> None:
    owner = app.account()
    job = app.wait(owner, app.submit(owner, photo)["id"])
    account_only = app.account(scopes=["account"])
    requests = [
        ("post", "/api/v1/jobs"),
        ("get", "/api/v1/jobs"),
        ("get", f"/api/v1/jobs/{job['id']}"),
        ("get", f"/api/v1/jobs/{job['id']}/result"),
        ("get", f"/api/v1/jobs/{job['id']}/original"),
        ("delete", f"/api/v1/jobs/{job['id']}"),
    ]
    for method, path in requests:
        kwargs: dict[str, Any] = {}
        if method == "post":
            kwargs["files"] = {"image_file": ("a.jpg", photo, "image/jpeg")}
        response = app.client.request(method, path, headers=account_only.headers, **kwargs)
        assert response.status_code == 403, (method, path)
        assert response.json()["errors"][0]["code"] == "forbidden"
        anonymous = app.client.request(method, path, **kwargs)
        assert anonymous.status_code in (401, 403), (method, path)
    assert count_rows(app, Job) == 1


def test_bad_input_gets_json_errors_and_stores_nothing(tmp_path: Path, photo: bytes) -> None:
    settings = job_settings(tmp_path / "data", max_upload_mb=0.05, max_megapixels=0.05)
    for app in jobs_app(settings):
        account = app.account()
        big_photo = small_photo(400, 300, "PNG")  # 0.12 MP, over 0.05 MP
        cases: list[tuple[dict[str, Any], int, str]] = [
            (
                {"files": {"image_file": ("a.txt", b"hello, not an image", "text/plain")}},
                400,
                "invalid_file_type",
            ),
            ({"files": {"image_file": ("a.png", b"", "image/png")}}, 400, "failed_to_read_image"),
            (
                {"files": {"image_file": ("a.jpg", b"\0" * 60_000, "image/jpeg")}},
                413,
                "file_too_large",
            ),
            (
                {
                    "files": {
                        "image_file": ("a.png", small_photo(300, 200, "PNG")[:20], "image/png")
                    }
                },
                400,
                "failed_to_read_image",
            ),
            (
                {
                    "files": {"image_file": ("big.png", b"x", "image/png")},
                    "data": {"bg_color": "nope"},
                },
                400,
                "invalid_bg_color",
            ),
            (
                {
                    "files": {"image_file": ("a.jpg", photo, "image/jpeg")},
                    "data": {"crop": "maybe"},
                },
                400,
                "invalid_crop",
            ),
            (
                {
                    "files": {"image_file": ("a.jpg", photo, "image/jpeg")},
                    "data": {"model": "nope"},
                },
                400,
                "unknown_model",
            ),
            (
                {
                    "files": {"image_file": ("a.jpg", photo, "image/jpeg")},
                    "data": {"colour": "red"},
                },
                400,
                "unknown_parameter",
            ),
            ({"data": {"format": "png"}}, 400, "missing_source"),
            ({"json": {"image_file_b64": "***"}}, 400, "invalid_input"),
            ({"json": {"format": "png"}}, 400, "missing_source"),
        ]
        if len(big_photo) <= 0.05 * 1024 * 1024:
            cases.append(
                (
                    {"files": {"image_file": ("big.png", big_photo, "image/png")}},
                    400,
                    "resolution_too_high",
                )
            )
        for kwargs, status, code in cases:
            response = app.client.post("/api/v1/jobs", headers=account.headers, **kwargs)
            assert response.status_code == status, (code, response.text)
            assert response.json()["errors"][0]["code"] == code, response.text
        assert count_rows(app, Job) == 0
        assert stored_files(app) == []


def test_the_result_is_409_until_done_and_410_once_expired(tmp_path: Path, photo: bytes) -> None:
    # No executor: the job stays queued.
    for app in jobs_app(job_settings(tmp_path / "data", executor="none")):
        account = app.account()
        job = app.submit(account, photo)
        pending = app.client.get(job["result_url"], headers=account.headers)
        assert pending.status_code == 409
        assert pending.json()["errors"][0]["code"] == "job_not_ready"

        run(app.services, lambda ctx, job_id=job["id"]: jobs.expire_job(ctx, job_id))
        assert app.wait(account, job["id"])["status"] == "expired"
        for url in (job["result_url"], job["original_url"]):
            gone = app.client.get(url, headers=account.headers)
            assert gone.status_code == 410
            assert gone.json()["errors"][0]["code"] == "job_expired"
        assert stored_files(app) == []


def test_a_done_job_past_its_expiry_time_is_gone_even_before_the_sweep(
    app: JobsApp, photo: bytes
) -> None:
    account = app.account()
    job = app.wait(account, app.submit(account, photo)["id"])
    assert app.client.get(job["result_url"], headers=account.headers).status_code == 200
    with app.services.engine.begin() as connection:
        connection.execute(update(Job).where(Job.id == job["id"]).values(expires_at=Job.created_at))
    assert app.client.get(job["result_url"], headers=account.headers).status_code == 410
    assert app.client.get(job["original_url"], headers=account.headers).status_code == 410
    assert app.wait(account, job["id"])["seconds_until_expiry"] == 0


def test_jobs_are_listed_newest_first_page_by_page(tmp_path: Path, photo: bytes) -> None:
    for app in jobs_app(job_settings(tmp_path / "data", executor="none")):
        account = app.account()
        ids = [app.submit(account, photo)["id"] for _ in range(5)]
        first = app.client.get(
            "/api/v1/jobs", params={"per_page": 2}, headers=account.headers
        ).json()
        assert first["total"] == 5 and first["page"] == 1 and first["per_page"] == 2
        assert [job["id"] for job in first["data"]] == ids[::-1][:2]
        last = app.client.get(
            "/api/v1/jobs", params={"page": 3, "per_page": 2}, headers=account.headers
        ).json()
        assert [job["id"] for job in last["data"]] == [ids[0]]
        too_many = app.client.get(
            "/api/v1/jobs", params={"per_page": 1000}, headers=account.headers
        )
        assert too_many.status_code == 400 and too_many.json()["errors"]


def test_delete_removes_the_job_and_its_images_now(app: JobsApp, photo: bytes) -> None:
    account = app.account()
    job = app.wait(account, app.submit(account, photo)["id"])
    assert len(stored_files(app)) == 2  # original and result
    deleted = app.client.delete(f"/api/v1/jobs/{job['id']}", headers=account.headers)
    assert deleted.status_code == 204
    assert stored_files(app) == []
    assert app.client.get(f"/api/v1/jobs/{job['id']}", headers=account.headers).status_code == 404
    assert count_rows(app, Job) == 0


def test_browser_session_needs_the_csrf_header_to_submit(app: JobsApp, photo: bytes) -> None:
    account = app.account("grace@example.org")
    login_page = app.client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page)
    assert token
    signed_in = app.client.post(
        "/login",
        data={"csrf_token": token.group(1), "email": account.email, "password": PASSWORD},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    upload = {"image_file": ("a.jpg", photo, "image/jpeg")}
    forged = app.client.post("/api/v1/jobs", files=upload, data={"csrf_token": token.group(1)})
    assert forged.status_code == 403 and forged.json()["errors"][0]["code"] == "csrf_failed"
    csrf = app.client.cookies["csrf-token"]
    accepted = app.client.post("/api/v1/jobs", files=upload, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 202, accepted.text
    listed = app.client.get("/api/v1/jobs").json()
    assert [job["id"] for job in listed["data"]] == [accepted.json()["id"]]


def test_openapi_docs_are_served_without_any_cdn(app: JobsApp) -> None:
    page = app.client.get("/docs")
    assert page.status_code == 200
    assert "http" not in page.text  # every asset from this origin
    for asset in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        response = app.client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 100
    schema = app.client.get("/openapi.json").json()
    assert {"/api/v1/jobs", "/api/v1/jobs/{job_id}", "/api/v1/jobs/{job_id}/result"} <= set(
        schema["paths"]
    )
    body = schema["paths"]["/api/v1/jobs"]["post"]["requestBody"]["content"]
    assert "image_file" in body["multipart/form-data"]["schema"]["properties"]
    assert "image_file_b64" in body["application/json"]["schema"]["properties"]
    assert app.client.get("/docs/assets/../../secrets.json").status_code == 404


@pytest.mark.parametrize("region", ["eu", "us"])
def test_a_job_is_stored_in_its_owners_region(tmp_path: Path, photo: bytes, region: str) -> None:
    for app in jobs_app(job_settings(tmp_path / "data")):
        account = app.account(region=region)
        job = app.wait(account, app.submit(account, photo)["id"])
        assert job["region"] == region and job["status"] == "done"
        other = "us" if region == "eu" else "eu"
        root = app.settings.data_dir / "storage"
        assert len([p for p in (root / region).rglob("*") if p.is_file()]) == 2
        assert not (root / other).exists() or not any(
            p.is_file() for p in (root / other).rglob("*")
        )


def test_an_image_that_breaks_after_its_header_fails_its_job_with_the_engines_code(
    app: JobsApp,
) -> None:
    account = app.account()
    truncated = small_photo(200, 150, "PNG")[:400]
    job = app.wait(account, app.submit(account, truncated)["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "failed_to_read_image"
    assert job["error"]["title"] and job["error"]["detail"]
    failed = app.client.get(f"/api/v1/jobs/{job['id']}/result", headers=account.headers)
    assert failed.status_code == 409


@pytest.mark.parametrize(
    "params",
    [
        {"page": "999999999999999999"},
        {"page": str(2**63)},
        {"page": str(jobs.MAX_PAGE + 1)},
        {"page": "0"},
        {"page": "-1"},
        {"per_page": "0"},
        {"per_page": str(jobs.MAX_PER_PAGE + 1)},
        {"per_page": "99999999999999999999"},
    ],
)
def test_paging_out_of_bounds_is_a_400_on_every_database(
    app_on_database: JobsApp, params: dict[str, str]
) -> None:
    """Offsets past what the database's integers hold were a 500 (an overflow)."""
    account = app_on_database.account()
    response = app_on_database.client.get("/api/v1/jobs", params=params, headers=account.headers)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["code"] == "invalid_input"


def test_the_last_allowed_page_is_empty_not_an_error(app_on_database: JobsApp) -> None:
    account = app_on_database.account()
    response = app_on_database.client.get(
        "/api/v1/jobs",
        params={"page": str(jobs.MAX_PAGE), "per_page": str(jobs.MAX_PER_PAGE)},
        headers=account.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == []


def test_a_job_keeps_the_quality_it_was_asked_for_or_the_servers_default(
    app: JobsApp, photo: bytes
) -> None:
    account = app.account()
    asked = app.client.post(
        "/api/v1/jobs",
        headers=account.headers,
        files={"image_file": ("a.jpg", photo, "image/jpeg")},
        data={"quality": "best"},
    )
    assert asked.status_code == 202, asked.text
    default = app.client.post(
        "/api/v1/jobs",
        headers=account.headers,
        files={"image_file": ("b.jpg", photo, "image/jpeg")},
    )
    assert default.status_code == 202, default.text
    best = app.wait(account, asked.json()["id"])
    plain = app.wait(account, default.json()["id"])
    assert best["status"] == plain["status"] == "done"
    assert best["options"]["quality"] == "best"
    # Stored resolved, so a later change of the server's default does not change the job.
    assert plain["options"]["quality"] == app.settings.default_quality == "balanced"
    # The server's default_model (U²-Netp here) replaces the presets' models.
    assert best["model"] == plain["model"] == "u2netp"
    refused = app.client.post(
        "/api/v1/jobs",
        headers=account.headers,
        files={"image_file": ("c.jpg", photo, "image/jpeg")},
        data={"quality": "ultra"},
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "invalid_quality"
