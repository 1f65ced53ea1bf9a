"""The job state machine and the worker's steps, on SQLite and the real PostgreSQL."""

from __future__ import annotations

import io
import threading
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from clearcutout.db.models import Job, UsageDaily, User
from clearcutout.engine import CutoutOptions
from clearcutout.engine.compose import Box
from clearcutout.errors import (
    DecryptionError,
    IllegalTransitionError,
    JobExpiredError,
    ObjectNotFoundError,
    StorageError,
    UnsupportedImageError,
)
from clearcutout.service import accounts, jobs
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import objects
from clearcutout.service.infra.userkeys import destroy_user_key
from clearcutout.service.jobs.usage import usage_rows
from tests.conftest import Services
from tests.support.jobs import PASSWORD, small_photo
from tests.support.service import Clock, run

S = jobs.JobStatus


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def owner(services: Services) -> User:
    return run(
        services,
        lambda ctx: accounts.create_user_as_operator(
            ctx, email="ada@example.org", name="Ada", password=PASSWORD
        ),
    )


def submit(services: Services, owner: User, clock: Clock) -> str:
    info = run(
        services,
        lambda ctx: jobs.submit(ctx, owner, small_photo(64, 48), CutoutOptions(), model="u2netp"),
        clock,
    )
    return info.id


def status(services: Services, job_id: str) -> Job:
    with services.engine.connect() as connection:
        row = connection.execute(select(Job).where(Job.id == job_id)).one()
    return row  # type: ignore[no-any-return]


def fake_output() -> jobs.JobOutput:
    buffer = io.BytesIO()
    Image.new("RGBA", (64, 48), (10, 20, 30, 128)).save(buffer, format="PNG")
    return jobs.JobOutput(
        png=buffer.getvalue(),
        width=64,
        height=48,
        foreground=Box(left=1, top=2, width=30, height=20),
        timings={"inference": 0.1},
    )


def done_count(services: Services) -> int:
    with services.engine.connect() as connection:
        total = connection.scalar(
            select(func.coalesce(func.sum(UsageDaily.count), 0)).where(UsageDaily.outcome == "done")
        )
    return int(total or 0)


def test_the_state_machine_allows_exactly_the_documented_moves() -> None:
    assert {
        S.QUEUED: {S.RUNNING, S.EXPIRED},
        S.RUNNING: {S.DONE, S.FAILED, S.QUEUED, S.EXPIRED},
        S.DONE: {S.EXPIRED},
        S.FAILED: {S.QUEUED, S.EXPIRED},  # the owner retries a failed job
        S.EXPIRED: set(),
    } == jobs.TRANSITIONS


@pytest.mark.parametrize(
    ("source", "target"),
    [(source, target) for source in S for target in S if target not in jobs.TRANSITIONS[source]],
)
def test_an_illegal_move_is_refused_and_changes_nothing(
    services: Services, owner: User, clock: Clock, source: S, target: S
) -> None:
    job_id = submit(services, owner, clock)
    with pytest.raises(IllegalTransitionError):
        run(services, lambda ctx: jobs.transition(ctx, job_id, source, target))
    assert status(services, job_id).status == "queued"


def test_a_move_from_the_wrong_state_does_not_happen(
    services: Services, owner: User, clock: Clock
) -> None:
    job_id = submit(services, owner, clock)
    moved = run(services, lambda ctx: jobs.transition(ctx, job_id, S.RUNNING, S.DONE))
    assert moved is False
    assert status(services, job_id).status == "queued"


def test_a_queued_job_is_claimed_by_exactly_one_of_many_workers(
    services: Services, owner: User, clock: Clock
) -> None:
    job_id = submit(services, owner, clock)
    wins: list[str] = []
    barrier = threading.Barrier(6)

    def worker(name: str) -> None:
        barrier.wait()
        if run(services, lambda ctx: jobs.claim(ctx, job_id, lease_owner=name), clock):
            wins.append(name)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    row = status(services, job_id)
    assert row.status == "running" and row.lease_owner == wins[0] and row.attempts == 1


def test_a_worker_that_lost_its_lease_cannot_finish_the_job(
    services: Services, owner: User, clock: Clock
) -> None:
    job_id = submit(services, owner, clock)
    assert run(services, lambda ctx: jobs.claim(ctx, job_id, lease_owner="a"), clock)
    work_a = run(services, lambda ctx: jobs.load_claimed(ctx, job_id, lease_owner="a"), clock)
    assert work_a is not None and work_a.original == small_photo(64, 48)

    # Worker a stops renewing (it hangs or died): its lease runs out, the job is queued again.
    clock.advance(seconds=services.settings.job_lease_seconds + 1)
    assert run(services, jobs.requeue_stale, clock) == 1
    assert status(services, job_id).status == "queued"
    assert run(services, lambda ctx: jobs.claim(ctx, job_id, lease_owner="b"), clock)
    assert not run(services, lambda ctx: jobs.renew_lease(ctx, job_id, lease_owner="a"), clock)
    work_b = run(services, lambda ctx: jobs.load_claimed(ctx, job_id, lease_owner="b"), clock)
    assert work_b is not None

    def finish(work: jobs.ClaimedJob, who: str) -> bool:
        return run(
            services,
            lambda ctx: jobs.complete(ctx, work, fake_output(), lease_owner=who, seconds=0.7),
            clock,
        )

    assert finish(work_b, "b") is True
    assert finish(work_a, "a") is False  # late, and discarded
    assert finish(work_b, "b") is False  # and nobody finishes twice
    row = status(services, job_id)
    assert row.status == "done" and row.attempts == 2 and row.result_key == work_b.result_key
    assert done_count(services) == 1
    store = objects.region_store(services.settings, "eu")
    assert not store.exists(work_a.result_key)  # the late result was removed
    result = run(services, lambda ctx: jobs.result(ctx, owner, job_id, image_format="png"), clock)
    assert result.width == 64 and result.foreground == Box(left=1, top=2, width=30, height=20)


def test_a_job_that_keeps_killing_its_worker_is_given_up(
    services: Services, owner: User, clock: Clock
) -> None:
    job_id = submit(services, owner, clock)
    for attempt in range(1, services.settings.job_max_attempts + 1):
        assert run(services, lambda ctx: jobs.claim(ctx, job_id, lease_owner="w"), clock)
        assert status(services, job_id).attempts == attempt
        clock.advance(seconds=services.settings.job_lease_seconds + 1)
        run(services, jobs.requeue_stale, clock)
    row = status(services, job_id)
    assert row.status == "failed" and row.error_code == "job_abandoned"
    with services.engine.connect() as connection:
        assert (
            connection.scalar(select(UsageDaily.count).where(UsageDaily.outcome == "failed")) == 1
        )


def test_a_transient_failure_waits_its_back_off_and_keeps_the_larger_allowance(
    services: Services, owner: User, clock: Clock
) -> None:
    settings = services.settings
    job_id = submit(services, owner, clock)
    outage = StorageError("Object storage failed to read an object: ReadTimeoutError.")
    for attempt in range(1, settings.job_max_attempts + 1):
        assert run(services, lambda ctx: jobs.claim(ctx, job_id, lease_owner="w"), clock)
        requeued = run(
            services,
            lambda ctx: jobs.retry_or_fail(
                ctx, jobs.HeldRun(job_id, "w", region="eu", model="u2netp", seconds=0), outage
            ),
            clock,
        )
        assert requeued
        row = status(services, job_id)
        ceiling = min(
            settings.job_retry_max_seconds, settings.job_retry_base_seconds * 2 ** (attempt - 1)
        )
        wait = (row.not_before - clock.now).total_seconds()
        assert ceiling / 2 <= wait <= ceiling
        # Not due yet: no claim takes it.
        assert not run(services, lambda ctx: jobs.claim(ctx, job_id, lease_owner="w"), clock)
        assert (
            run(services, lambda ctx: jobs.claim_next(ctx, lease_owner="w", regions=["eu"]), clock)
            is None
        )
        clock.advance(seconds=wait + 1)
    # Past job_max_attempts, the worker dies: the job had been waiting out an outage, so
    # it goes back to the queue instead of being given up.
    assert run(services, lambda ctx: jobs.claim(ctx, job_id, lease_owner="w"), clock)
    clock.advance(seconds=settings.job_lease_seconds + 1)
    assert run(services, jobs.requeue_stale, clock) == 1
    assert status(services, job_id).status == "queued"
    # A bad image fails at once, whatever the attempts left.
    assert run(services, lambda ctx: jobs.claim(ctx, job_id, lease_owner="w"), clock)
    run(
        services,
        lambda ctx: jobs.retry_or_fail(
            ctx,
            jobs.HeldRun(job_id, "w", region="eu", model="u2netp", seconds=0),
            UnsupportedImageError("Not an image."),
        ),
        clock,
    )
    assert status(services, job_id).status == "failed"


def test_expiry_deletes_the_objects_and_only_of_jobs_past_their_time(
    services: Services, owner: User, clock: Clock
) -> None:
    old = submit(services, owner, clock)
    clock.advance(days=1)
    young = submit(services, owner, clock)
    clock.advance(days=services.settings.retention_days - 1, minutes=1)
    assert run(services, jobs.expire_due, clock) == 1
    assert run(services, jobs.expire_due, clock) == 0  # idempotent
    assert status(services, old).status == "expired"
    assert status(services, old).original_key is None
    assert status(services, young).status == "queued"
    store = objects.region_store(services.settings, "eu")
    keys = sorted(store.iter_keys(objects.user_prefix(owner.id)))
    assert keys == [objects.job_object_key(owner.id, young, "original")]
    with pytest.raises(JobExpiredError):
        run(services, lambda ctx: jobs.original(ctx, owner, old), clock)
    with pytest.raises(IllegalTransitionError):
        run(services, lambda ctx: jobs.transition(ctx, old, S.EXPIRED, S.QUEUED), clock)


def test_a_sealed_object_opens_only_for_its_owner_key_and_place(
    services: Services, owner: User, clock: Clock
) -> None:
    job_id = submit(services, owner, clock)
    key = objects.job_object_key(owner.id, job_id, "original")
    store = objects.region_store(services.settings, "eu")
    blob = store.get(key)
    assert blob.startswith(objects.MAGIC)
    assert small_photo(64, 48) not in blob

    def read(ctx: ServiceContext, object_key: str, owner_id: str) -> bytes:
        return objects.get_object(ctx, owner_id=owner_id, region="eu", object_key=object_key)

    assert run(services, lambda ctx: read(ctx, key, owner.id)) == small_photo(64, 48)
    moved = objects.job_object_key(owner.id, "f" * 32, "original")
    store.put(moved, blob)
    with pytest.raises(DecryptionError):
        run(services, lambda ctx: read(ctx, moved, owner.id))
    other: Any = run(
        services,
        lambda ctx: accounts.create_user_as_operator(
            ctx, email="eve@example.org", name="Eve", password=PASSWORD
        ),
    )
    with pytest.raises(DecryptionError):
        run(services, lambda ctx: read(ctx, key, other.id))

    # Crypto-shredding: without the user's key nothing of theirs opens again.
    run(services, lambda ctx: destroy_user_key(ctx, owner.id))
    with pytest.raises(Exception, match="no longer exists"):
        run(services, lambda ctx: read(ctx, key, owner.id))


def test_deleting_a_job_removes_every_object_of_it(
    services: Services, owner: User, clock: Clock
) -> None:
    job_id = submit(services, owner, clock)
    run(services, lambda ctx: jobs.claim(ctx, job_id, lease_owner="w"), clock)
    work = run(services, lambda ctx: jobs.load_claimed(ctx, job_id, lease_owner="w"), clock)
    assert work is not None
    run(services, lambda ctx: jobs.complete(ctx, work, fake_output(), lease_owner="w", seconds=1))
    store = objects.region_store(services.settings, "eu")
    assert len(list(store.iter_keys(objects.user_prefix(owner.id)))) == 2
    run(services, lambda ctx: jobs.delete_job(ctx, owner, job_id), clock)
    assert list(store.iter_keys(objects.user_prefix(owner.id))) == []
    with pytest.raises(ObjectNotFoundError):
        store.get(work.result_key)
    assert run(services, lambda ctx: usage_rows(ctx.db))[0].count == 1


def test_expires_at_follows_the_retention_setting(
    services: Services, owner: User, clock: Clock
) -> None:
    job_id = submit(services, owner, clock)
    row = status(services, job_id)
    assert row.expires_at - row.created_at == timedelta(days=30)
    assert services.settings.retention_days == 30
