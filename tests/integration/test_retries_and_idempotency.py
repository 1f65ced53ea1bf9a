"""A client that resends an upload after losing the answer gets the job it already has
(``Idempotency-Key``), and an owner can queue a failed job again; on SQLite and the real
PostgreSQL, with the local executor running the jobs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from clearcutout.db.models import IdempotencyKey, Job
from clearcutout.errors import StorageError
from clearcutout.service import jobs
from tests.support.billing import LocalStripe, billing_settings
from tests.support.jobs import JobsApp, jobs_app, small_photo
from tests.support.service import run


def _post(app: JobsApp, headers: dict[str, str], data: bytes, key: str | None) -> object:
    extra = {"Idempotency-Key": key} if key else {}
    return app.client.post(
        "/api/v1/jobs",
        headers={**headers, **extra},
        files={"image_file": ("holiday.jpg", data, "image/jpeg")},
    )


def _job_count(app: JobsApp) -> int:
    return run(app.services, lambda ctx: ctx.db.scalar(select(func.count()).select_from(Job)))


def test_the_same_idempotency_key_answers_with_the_first_job(
    app_on_database: JobsApp, photo: bytes
) -> None:
    app = app_on_database
    account = app.account()
    first = _post(app, account.headers, photo, "upload-7f3a")
    assert first.status_code == 202, first.text  # type: ignore[attr-defined]
    again = _post(app, account.headers, photo, "upload-7f3a")
    assert again.status_code == 202  # type: ignore[attr-defined]
    assert again.json()["id"] == first.json()["id"]  # type: ignore[attr-defined]
    assert again.headers["idempotent-replayed"] == "true"  # type: ignore[attr-defined]
    assert _job_count(app) == 1

    # Another image under the same key is refused, not answered with the wrong job.
    other = _post(app, account.headers, small_photo(200, 150), "upload-7f3a")
    assert other.status_code == 422  # type: ignore[attr-defined]
    assert other.json()["errors"][0]["code"] == "idempotency_key_reused"  # type: ignore[attr-defined]
    # Without a key, or with another key, or as another person: a new job each time.
    assert _post(app, account.headers, photo, None).status_code == 202  # type: ignore[attr-defined]
    assert _post(app, account.headers, photo, "upload-other").status_code == 202  # type: ignore[attr-defined]
    stranger = app.account()
    assert _post(app, stranger.headers, photo, "upload-7f3a").json()["id"] != first.json()["id"]  # type: ignore[attr-defined]
    assert _job_count(app) == 4
    app.wait(account, first.json()["id"])  # type: ignore[attr-defined]


def test_concurrent_uploads_with_one_key_make_one_job(
    app_on_database: JobsApp, photo: bytes
) -> None:
    app = app_on_database
    account = app.account()
    barrier = threading.Barrier(4)
    answers: list[object] = []

    def send() -> None:
        barrier.wait()
        answers.append(_post(app, account.headers, photo, "same-key"))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [202] * 4  # type: ignore[attr-defined]
    assert len({a.json()["id"] for a in answers}) == 1  # type: ignore[attr-defined]
    assert _job_count(app) == 1
    rows = run(app.services, lambda ctx: ctx.db.scalars(select(IdempotencyKey)).all())
    assert len(rows) == 1 and "same-key" not in rows[0].key_hash  # only a hash is kept


def test_an_owner_retries_a_failed_job_and_it_finishes(
    app_on_database: JobsApp, photo: bytes
) -> None:
    app = app_on_database
    account = app.account()
    job_id = app.submit(account, photo)["id"]
    app.wait(account, job_id)

    # Make it a job that failed for good (out of attempts during an outage).
    def fail_it(ctx: object) -> None:
        row = ctx.db.get(Job, job_id)  # type: ignore[attr-defined]
        row.status, row.lease_owner = "running", "gone"
        ctx.db.flush()  # type: ignore[attr-defined]
        assert jobs.fail(
            ctx,  # type: ignore[arg-type]
            jobs.HeldRun(job_id, "gone", region=row.region, model=row.model, seconds=0.0),
            StorageError("Object storage failed to read an object: timeout."),
        )

    run(app.services, fail_it)
    failed = app.client.get(f"/api/v1/jobs/{job_id}", headers=account.headers).json()
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "storage_unavailable"

    stranger = app.account()
    assert (
        app.client.post(f"/api/v1/jobs/{job_id}/retry", headers=stranger.headers).status_code == 404
    )
    retried = app.client.post(f"/api/v1/jobs/{job_id}/retry", headers=account.headers)
    assert retried.status_code == 202, retried.text
    assert retried.json()["status"] == "queued"
    done = app.wait(account, job_id)
    assert done["status"] == "done"
    assert app.client.get(done["result_url"], headers=account.headers).status_code == 200
    # Only a failed job can be retried.
    again = app.client.post(f"/api/v1/jobs/{job_id}/retry", headers=account.headers)
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "job_not_retryable"


@pytest.fixture
def billed_app(tmp_path: Path, localstripe: LocalStripe, database_url: str) -> Iterator[JobsApp]:
    """Billing on, five credits a month: what a charge costs is visible in the balance."""
    settings = billing_settings(tmp_path / "data", localstripe.url, database_url=database_url)
    free = settings.billing.plans["free"].model_copy(update={"monthly_credits": 5})
    billing = settings.billing.model_copy(
        update={"plans": {**settings.billing.plans, "free": free}}
    )
    yield from jobs_app(settings.model_copy(update={"billing": billing}))


def test_removebg_with_a_repeated_key_answers_the_same_image_and_charges_once(
    billed_app: JobsApp, photo: bytes
) -> None:
    app = billed_app
    account = app.account()

    def credits() -> float:
        answer = app.client.get("/v1.0/account", headers=account.headers)
        assert answer.status_code == 200, answer.text
        return float(answer.json()["data"]["attributes"]["credits"]["total"])

    def call(key: str, data: bytes = photo) -> object:
        return app.client.post(
            "/v1.0/removebg",
            headers={**account.headers, "Idempotency-Key": key},
            files={"image_file": ("a.jpg", data, "image/jpeg")},
            data={"size": "full"},
        )

    before = credits()
    first = call("rb-1")
    assert first.status_code == 200, first.text  # type: ignore[attr-defined]
    again = call("rb-1")
    assert again.status_code == 200  # type: ignore[attr-defined]
    assert again.headers["idempotent-replayed"] == "true"  # type: ignore[attr-defined]
    assert again.content == first.content  # type: ignore[attr-defined]
    assert credits() == before - 1
    other = call("rb-1", small_photo(200, 150))
    assert other.status_code == 422  # type: ignore[attr-defined]
    assert other.json()["errors"][0]["code"] == "idempotency_key_reused"  # type: ignore[attr-defined]
    assert call("rb-2").status_code == 200  # type: ignore[attr-defined]
    assert credits() == before - 2
