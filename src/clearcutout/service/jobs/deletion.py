"""Deleting a job now (its owner asked) or when its retention period ends (expiry).

Objects go first, then the row moves, so a crash in between leaves nothing readable.
Every result a worker may have written is deleted, not only the recorded one.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, select

from clearcutout.db.models import Job, User
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import objects
from clearcutout.service.jobs.history import owned_job
from clearcutout.service.jobs.statemachine import JobStatus, transition

log = logging.getLogger(__name__)

__all__ = ["delete_job", "expire_due", "expire_job"]


def _delete_objects(ctx: ServiceContext, job: Job) -> None:
    store = objects.region_store(ctx.settings, job.region)
    # Every result a worker may have written for this job, not only the recorded one.
    store.delete_prefix(objects.job_object_key(job.user_id, job.id, ""))


def delete_job(ctx: ServiceContext, user: User, job_id: str) -> None:
    """Delete the job's objects now, then its row."""
    job = owned_job(ctx, user, job_id)
    _delete_objects(ctx, job)
    ctx.db.execute(
        delete(Job).where(Job.id == job.id), execution_options={"synchronize_session": False}
    )
    ctx.db.expunge(job)
    log.info("job.deleted job_id=%s", job_id)


def expire_job(ctx: ServiceContext, job_id: str) -> bool:
    """Delete a job's objects and mark it expired (idempotent); True if it moved now."""
    job = ctx.db.get(Job, job_id, populate_existing=True)
    if job is None or job.status == JobStatus.EXPIRED:
        return False
    _delete_objects(ctx, job)
    moved = transition(
        ctx,
        job_id,
        [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.DONE, JobStatus.FAILED],
        JobStatus.EXPIRED,
        values={
            "original_key": None,
            "result_key": None,
            "lease_owner": None,
            "lease_expires_at": None,
        },
    )
    if moved:
        log.info("job.expired job_id=%s", job_id)
    return moved


def expire_due(ctx: ServiceContext, *, limit: int = 500) -> int:
    """Expire up to ``limit`` jobs whose ``expires_at`` has passed; the count (sweeper)."""
    due = ctx.db.scalars(
        select(Job.id)
        .where(Job.status != JobStatus.EXPIRED.value, Job.expires_at <= ctx.now())
        .order_by(Job.expires_at)
        .limit(limit)
    ).all()
    return sum(1 for job_id in due if expire_job(ctx, job_id))
