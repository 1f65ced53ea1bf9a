"""``dispatch_queued`` and the worker heartbeats, on SQLite and the real PostgreSQL.

The broker is the boundary here: ``send`` records what would be published, and the
database — the source of truth — is checked with the real state machine.
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import sessionmaker

from clearcutout.db.models import User
from clearcutout.engine import CutoutOptions
from clearcutout.service import accounts, jobs
from clearcutout.service.jobs import queue
from clearcutout.service.runtime import Runtime
from clearcutout.workers.tasks import dispatch_queued
from tests.conftest import Services
from tests.support.jobs import PASSWORD, small_photo
from tests.support.service import Clock, run


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runtime(services: Services, clock: Clock) -> Runtime:
    return Runtime(
        settings=services.settings.model_copy(
            update={"redispatch_after_seconds": 60.0, "job_lease_seconds": 30.0}
        ),
        engine=services.engine,
        sessions=sessionmaker(bind=services.engine, expire_on_commit=False),
        keyring=services.keyring,
        clock=clock,
    )


@pytest.fixture
def owner(services: Services) -> User:
    return run(
        services,
        lambda ctx: accounts.create_user_as_operator(
            ctx, email="grace@example.org", name="Grace", password=PASSWORD, region="us"
        ),
    )


def _submit(runtime: Runtime, owner: User) -> str:
    with runtime.unit_of_work() as ctx:
        info = jobs.submit(ctx, owner, small_photo(64, 48), CutoutOptions(), model="u2netp")
    return info.id


def test_queued_jobs_are_handed_over_once_then_again_when_still_queued_later(
    runtime: Runtime, owner: User, clock: Clock
) -> None:
    job_id = _submit(runtime, owner)
    sent: list[tuple[str, str]] = []

    assert dispatch_queued(runtime, lambda job, region: sent.append((job, region))) == 1
    assert sent == [(job_id, "us")]  # on its own region's queue
    # Handed over recently: not again (the message is probably on its way).
    assert dispatch_queued(runtime, lambda job, region: sent.append((job, region))) == 0
    clock.advance(seconds=61)
    # Still queued a minute later: the message was lost, so it is handed over again.
    assert dispatch_queued(runtime, lambda job, region: sent.append((job, region))) == 1
    assert sent == [(job_id, "us"), (job_id, "us")]


def test_a_dead_workers_job_is_queued_again_and_handed_over(
    runtime: Runtime, owner: User, clock: Clock
) -> None:
    job_id = _submit(runtime, owner)
    with runtime.unit_of_work() as ctx:
        jobs.mark_dispatched(ctx, [job_id])
        assert jobs.claim(ctx, job_id, lease_owner="dead-worker")
    sent: list[str] = []
    assert dispatch_queued(runtime, lambda job, region: sent.append(job)) == 0  # lease alive
    clock.advance(seconds=61)  # the lease ran out long ago
    assert dispatch_queued(runtime, lambda job, region: sent.append(job)) == 1
    assert sent == [job_id]
    with runtime.unit_of_work() as ctx:
        # The redelivered message claims it; a duplicate claim is refused (exactly once).
        assert jobs.claim(ctx, job_id, lease_owner="live-worker")
        assert not jobs.claim(ctx, job_id, lease_owner="duplicate-message")


def test_a_failed_hand_over_is_repaired_on_the_next_round(
    runtime: Runtime, owner: User, clock: Clock
) -> None:
    job_id = _submit(runtime, owner)

    def broker_down(job: str, region: str) -> None:
        raise ConnectionError("broker down")

    assert dispatch_queued(runtime, broker_down) == 0
    clock.advance(seconds=61)
    sent: list[str] = []
    assert dispatch_queued(runtime, lambda job, region: sent.append(job)) == 1
    assert sent == [job_id]


def test_heartbeats_say_which_regions_have_a_live_worker(runtime: Runtime, clock: Clock) -> None:
    with runtime.unit_of_work() as ctx:
        assert queue.alive_regions(ctx) == {"eu": 0, "us": 0}
        queue.beat(ctx, "host:1:a", region="eu", model_loaded=False)
        # A worker still loading its model does not count yet.
        assert queue.alive_regions(ctx) == {"eu": 0, "us": 0}
        queue.beat(ctx, "host:1:a", region="eu", model_loaded=True)
        assert queue.alive_regions(ctx) == {"eu": 1, "us": 0}
    clock.advance(seconds=runtime.settings.worker_heartbeat_seconds * 3 + 1)
    with runtime.unit_of_work() as ctx:
        assert queue.alive_regions(ctx) == {"eu": 0, "us": 0}  # missed three beats
        queue.beat(ctx, "host:2:b", region="eu", model_loaded=True)
        queue.forget_worker(ctx, "host:2:b")
        assert queue.alive_regions(ctx) == {"eu": 0, "us": 0}
