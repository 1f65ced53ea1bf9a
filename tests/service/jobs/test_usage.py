"""Usage statistics are anonymous: nothing in them links back to a person or a job."""

from __future__ import annotations

import threading
from datetime import date

from sqlalchemy import inspect, select, text

from clearcutout.db.models import Job, UsageDaily
from clearcutout.service.jobs.usage import bucket_column, record_usage, usage_rows
from tests.conftest import Services
from tests.support.jobs import JobsApp
from tests.support.service import run

ALLOWED_COLUMNS = {
    "day",
    "region",
    "model",
    "outcome",
    "count",
    "seconds_total",
    "seconds_le_0_5",
    "seconds_le_1",
    "seconds_le_2",
    "seconds_le_5",
    "seconds_le_10",
    "seconds_le_30",
    "seconds_gt_30",
}


def test_the_usage_table_has_no_column_that_could_identify_anyone(app: JobsApp) -> None:
    inspector = inspect(app.services.engine)
    columns = {column["name"] for column in inspector.get_columns("usage_daily")}
    assert columns == ALLOWED_COLUMNS
    assert not inspector.get_foreign_keys("usage_daily")


def test_usage_rows_after_real_jobs_hold_nothing_that_links_to_a_user(
    app: JobsApp, photo: bytes
) -> None:
    ada, bob = app.account("ada@example.org"), app.account("bob@example.org")
    for account in (ada, bob):
        job = app.submit(account, photo)
        assert app.wait(account, job["id"])["status"] == "done"
    response = app.client.post(
        "/api/v1/jobs",
        headers=bob.headers,
        files={"image_file": ("bobs-passport.jpg", photo, "image/jpeg")},
        data={"store": "false"},
    )
    assert response.status_code == 200

    with app.services.engine.connect() as connection:
        job_ids = list(connection.scalars(select(Job.id)))
        raw_rows = connection.execute(text("SELECT * FROM usage_daily")).all()
    identifying = {
        ada.user_id,
        bob.user_id,
        "ada@example.org",
        "bob@example.org",
        "holiday photo.jpg",
        "bobs-passport.jpg",
        "testclient",
        "127.0.0.1",
        ada.api_key.rsplit("_", 1)[0],
        *job_ids,
    }
    values = [str(value) for row in raw_rows for value in row]
    for value in values:
        for secret in identifying:
            assert secret not in value, (secret, value)
    [row] = run(app.services, lambda ctx: usage_rows(ctx.db))
    assert (row.region, row.model, row.outcome, row.count) == ("eu", "u2netp", "done", 3)
    assert sum(row.histogram.values()) == 3 and row.seconds_total > 0


def test_counts_from_concurrent_workers_are_never_lost(services: Services) -> None:
    barrier = threading.Barrier(8)

    def count(seconds: float) -> None:
        barrier.wait()
        run(
            services,
            lambda ctx: record_usage(
                ctx.db, region="eu", model="u2net", outcome="done", seconds=seconds
            ),
        )

    threads = [threading.Thread(target=count, args=(0.3 * i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with services.engine.connect() as connection:
        row = connection.execute(select(UsageDaily)).one()
    assert row.count == 8
    assert row.seconds_le_0_5 == 2 and row.seconds_le_1 == 2 and row.seconds_le_2 == 3
    assert row.seconds_le_5 == 1
    assert isinstance(row.day, date)


def test_processing_times_fall_into_the_first_bucket_they_fit() -> None:
    assert bucket_column(0.0) == "seconds_le_0_5"
    assert bucket_column(0.5) == "seconds_le_0_5"
    assert bucket_column(0.51) == "seconds_le_1"
    assert bucket_column(29.9) == "seconds_le_30"
    assert bucket_column(31) == "seconds_gt_30"
