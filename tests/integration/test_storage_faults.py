"""Object storage faults on a real S3 server (SeaweedFS, its own process for this module):
a frozen server (SIGSTOP) neither hangs requests nor fails jobs for good.

While the server hangs, every request that needs storage answers a JSON 503 with
``Retry-After`` within the storage timeouts, naming neither endpoint nor bucket, and a
job that meets the fault waits out a back-off instead of using up its attempts. Once the
server is back and the job is due, it finishes with the right image.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from clearcutout.db.models import Job, User
from clearcutout.engine import CutoutOptions
from clearcutout.service import jobs
from clearcutout.service.runtime import Runtime
from clearcutout.web import create_app
from clearcutout.workers.tasks import run_job
from tests.conftest import Services
from tests.support.database import migrate
from tests.support.faults import frozen, weed_pid
from tests.support.jobs import JOBS_BUCKET, Account, job_settings, make_account, s3_regions
from tests.support.seaweedfs import SeaweedFS, start_seaweedfs
from tests.support.service import Clock

# Each storage call: 1 s to connect, 1 s to read, two tries; a request makes a few.
ANSWER_WITHIN_S = 12.0


@pytest.fixture(scope="module")
def weed() -> Iterator[SeaweedFS]:
    with start_seaweedfs() as server:
        yield server


@pytest.fixture
def runtime(tmp_path: Path, weed: SeaweedFS) -> Iterator[Runtime]:
    settings = job_settings(
        tmp_path / "data",
        regions=s3_regions(weed, tmp_path.name),
        executor="none",
        storage_connect_timeout_s=1.0,
        storage_read_timeout_s=1.0,
        job_retry_base_seconds=30.0,
        job_retry_max_seconds=120.0,
    )
    migrate(settings)
    with Runtime.from_settings(settings) as runtime:
        runtime.clock = Clock()
        yield runtime


def _account(runtime: Runtime) -> Account:
    services = Services(settings=runtime.settings, engine=runtime.engine, keyring=runtime.keyring)
    return make_account(services, "grace@example.org")


def _submit(runtime: Runtime, account: Account, photo: bytes) -> str:
    with runtime.unit_of_work() as ctx:
        user = ctx.db.get(User, account.user_id)
        assert user is not None
        return jobs.submit(ctx, user, photo, CutoutOptions(), model="u2netp").id


def _work_one(runtime: Runtime) -> tuple[str, str] | None:
    with runtime.unit_of_work() as ctx:
        job_id = jobs.claim_next(ctx, lease_owner="w1", regions=["eu", "us"])
    if job_id is None:
        return None
    return job_id, run_job(runtime, job_id, lease_owner="w1")


def _rows(runtime: Runtime) -> dict[str, Job]:
    with runtime.unit_of_work() as ctx:
        return {job.id: job for job in ctx.db.scalars(select(Job))}


def _assert_unavailable(response: object, weed: SeaweedFS) -> None:
    assert response.status_code == 503, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/json")  # type: ignore[attr-defined]
    assert int(response.headers["retry-after"]) > 0  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["errors"][0]["code"] == "storage_unavailable"
    text = response.text  # type: ignore[attr-defined]
    port = weed.endpoint_url.rsplit(":", 1)[1]
    for secret in (JOBS_BUCKET, "127.0.0.1", port, "s3://"):
        assert secret not in text


def test_a_frozen_s3_answers_503_in_time_and_jobs_wait_it_out(
    runtime: Runtime, weed: SeaweedFS, photo: bytes
) -> None:
    account = _account(runtime)
    finished = _submit(runtime, account, photo)
    assert _work_one(runtime) == (finished, "done")
    waiting = [_submit(runtime, account, photo) for _ in range(3)]
    clock = runtime.clock
    assert isinstance(clock, Clock)

    web = create_app(runtime.settings)
    web.state.runtime.clock = clock
    try:
        with TestClient(web) as client, frozen(weed_pid(weed.log_path)):
            started = time.monotonic()
            download = client.get(f"/api/v1/jobs/{finished}/result", headers=account.headers)
            assert time.monotonic() - started < ANSWER_WITHIN_S
            _assert_unavailable(download, weed)

            started = time.monotonic()
            upload = client.post(
                "/api/v1/jobs",
                headers=account.headers,
                files={"image_file": ("a.jpg", photo, "image/jpeg")},
            )
            assert time.monotonic() - started < ANSWER_WITHIN_S
            _assert_unavailable(upload, weed)

            outcomes = []
            for _ in waiting:
                started = time.monotonic()
                outcomes.append(_work_one(runtime))
                assert time.monotonic() - started < ANSWER_WITHIN_S
            # Each met the fault once and went back to the queue, due later.
            assert sorted(o for o in outcomes if o) == sorted((j, "requeued") for j in waiting)
            assert _work_one(runtime) is None  # none is due yet: no burnt attempts
    finally:
        web.state.runtime.close()

    rows = _rows(runtime)
    for job_id in waiting:
        row = rows[job_id]
        assert row.status == "queued"
        assert row.error_code == "storage_unavailable"
        assert row.not_before is not None
        # Between half and all of the first back-off (30 s).
        assert 15 <= (row.not_before - clock.now).total_seconds() <= 30
    assert len(rows) == 4  # the refused upload left no job

    clock.advance(seconds=31)
    done = []
    while (outcome := _work_one(runtime)) is not None:
        done.append(outcome)
    assert sorted(done) == sorted((j, "done") for j in waiting)
    rows = _rows(runtime)
    assert {row.status for row in rows.values()} == {"done"}
    with runtime.unit_of_work() as ctx:
        user = ctx.db.get(User, account.user_id)
        assert user is not None
        for job_id in waiting:
            assert rows[job_id].attempts == 2
            cutout = jobs.result(ctx, user, job_id, image_format="png")
            with Image.open(io.BytesIO(cutout.image.data)) as image:
                assert image.mode == "RGBA"
                assert image.size == (320, 214)
                alpha = image.getchannel("A")
                assert alpha.getextrema() == (0, 255)  # a cutout, not a blank or a copy
