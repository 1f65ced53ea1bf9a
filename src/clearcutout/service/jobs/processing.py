"""The steps a worker takes on a job it claimed: load and decrypt the original, run the
engine, then store the result and finish the job — or fail it, or queue it again.

``complete`` and ``fail`` only succeed for the lease holder, and count the job in the
anonymous usage statistics in the same transaction, so a job is finished exactly once
even when a worker that lost its lease finishes late. Each step is idempotent; the task
that strings them together is ``workers.tasks.run_job``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import select

from clearcutout.db.models import Job
from clearcutout.engine import CutoutOptions, Remover
from clearcutout.engine.geometry import Box
from clearcutout.errors import ClearCutoutError, InputError
from clearcutout.service.billing import credits
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import objects
from clearcutout.service.jobs.statemachine import JobStatus, transition
from clearcutout.service.jobs.usage import record_usage

log = logging.getLogger(__name__)

__all__ = [
    "ClaimedJob",
    "JobOutput",
    "complete",
    "fail",
    "job_region_and_model",
    "load_claimed",
    "produce_result",
    "retry_or_fail",
]


def job_region_and_model(ctx: ServiceContext, job_id: str) -> tuple[str, str] | None:
    """Region and model of a job (for counting a failure that happened before loading it)."""
    row = ctx.db.execute(select(Job.region, Job.model).where(Job.id == job_id)).first()
    return (row[0], row[1]) if row is not None else None


@dataclass(frozen=True)
class ClaimedJob:
    """What a worker needs to process a job it holds (read in one short transaction)."""

    id: str
    user_id: str
    region: str
    model: str
    options: CutoutOptions
    attempt: int
    original: bytes

    @property
    def result_key(self) -> str:
        # One key per attempt: a worker that lost its lease can remove its own late result
        # without touching the one of the worker that finished the job.
        return objects.job_object_key(self.user_id, self.id, f"result-{self.attempt}")


@dataclass(frozen=True)
class JobOutput:
    png: bytes
    width: int
    height: int
    foreground: Box
    timings: dict[str, float]


def load_claimed(ctx: ServiceContext, job_id: str, *, lease_owner: str) -> ClaimedJob | None:
    """The job and its decrypted original, if ``lease_owner`` still holds it; else None."""
    job = ctx.db.get(Job, job_id, populate_existing=True)
    if job is None or job.status != JobStatus.RUNNING or job.lease_owner != lease_owner:
        return None
    if job.original_key is None:
        return None
    data = objects.get_object(
        ctx, owner_id=job.user_id, region=job.region, object_key=job.original_key
    )
    return ClaimedJob(
        id=job.id,
        user_id=job.user_id,
        region=job.region,
        model=job.model,
        options=CutoutOptions.from_dict(job.options),
        attempt=job.attempts,
        original=data,
    )


def produce_result(remover: Remover, job: ClaimedJob) -> JobOutput:
    """Run the engine: the cutout as an RGBA PNG (background colour applied on download)."""
    options = job.options.replace(format="png", bg_color=None)
    cutout = remover.process(job.original, options)
    started = time.perf_counter()
    png = cutout.encode().data
    timings = cutout.timings
    return JobOutput(
        png=png,
        width=cutout.width,
        height=cutout.height,
        foreground=cutout.foreground,
        timings={
            "decode": round(timings.decode, 4),
            "inference": round(timings.inference, 4),
            "refine": round(timings.refine, 4),
            "compose": round(timings.compose, 4),
            "encode": round(time.perf_counter() - started, 4),
        },
    )


def complete(
    ctx: ServiceContext, job: ClaimedJob, output: JobOutput, *, lease_owner: str, seconds: float
) -> bool:
    """Store the sealed result and mark the job done, once; False if the lease was lost.

    The ``done`` move and the usage count are one transaction, guarded by the lease.
    """
    objects.put_object(
        ctx, owner_id=job.user_id, region=job.region, object_key=job.result_key, data=output.png
    )
    now = ctx.now()
    done = transition(
        ctx,
        job.id,
        JobStatus.RUNNING,
        JobStatus.DONE,
        lease_owner=lease_owner,
        values={
            "result_key": job.result_key,
            "result_width": output.width,
            "result_height": output.height,
            "foreground_top": output.foreground.top,
            "foreground_left": output.foreground.left,
            "foreground_width": output.foreground.width,
            "foreground_height": output.foreground.height,
            "timings": output.timings,
            "finished_at": now,
            "lease_owner": None,
            "lease_expires_at": None,
            "error_code": None,
            "error_message": None,
        },
    )
    if done:
        record_usage(
            ctx.db,
            region=job.region,
            model=job.model,
            outcome="done",
            seconds=seconds,
            day=now.date(),
        )
        log.info("job.done job_id=%s seconds=%.3f attempt=%s", job.id, seconds, job.attempt)
    else:
        recorded = ctx.db.scalar(select(Job.result_key).where(Job.id == job.id))
        if recorded != job.result_key:  # never remove the result the job finished with
            objects.delete_object(ctx.settings, region=job.region, object_key=job.result_key)
        log.warning("job.finish_lost job_id=%s reason=lease_lost", job.id)
    return done


def refund_failed(ctx: ServiceContext, job_id: str) -> None:
    """A job failed for good: its owner gets back what it was charged."""
    owner = ctx.db.scalar(select(Job.user_id).where(Job.id == job_id))
    if owner is not None:
        credits.refund(ctx, owner, reference=job_id)


def fail(
    ctx: ServiceContext,
    job_id: str,
    *,
    lease_owner: str,
    error: ClearCutoutError,
    region: str,
    model: str,
    seconds: float,
) -> bool:
    """Mark a held job failed for good (bad input, or out of attempts), counted once."""
    now = ctx.now()
    failed = transition(
        ctx,
        job_id,
        JobStatus.RUNNING,
        JobStatus.FAILED,
        lease_owner=lease_owner,
        values={
            "finished_at": now,
            "lease_owner": None,
            "lease_expires_at": None,
            "error_code": error.code[:64],
            "error_message": error.message[:1000],
        },
    )
    if failed:
        refund_failed(ctx, job_id)
        record_usage(
            ctx.db, region=region, model=model, outcome="failed", seconds=seconds, day=now.date()
        )
        log.warning("job.failed job_id=%s reason=%s", job_id, error.code)
    return failed


def retry_or_fail(
    ctx: ServiceContext,
    job_id: str,
    *,
    lease_owner: str,
    error: ClearCutoutError,
    region: str,
    model: str,
    seconds: float,
) -> bool:
    """After an error: queue the job again, or fail it for good — bad input (another try
    would fail the same way) or out of attempts.

    True if the job went back to the queue.
    """
    if not isinstance(error, InputError):
        requeued = transition(
            ctx,
            job_id,
            JobStatus.RUNNING,
            JobStatus.QUEUED,
            lease_owner=lease_owner,
            conditions=[Job.attempts < ctx.settings.job_max_attempts],
            values={
                "lease_owner": None,
                "lease_expires_at": None,
                "error_code": error.code[:64],
                "error_message": error.message[:1000],
            },
        )
        if requeued:
            log.warning("job.requeued job_id=%s reason=%s", job_id, error.code)
            return True
    fail(
        ctx,
        job_id,
        lease_owner=lease_owner,
        error=error,
        region=region,
        model=model,
        seconds=seconds,
    )
    return False
