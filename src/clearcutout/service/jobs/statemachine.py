"""The job state machine: the only code that changes ``jobs.status``, and the leases.

Every change is one conditional ``UPDATE … WHERE status = <from>``, so two processes can
never both win the same move::

    queued ──claim──> running ──complete──> done
      │                 │  ──fail──────> failed
      │                 └──requeue (lease ran out, transient error)──> queued
      │                                                   failed ──retry (owner)──> queued
      └─── queued | running | done | failed ──expire──> expired

A worker holds a running job through a lease (``lease_owner``, ``lease_expires_at``) that
it renews while it works (:func:`renew_lease`); a job whose worker stopped renewing goes
back to the queue (:func:`requeue_stale`), or fails once it used all its attempts.

A job queued again after a failure waits until ``not_before`` (:func:`backoff`:
exponential with jitter, so a storage or database outage of minutes is waited out
instead of burning the attempts in seconds, and the retries of many jobs spread out).
:func:`claim` and :func:`claim_next` never take a job before it is due; every executor
claims through them.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, or_, select, update

from clearcutout.db.models import Job
from clearcutout.errors import IllegalTransitionError
from clearcutout.service.billing import credits
from clearcutout.service.context import ServiceContext
from clearcutout.service.jobs.usage import record_usage

log = logging.getLogger(__name__)

__all__ = [
    "TRANSITIONS",
    "JobStatus",
    "backoff",
    "claim",
    "claim_next",
    "renew_lease",
    "requeue_stale",
    "transition",
]


# The codes of the transient faults (``errors.StorageError``, ``DatabaseUnavailableError``).
_TRANSIENT_CODES = frozenset({"storage_unavailable", "database_unavailable"})


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"


TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.EXPIRED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.DONE, JobStatus.FAILED, JobStatus.QUEUED, JobStatus.EXPIRED}
    ),
    JobStatus.DONE: frozenset({JobStatus.EXPIRED}),
    JobStatus.FAILED: frozenset({JobStatus.QUEUED, JobStatus.EXPIRED}),
    JobStatus.EXPIRED: frozenset(),
}


# -- the state machine ----------------------------------------------------------------------


def transition(
    ctx: ServiceContext,
    job_id: str,
    source: JobStatus | Collection[JobStatus],
    target: JobStatus,
    *,
    lease_owner: str | None = None,
    conditions: Sequence[ColumnElement[bool]] = (),
    values: dict[str, Any] | None = None,
) -> bool:
    """Move ``job_id`` from ``source`` to ``target`` if it is still there; True if it moved.

    The one place that writes ``jobs.status``: an illegal move raises
    :class:`IllegalTransitionError` before touching the database; a legal one is a single
    conditional UPDATE (optionally also requiring ``lease_owner`` and ``conditions``).
    """
    sources = [source] if isinstance(source, JobStatus) else list(source)
    for state in sources:
        if target not in TRANSITIONS[state]:
            raise IllegalTransitionError(f"A job cannot go from {state} to {target}.")
    statement = update(Job).where(Job.id == job_id, Job.status.in_([s.value for s in sources]))
    if lease_owner is not None:
        statement = statement.where(Job.lease_owner == lease_owner)
    for condition in conditions:
        statement = statement.where(condition)
    statement = statement.values(status=target.value, **(values or {}))
    outcome = cast(
        CursorResult[Any],
        ctx.db.execute(statement, execution_options={"synchronize_session": False}),
    )
    return outcome.rowcount == 1


# -- claims and leases --------------------------------------------------------------------


def backoff(ctx: ServiceContext, attempts: int) -> timedelta:
    """How long a job waits after its ``attempts``-th try failed: between half and all of
    ``base * 2**(attempts-1)`` seconds (capped), the random half spreading the retries."""
    settings = ctx.settings
    ceiling = min(
        settings.job_retry_max_seconds,
        settings.job_retry_base_seconds * 2 ** max(0, min(attempts - 1, 30)),
    )
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 - jitter


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(Job.not_before.is_(None), Job.not_before <= now)


def claim(ctx: ServiceContext, job_id: str, *, lease_owner: str) -> bool:
    """Take a queued job for ``lease_owner`` (queued → running); False if someone else did
    or it is not due yet (``not_before``)."""
    now = ctx.now()
    return transition(
        ctx,
        job_id,
        JobStatus.QUEUED,
        JobStatus.RUNNING,
        conditions=[Job.expires_at > now, _due(now)],
        values={
            "lease_owner": lease_owner,
            "lease_expires_at": now + timedelta(seconds=ctx.settings.job_lease_seconds),
            "attempts": Job.attempts + 1,
            "started_at": now,
        },
    )


def claim_next(ctx: ServiceContext, *, lease_owner: str, regions: Collection[str]) -> str | None:
    """Claim the oldest due queued job of ``regions``; its id, or None when there is none."""
    now = ctx.now()
    candidates = ctx.db.scalars(
        select(Job.id)
        .where(
            Job.status == JobStatus.QUEUED.value,
            Job.region.in_(list(regions)),
            Job.expires_at > now,
            _due(now),
        )
        .order_by(Job.created_at, Job.id)
        .limit(8)
    ).all()
    for job_id in candidates:
        if claim(ctx, job_id, lease_owner=lease_owner):
            return job_id
    return None


def renew_lease(ctx: ServiceContext, job_id: str, *, lease_owner: str) -> bool:
    """Extend the lease of a job this worker still holds; False once it lost it."""
    statement = (
        update(Job)
        .where(
            Job.id == job_id,
            Job.status == JobStatus.RUNNING.value,
            Job.lease_owner == lease_owner,
        )
        .values(lease_expires_at=ctx.now() + timedelta(seconds=ctx.settings.job_lease_seconds))
    )
    outcome = cast(
        CursorResult[Any],
        ctx.db.execute(statement, execution_options={"synchronize_session": False}),
    )
    return outcome.rowcount == 1


def requeue_stale(ctx: ServiceContext) -> int:
    """Queue again the running jobs whose worker stopped renewing its lease (it died).

    A job that already used all its attempts is marked failed instead. The count moved.
    """
    now = ctx.now()
    stale = ctx.db.execute(
        select(Job.id, Job.attempts, Job.region, Job.model, Job.error_code).where(
            Job.status == JobStatus.RUNNING.value, Job.lease_expires_at < now
        )
    ).all()
    moved = 0
    for job_id, attempts, region, model, last_error in stale:
        expired_lease = [Job.lease_expires_at < now]
        # A job that has been waiting out an outage keeps its larger allowance.
        limit = (
            ctx.settings.job_transient_attempts
            if last_error in _TRANSIENT_CODES
            else ctx.settings.job_max_attempts
        )
        if attempts >= limit:
            if transition(
                ctx,
                job_id,
                JobStatus.RUNNING,
                JobStatus.FAILED,
                conditions=expired_lease,
                values={
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "finished_at": now,
                    "error_code": "job_abandoned",
                    "error_message": "Processing stopped repeatedly; the job was given up.",
                },
            ):
                owner = ctx.db.scalar(select(Job.user_id).where(Job.id == job_id))
                if owner is not None:  # the owner gets back what the job was charged
                    credits.refund(ctx, owner, reference=job_id)
                record_usage(
                    ctx.db,
                    region=region,
                    model=model,
                    outcome="failed",
                    seconds=0.0,
                    day=now.date(),
                )
                log.warning("job.failed job_id=%s reason=job_abandoned", job_id)
                moved += 1
        elif transition(
            ctx,
            job_id,
            JobStatus.RUNNING,
            JobStatus.QUEUED,
            conditions=expired_lease,
            values={"lease_owner": None, "lease_expires_at": None},
        ):
            log.info("job.requeued job_id=%s reason=lease_expired attempts=%s", job_id, attempts)
            moved += 1
    return moved
