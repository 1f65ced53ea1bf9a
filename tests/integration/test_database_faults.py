"""Database faults against the real PostgreSQL (its connection cut and restored through a
TCP link) and the embedded SQLite (its write lock held by another connection).

Every answer during the fault is a JSON ``{"errors": …}`` 503 with ``Retry-After``; the
service recovers by itself afterwards; a job whose "done" write was lost finishes with
the result it already stored (no second run of the engine); a bookkeeping write (an API
key's "last used") that cannot be made never fails a read.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from clearcutout.config import Settings
from clearcutout.db import create_db_engine
from clearcutout.db.models import ApiKey, Job, User
from clearcutout.engine import CutoutOptions
from clearcutout.errors import DatabaseUnavailableError
from clearcutout.service import jobs
from clearcutout.service.infra import objects
from clearcutout.service.runtime import Runtime
from clearcutout.web import create_app
from clearcutout.workers.tasks import run_job
from tests.conftest import PgReset, Services
from tests.support.database import migrate, sqlite_file
from tests.support.faults import Link
from tests.support.jobs import Account, job_settings, make_account
from tests.support.service import Clock

ANSWER_WITHIN_S = 10.0


@pytest.fixture
def link(pg_schema_url: str, pg_reset: PgReset) -> Iterator[Link]:
    connection = Link(("127.0.0.1", 5432))
    try:
        yield connection
    finally:
        connection.close()
        pg_reset()


def _via(link: Link, pg_schema_url: str) -> str:
    return pg_schema_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{link.port}/")


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    settings = job_settings(tmp_path / "data", executor="none", **overrides)
    migrate(settings)
    return settings


def _account(runtime: Runtime, email: str = "hedy@example.org") -> Account:
    services = Services(settings=runtime.settings, engine=runtime.engine, keyring=runtime.keyring)
    return make_account(services, email)


def _assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["errors"][0]["code"] == "database_unavailable"


def test_a_lost_database_answers_json_503_everywhere_and_recovers(
    tmp_path: Path, link: Link, pg_schema_url: str, photo: bytes
) -> None:
    settings = _settings(tmp_path, database_url=_via(link, pg_schema_url))
    web = create_app(settings)
    try:
        with TestClient(web) as client:
            account = _account(web.state.runtime)
            created = client.post(
                "/api/v1/jobs",
                headers=account.headers,
                files={"image_file": ("a.jpg", photo, "image/jpeg")},
            )
            assert created.status_code == 202, created.text
            job_url = f"/api/v1/jobs/{created.json()['id']}"

            link.cut()
            calls = [
                lambda: client.get(job_url, headers=account.headers),
                lambda: client.get("/api/v1/jobs", headers=account.headers),
                lambda: client.post(
                    "/api/v1/jobs",
                    headers=account.headers,
                    files={"image_file": ("a.jpg", photo, "image/jpeg")},
                ),
                lambda: client.post(
                    "/v1.0/removebg",
                    headers=account.headers,
                    files={"image_file": ("a.jpg", photo, "image/jpeg")},
                ),
                lambda: client.get("/v1.0/account", headers=account.headers),
            ]
            for call in calls:
                started = time.monotonic()
                _assert_unavailable(call())
                assert time.monotonic() - started < ANSWER_WITHIN_S

            link.restore()
            assert client.get(job_url, headers=account.headers).status_code == 200
    finally:
        web.state.runtime.close()


def test_a_lost_done_write_finishes_with_the_stored_result_not_a_second_run(
    tmp_path: Path, link: Link, pg_schema_url: str, photo: bytes
) -> None:
    settings = _settings(tmp_path, database_url=_via(link, pg_schema_url))
    with Runtime.from_settings(settings) as runtime:
        clock = Clock()
        runtime.clock = clock
        account = _account(runtime)
        with runtime.unit_of_work() as ctx:
            user = ctx.db.get(User, account.user_id)
            assert user is not None
            job_id = jobs.submit(ctx, user, photo, CutoutOptions(), model="u2netp").id
            assert jobs.claim(ctx, job_id, lease_owner="w1")
        with runtime.unit_of_work() as ctx:
            claimed = jobs.load_claimed(ctx, job_id, lease_owner="w1")
        assert claimed is not None
        output = jobs.produce_result(jobs.remover_for(settings, "u2netp"), claimed)
        store = objects.region_store(settings, claimed.region)

        # Another connection (straight to the server) holds the job's row, so the "done"
        # UPDATE waits; once the result is stored, the database connection is cut.
        blocker = create_db_engine(pg_schema_url)
        failures: list[BaseException] = []

        def finish() -> None:
            try:
                with runtime.unit_of_work() as ctx:
                    jobs.complete(ctx, claimed, output, lease_owner="w1", seconds=1.0)
            except BaseException as exc:
                failures.append(exc)

        with blocker.connect() as held:
            held.execute(text("SELECT id FROM jobs WHERE id = :id FOR UPDATE"), {"id": job_id})
            worker = threading.Thread(target=finish)
            worker.start()
            deadline = time.monotonic() + 10
            while not store.exists(claimed.result_key):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            time.sleep(0.5)  # the UPDATE is on its way and waits for the row
            link.cut()
            worker.join(timeout=20)
            held.rollback()
        blocker.dispose()
        assert len(failures) == 1 and isinstance(failures[0], DatabaseUnavailableError)

        link.restore()
        clock.advance(seconds=settings.job_lease_seconds + 1)
        with runtime.unit_of_work() as ctx:
            assert jobs.requeue_stale(ctx) == 1
            again = jobs.claim_next(ctx, lease_owner="w2", regions=["eu", "us"])
        assert again == job_id
        assert run_job(runtime, job_id, lease_owner="w2") == "done"

        with runtime.unit_of_work() as ctx:
            row = ctx.db.get(Job, job_id)
            assert row is not None
            assert (row.status, row.attempts, row.result_key) == ("done", 2, claimed.result_key)
            assert (row.result_width, row.result_height) == (output.width, output.height)
        prefix = objects.job_object_key(account.user_id, job_id, "")
        # No second result: the engine did not run again.
        assert sorted(store.iter_keys(prefix)) == [prefix + "original", prefix + "result-1"]


# -- SQLite: another connection holds the write lock -------------------------------------


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[tuple[TestClient, Runtime, Path]]:
    settings = _settings(tmp_path, database_lock_timeout_s=1.0)
    database = sqlite_file(settings.effective_database_url)
    assert database is not None
    web = create_app(settings)
    try:
        with TestClient(web) as client:
            yield client, web.state.runtime, database
    finally:
        web.state.runtime.close()


def _hold_write_lock(database: Path, seconds: float) -> threading.Thread:
    ready = threading.Event()

    def hold() -> None:
        with closing(sqlite3.connect(database, isolation_level=None)) as connection:
            connection.execute("BEGIN IMMEDIATE")
            ready.set()
            time.sleep(seconds)
            connection.execute("ROLLBACK")

    thread = threading.Thread(target=hold)
    thread.start()
    assert ready.wait(5)
    return thread


def test_a_held_sqlite_lock_is_waited_for_then_answered_503_and_never_fails_a_read(
    sqlite_app: tuple[TestClient, Runtime, Path], photo: bytes
) -> None:
    client, runtime, database = sqlite_app
    account = _account(runtime)
    upload = {"image_file": ("a.jpg", photo, "image/jpeg")}

    # A lock held for less than the lock timeout is waited for.
    holder = _hold_write_lock(database, 0.4)
    created = client.post("/api/v1/jobs", headers=account.headers, files=upload)
    holder.join()
    assert created.status_code == 202, created.text
    job_url = f"/api/v1/jobs/{created.json()['id']}"
    with runtime.unit_of_work() as ctx:
        ctx.db.execute(update(ApiKey).values(last_used_at=None))

    # Held for longer: a write answers 503 in time; a read still answers, even though its
    # key's "last used" time is due for an update that cannot be written.
    holder = _hold_write_lock(database, 6.0)
    try:
        started = time.monotonic()
        refused = client.post("/api/v1/jobs", headers=account.headers, files=upload)
        assert time.monotonic() - started < 5.0
        _assert_unavailable(refused)
        status = client.get(job_url, headers=account.headers)
        assert status.status_code == 200, status.text
        assert status.json()["status"] == "queued"
    finally:
        holder.join()
    with runtime.unit_of_work() as ctx:
        assert len(ctx.db.scalars(select(Job)).all()) == 1
        assert ctx.db.scalar(select(ApiKey.last_used_at)) is None  # skipped, not failed
    client.get(job_url, headers=account.headers)
    with runtime.unit_of_work() as ctx:
        assert ctx.db.scalar(select(ApiKey.last_used_at)) is not None  # written once it can
