"""The queue as the scale-out tier sees it: which queued jobs to hand to the broker, the
workers' heartbeats, and the figures behind ``/readyz`` and ``/metrics``.

The database stays the source of truth (docs/scale-out.md): a broker message only says
"look at job X"; a worker still claims it through the state machine, so a message lost,
duplicated or delivered twice never loses or repeats a job. Nothing here is personal:
counts and ages per status, region and model.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update

from clearcutout.db.models import Job, WorkerHeartbeat
from clearcutout.service.context import ServiceContext
from clearcutout.service.jobs.statemachine import JobStatus

__all__ = [
    "QueueStats",
    "alive_regions",
    "beat",
    "due_for_dispatch",
    "forget_worker",
    "job_region",
    "mark_dispatched",
    "queue_stats",
]

# A region whose workers missed this many heartbeats in a row has none alive.
_MISSED_BEATS = 3


def job_region(ctx: ServiceContext, job_id: str) -> str | None:
    """The region of a queued job (whose queue it goes to); None when it is not queued."""
    return ctx.db.scalar(
        select(Job.region).where(Job.id == job_id, Job.status == JobStatus.QUEUED.value)
    )


def due_for_dispatch(ctx: ServiceContext, *, limit: int) -> list[tuple[str, str]]:
    """(job id, region) of queued jobs not handed to the broker recently, oldest first.

    Covers a message the broker lost, a job queued again for a retry or because its
    worker died, and a job whose hand-over failed after its commit. A job that is not yet
    due is refused by ``claim`` when the message arrives, and handed again later.
    """
    now = ctx.now()
    before = now - timedelta(seconds=ctx.settings.redispatch_after_seconds)
    rows = ctx.db.execute(
        select(Job.id, Job.region)
        .where(
            Job.status == JobStatus.QUEUED.value,
            Job.expires_at > now,
            or_(Job.dispatched_at.is_(None), Job.dispatched_at < before),
        )
        .order_by(Job.created_at, Job.id)
        .limit(limit)
    ).all()
    return [(row[0], row[1]) for row in rows]


def mark_dispatched(ctx: ServiceContext, job_ids: Collection[str]) -> None:
    """Note that these jobs were just handed to the broker (not a status change)."""
    if job_ids:
        ctx.db.execute(
            update(Job).where(Job.id.in_(list(job_ids))).values(dispatched_at=ctx.now()),
            execution_options={"synchronize_session": False},
        )


# -- worker heartbeats ----------------------------------------------------------------------


def beat(ctx: ServiceContext, worker_id: str, *, region: str, model_loaded: bool) -> None:
    """Record that ``worker_id`` (a worker process of ``region``) is alive now."""
    now = ctx.now()
    row = ctx.db.get(WorkerHeartbeat, worker_id)
    if row is None:
        row = WorkerHeartbeat(id=worker_id, region=region, started_at=now)
        ctx.db.add(row)
    row.seen_at = now
    row.model_loaded = model_loaded
    # Rows of workers gone long ago are noise: keep the table to the living and the recent.
    stale = now - timedelta(seconds=ctx.settings.worker_heartbeat_seconds * 100)
    ctx.db.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.seen_at < stale))
    ctx.db.flush()


def forget_worker(ctx: ServiceContext, worker_id: str) -> None:
    """A worker stopping cleanly removes its heartbeat at once."""
    ctx.db.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.id == worker_id))


def alive_regions(ctx: ServiceContext) -> dict[str, int]:
    """Worker processes alive per region (with a loaded model), every configured region."""
    since = ctx.now() - timedelta(seconds=ctx.settings.worker_heartbeat_seconds * _MISSED_BEATS)
    rows = ctx.db.execute(
        select(WorkerHeartbeat.region, func.count())
        .where(WorkerHeartbeat.seen_at >= since, WorkerHeartbeat.model_loaded.is_(True))
        .group_by(WorkerHeartbeat.region)
    ).all()
    alive = dict.fromkeys(ctx.settings.regions, 0)
    alive.update({row[0]: int(row[1]) for row in rows})
    return alive


# -- figures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueStats:
    """Jobs per (status, region), and the age of the oldest queued job per region."""

    by_status: dict[tuple[str, str], int]
    oldest_queued_s: dict[str, float]
    workers_alive: dict[str, int]


def queue_stats(ctx: ServiceContext) -> QueueStats:
    """The figures ``/metrics`` exports (one grouped query per figure)."""
    now: datetime = ctx.now()
    counts = ctx.db.execute(
        select(Job.status, Job.region, func.count()).group_by(Job.status, Job.region)
    ).all()
    oldest = ctx.db.execute(
        select(Job.region, func.min(Job.created_at))
        .where(Job.status == JobStatus.QUEUED.value)
        .group_by(Job.region)
    ).all()
    ages = dict.fromkeys(ctx.settings.regions, 0.0)
    for region, created in oldest:
        if created is not None:
            ages[region] = max(0.0, (now - created).total_seconds())
    return QueueStats(
        by_status={(row[0], row[1]): int(row[2]) for row in counts},
        oldest_queued_s=ages,
        workers_alive=alive_regions(ctx),
    )
