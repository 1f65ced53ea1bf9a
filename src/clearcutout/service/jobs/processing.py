"""The steps a worker takes on a job it claimed: load and decrypt the original, run the
engine, then store the result and finish the job — or fail it, or queue it again.

``complete`` and ``fail`` only succeed for the lease holder, and count the job in the
anonymous usage statistics in the same transaction, so a job is finished exactly once
even when a worker that lost its lease finishes late. Each step is idempotent; the task
that strings them together is ``workers.tasks.run_job``.

Completion is idempotent across attempts too: when the "done" write failed after the
result was stored (the database went away), the next attempt finds that result
(:func:`stored_result`) and finishes with it instead of running the engine again.

Failures are sorted (:func:`retry_or_fail`): a bad image fails for good; a transient
fault (storage, database) waits out a back-off and is tried again for up to
``job_transient_attempts``; anything else up to ``job_max_attempts``. The owner can queue
a failed job again (:func:`retry_job`) while its original is kept.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select

from clearcutout.db.models import Job, User
from clearcutout.engine import CutoutOptions, Remover
from clearcutout.engine.geometry import Box
from clearcutout.errors import (
    ClearCutoutError,
    DecryptionError,
    InputError,
    JobNotRetryableError,
    ObjectNotFoundError,
    UnknownModelError,
)
from clearcutout.service.billing import credits
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import objects
from clearcutout.service.jobs.history import owned_job
from clearcutout.service.jobs.statemachine import JobStatus, backoff, transition
from clearcutout.service.jobs.usage import record_usage

log = logging.getLogger(__name__)

__all__ = [
    "ClaimedJob",
    "HeldRun",
    "JobOutput",
    "complete",
    "fail",
    "job_region_and_model",
    "load_claimed",
    "produce_result",
    "retry_job",
    "retry_or_fail",
    "stored_result",
]

# Errors another try cannot cure: the image itself, a missing original, a destroyed key.
_PERMANENT = (InputError, ObjectNotFoundError, DecryptionError, UnknownModelError)


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


def stored_result(ctx: ServiceContext, job: ClaimedJob) -> tuple[str, JobOutput] | None:
    """A result an earlier attempt of ``job`` stored but could not record; its key and
    what ``complete`` needs, or None (then the engine runs).

    Only this job's own ``result-<n>`` objects of earlier attempts are considered, newest
    first; one that does not open (cut short, foreign) is skipped.
    """
    store = objects.region_store(ctx.settings, job.region)
    prefix = objects.job_object_key(job.user_id, job.id, "result-")
    earlier: list[tuple[int, str]] = []
    for key in store.iter_keys(prefix):
        suffix = key.rpartition("result-")[2]
        if suffix.isdigit() and int(suffix) < job.attempt:
            earlier.append((int(suffix), key))
    for _attempt, key in sorted(earlier, reverse=True):
        try:
            png = objects.get_object(ctx, owner_id=job.user_id, region=job.region, object_key=key)
            with Image.open(io.BytesIO(png)) as image:
                image.load()
                alpha = image.getchannel("A") if image.mode == "RGBA" else image.convert("L")
                box = alpha.getbbox() or (0, 0, 0, 0)
                width, height = image.size
        except (ObjectNotFoundError, DecryptionError, UnidentifiedImageError, OSError):
            continue
        left, top, right, bottom = box
        return key, JobOutput(
            png=png,
            width=width,
            height=height,
            foreground=Box(left=left, top=top, width=right - left, height=bottom - top),
            timings={},
        )
    return None


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
    ctx: ServiceContext,
    job: ClaimedJob,
    output: JobOutput,
    *,
    lease_owner: str,
    seconds: float,
    stored_key: str | None = None,
) -> bool:
    """Store the sealed result and mark the job done, once; False if the lease was lost.

    The ``done`` move and the usage count are one transaction, guarded by the lease.
    ``stored_key`` names a result an earlier attempt already stored (:func:`stored_result`):
    it is recorded as it is.
    """
    result_key = stored_key or job.result_key
    if stored_key is None:
        objects.put_object(
            ctx, owner_id=job.user_id, region=job.region, object_key=result_key, data=output.png
        )
    now = ctx.now()
    done = transition(
        ctx,
        job.id,
        JobStatus.RUNNING,
        JobStatus.DONE,
        lease_owner=lease_owner,
        values={
            "result_key": result_key,
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
            "not_before": None,
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
        if recorded != result_key:  # never remove the result the job finished with
            objects.delete_object(ctx.settings, region=job.region, object_key=result_key)
        log.warning("job.finish_lost job_id=%s reason=lease_lost", job.id)
    return done


def refund_failed(ctx: ServiceContext, job_id: str) -> None:
    """A job failed for good: its owner gets back what it was charged."""
    owner = ctx.db.scalar(select(Job.user_id).where(Job.id == job_id))
    if owner is not None:
        credits.refund(ctx, owner, reference=job_id)


@dataclass(frozen=True)
class HeldRun:
    """A run of a job its worker holds the lease on, and what the usage statistics count
    of it: where it ran and for how long."""

    job_id: str
    lease_owner: str
    region: str
    model: str
    seconds: float


def _given_up(error: ClearCutoutError) -> dict[str, Any]:
    """What a worker writes as an error makes it let go of a job: no lease, the error."""
    return {
        "lease_owner": None,
        "lease_expires_at": None,
        "error_code": error.code[:64],
        "error_message": error.message[:1000],
    }


def fail(ctx: ServiceContext, run: HeldRun, error: ClearCutoutError) -> bool:
    """Mark a held job failed for good (bad input, or out of attempts), counted once."""
    now = ctx.now()
    job_id = run.job_id
    failed = transition(
        ctx,
        job_id,
        JobStatus.RUNNING,
        JobStatus.FAILED,
        lease_owner=run.lease_owner,
        values={"finished_at": now, **_given_up(error)},
    )
    if failed:
        refund_failed(ctx, job_id)
        record_usage(
            ctx.db,
            region=run.region,
            model=run.model,
            outcome="failed",
            seconds=run.seconds,
            day=now.date(),
        )
        log.warning("job.failed job_id=%s reason=%s", job_id, error.code)
    return failed


def retry_or_fail(ctx: ServiceContext, run: HeldRun, error: ClearCutoutError) -> bool:
    """After an error: queue the job again after a back-off, or fail it for good — bad
    input (another try would fail the same way) or out of attempts (``job_transient_
    attempts`` for a transient fault, ``job_max_attempts`` for anything else).

    True if the job went back to the queue.
    """
    job_id = run.job_id
    if not isinstance(error, _PERMANENT):
        settings = ctx.settings
        limit = settings.job_transient_attempts if error.transient else settings.job_max_attempts
        attempts = ctx.db.scalar(select(Job.attempts).where(Job.id == job_id)) or 1
        due = ctx.now() + backoff(ctx, attempts)
        requeued = transition(
            ctx,
            job_id,
            JobStatus.RUNNING,
            JobStatus.QUEUED,
            lease_owner=run.lease_owner,
            conditions=[Job.attempts < limit],
            values={"not_before": due, **_given_up(error)},
        )
        if requeued:
            log.warning(
                "job.requeued job_id=%s reason=%s attempts=%s due=%s",
                job_id,
                error.code,
                attempts,
                due.isoformat(),
            )
            return True
    fail(ctx, run, error)
    return False


def retry_job(ctx: ServiceContext, user: User, job_id: str) -> Job:
    """The owner queues a failed job again, with fresh attempts; the job.

    Only a failed job whose original is still kept (not expired) can be retried.
    """
    job = owned_job(ctx, user, job_id)
    now = ctx.now()
    if job.status != JobStatus.FAILED or job.original_key is None or job.expires_at <= now:
        raise JobNotRetryableError(
            "Only a failed job whose original is still stored can be retried."
        )
    moved = transition(
        ctx,
        job.id,
        JobStatus.FAILED,
        JobStatus.QUEUED,
        conditions=[Job.expires_at > now],
        values={
            "attempts": 0,
            "not_before": None,
            "error_code": None,
            "error_message": None,
            "finished_at": None,
            "started_at": None,
        },
    )
    if not moved:
        raise JobNotRetryableError(
            "Only a failed job whose original is still stored can be retried."
        )
    # Its failure was refunded; the new attempt is charged as a new image (402 keeps the
    # job failed: this transaction does not commit), and refunded again if it fails.
    credits.charge(ctx, user, credits.credits_for_size(job.options.get("size")), reference=job.id)
    log.info("job.retried job_id=%s by=owner", job.id)
    return owned_job(ctx, user, job_id)
