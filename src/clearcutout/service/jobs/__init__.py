"""Image jobs: submission, the state machine, the steps a worker takes, results, deletion.

The state machine (``transition`` is the only code that changes ``jobs.status``; every
change is one conditional ``UPDATE … WHERE status = <from>``, so two processes can
never both win the same move)::

    queued ──claim──> running ──complete──> done
      │                 │  ──fail──────> failed
      │                 └──requeue (lease ran out, transient error)──> queued
      └─── queued | running | done | failed ──expire──> expired

A worker holds a running job through a lease (``lease_owner``, ``lease_expires_at``) that
it renews while it works. ``complete`` and ``fail`` only succeed for the lease holder, and
count the job in the anonymous usage statistics in the same transaction, so a job is
finished exactly once even when a worker that lost its lease finishes late. Workers and
tasks take job ids (see ``clearcutout.workers``); every step here is idempotent.

Originals and results are sealed objects in the owner's region (``service.objects``);
the result is kept as an RGBA PNG (a matte for ``channels=alpha``) and re-encoded on
download to the format and background colour asked for, with no metadata.
"""

from __future__ import annotations

import io
import logging
import math
import threading
import time
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, cast

import numpy as np
from PIL import Image, UnidentifiedImageError
from sqlalchemy import ColumnElement, CursorResult, delete, func, select, update

from clearcutout.config import Settings
from clearcutout.db.models import Job, User, new_id
from clearcutout.engine import CutoutOptions, Remover, get_spec
from clearcutout.engine.compose import Composition, compose
from clearcutout.engine.decode import SUPPORTED_FORMATS, check_pixel_limit
from clearcutout.engine.encode import EncodedImage, encode
from clearcutout.engine.geometry import Box
from clearcutout.errors import (
    ClearCutoutError,
    EmptyImageError,
    FileTooLargeError,
    ImageTooLargeError,
    InputError,
    ObjectNotFoundError,
    TruncatedImageError,
    UnsupportedImageError,
)
from clearcutout.service.context import ServiceContext
from clearcutout.service.errors import NotFoundError, ServiceError, ValidationError
from clearcutout.service.infra import objects
from clearcutout.service.infra.userkeys import seal, unseal, user_key
from clearcutout.service.jobs.usage import record_usage
from clearcutout.service.privacy import residency

log = logging.getLogger(__name__)

__all__ = [
    "TRANSITIONS",
    "ClaimedJob",
    "IllegalTransitionError",
    "JobExpiredError",
    "JobInfo",
    "JobNotReadyError",
    "JobPage",
    "JobStatus",
    "ProcessedImage",
    "StoredOriginal",
    "check_image",
    "check_model",
    "claim",
    "claim_next",
    "complete",
    "delete_job",
    "expire_due",
    "expire_job",
    "fail",
    "get_job",
    "job_region_and_model",
    "list_jobs",
    "load_claimed",
    "original",
    "process_ephemeral",
    "produce_result",
    "remover_for",
    "renew_lease",
    "requeue_stale",
    "result",
    "retry_or_fail",
    "submit",
    "transition",
]

MAX_PER_PAGE = 100
_NAME_CHARS = 255


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
    JobStatus.FAILED: frozenset({JobStatus.EXPIRED}),
    JobStatus.EXPIRED: frozenset(),
}


class IllegalTransitionError(ClearCutoutError):
    """A state change the job state machine does not allow (a bug in the caller)."""

    code = "illegal_transition"
    title = "Illegal job state change"
    http_status = 409


class JobNotReadyError(ServiceError):
    code = "job_not_ready"
    title = "Job not finished"
    http_status = 409


class JobExpiredError(ServiceError):
    code = "job_expired"
    title = "Job expired"
    http_status = 410


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


# -- what callers see -----------------------------------------------------------------------


@dataclass(frozen=True)
class JobInfo:
    """A job as its owner sees it (the original name decrypted)."""

    id: str
    status: str
    region: str
    model: str
    options: dict[str, Any]
    timings: dict[str, float] | None
    error_code: str | None
    error_message: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime
    original_name: str | None
    foreground: Box | None
    width: int | None
    height: int | None
    attempts: int

    def seconds_until_expiry(self, now: datetime) -> int:
        return max(0, math.ceil((self.expires_at - now).total_seconds()))


@dataclass(frozen=True)
class JobPage:
    items: list[JobInfo]
    page: int
    per_page: int
    total: int


@dataclass(frozen=True)
class ProcessedImage:
    """An encoded cutout with what remove.bg reports about it."""

    image: EncodedImage
    width: int
    height: int
    foreground: Box


@dataclass(frozen=True)
class StoredOriginal:
    data: bytes
    media_type: str


def _info(ctx: ServiceContext, job: Job, owner_key: bytes | None = None) -> JobInfo:
    name = None
    if job.original_name_enc is not None:
        key = owner_key or user_key(ctx, job.user_id)
        name = unseal(
            key, user_id=job.user_id, field=_name_field(job.id), blob=job.original_name_enc
        )
    foreground = None
    if job.foreground_width is not None:
        foreground = Box(
            left=job.foreground_left or 0,
            top=job.foreground_top or 0,
            width=job.foreground_width,
            height=job.foreground_height or 0,
        )
    return JobInfo(
        id=job.id,
        status=job.status,
        region=job.region,
        model=job.model,
        options=dict(job.options),
        timings=dict(job.timings) if job.timings is not None else None,
        error_code=job.error_code,
        error_message=job.error_message,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        expires_at=job.expires_at,
        original_name=name,
        foreground=foreground,
        width=job.result_width,
        height=job.result_height,
        attempts=job.attempts,
    )


def _name_field(job_id: str) -> str:
    return f"job:{job_id}:original_name"


def _clean_name(name: str | None) -> str | None:
    """The file's own name (no client path), at most 255 characters; None when blank."""
    if not name:
        return None
    bare = PureWindowsPath(PurePosixPath(name).name).name.strip()
    bare = "".join(ch for ch in bare if ch.isprintable())
    return bare[:_NAME_CHARS] or None


# -- validation -----------------------------------------------------------------------------


def check_model(settings: Settings, model: str | None) -> str:
    """The registry name of ``model`` (default: the settings'); ``UnknownModelError`` else."""
    return get_spec(model or settings.default_model).name


def check_image(settings: Settings, data: bytes) -> tuple[int, int]:
    """Refuse what cannot be processed before anything is stored: size, type, pixel count.

    Reads the image header only (format and dimensions); returns ``(width, height)``.
    """
    limit = int(settings.max_upload_mb * 1024 * 1024)
    if len(data) > limit:
        raise FileTooLargeError(
            f"The file is {len(data) / 1048576:.1f} MB; the limit is {settings.max_upload_mb:g} MB."
        )
    if not data:
        raise EmptyImageError("The file is empty (0 bytes).")
    max_pixels = int(settings.max_megapixels * 1_000_000)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image_format, width, height = image.format, image.width, image.height
    except UnidentifiedImageError as exc:
        raise UnsupportedImageError(
            "The file is not an image we can read (supported: JPEG, PNG, WebP, TIFF, BMP, "
            "GIF, HEIC/HEIF, AVIF)."
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(
            f"The image has too many pixels; the limit is {settings.max_megapixels:g} megapixels."
        ) from exc
    except OSError as exc:
        raise TruncatedImageError("The image could not be read: its header is damaged.") from exc
    if image_format not in SUPPORTED_FORMATS:
        raise UnsupportedImageError(f"{image_format} images are not supported.")
    check_pixel_limit(width, height, max_pixels=max_pixels)
    if width == 0 or height == 0:
        raise EmptyImageError("The image has no pixels.")
    return width, height


# -- removers, one per model per process ------------------------------------------------------

_removers: dict[tuple[object, ...], Remover] = {}
_removers_lock = threading.Lock()


def remover_for(settings: Settings, model: str) -> Remover:
    """A shared :class:`Remover` for ``model`` (its ONNX session is shared process-wide)."""
    key = (
        model,
        str(settings.models_dir),
        settings.max_megapixels,
        settings.max_upload_mb,
        settings.inference_threads,
        settings.allow_model_download,
    )
    with _removers_lock:
        remover = _removers.get(key)
        if remover is None:
            remover = _removers[key] = Remover(model, settings=settings)
        return remover


# -- submission -----------------------------------------------------------------------------


def submit(
    ctx: ServiceContext,
    user: User,
    data: bytes,
    options: CutoutOptions,
    *,
    model: str | None = None,
    original_name: str | None = None,
) -> JobInfo:
    """Validate, seal and store the original, and queue a job for it (not yet committed).

    The boundary notifies the executor only after its commit.
    """
    model_name = check_model(ctx.settings, model)
    check_image(ctx.settings, data)
    region = residency.hold_region(ctx, user)  # a region move in progress finishes first
    now = ctx.now()
    job_id = new_id()
    owner_key = user_key(ctx, user.id)
    original_key = objects.job_object_key(user.id, job_id, "original")
    name = _clean_name(original_name)
    job = Job(
        id=job_id,
        user_id=user.id,
        region=region,
        model=model_name,
        status=JobStatus.QUEUED.value,
        options=options.to_dict(),
        original_name_enc=(
            seal(owner_key, user_id=user.id, field=_name_field(job_id), value=name)
            if name
            else None
        ),
        original_key=original_key,
        attempts=0,
        created_at=now,
        expires_at=now + timedelta(days=ctx.settings.retention_days),
    )
    sealed = objects.seal(owner_key, owner_id=user.id, object_key=original_key, data=data)
    store = objects.region_store(ctx.settings, region)
    store.put(original_key, sealed)
    try:
        ctx.db.add(job)
        ctx.db.flush()
    except BaseException:
        store.delete(original_key)
        raise
    log.info("job.submitted job_id=%s region=%s model=%s", job_id, region, model_name)
    return _info(ctx, job, owner_key)


def process_ephemeral(
    ctx: ServiceContext,
    user: User,
    data: bytes,
    options: CutoutOptions,
    *,
    model: str | None = None,
) -> ProcessedImage:
    """Process now and keep nothing (``store=false``): no object, no job row, no name.

    Only the anonymous usage counter is written.
    """
    model_name = check_model(ctx.settings, model)
    check_image(ctx.settings, data)
    started = time.perf_counter()
    cutout = remover_for(ctx.settings, model_name).process(data, options)
    encoded = cutout.encode()
    seconds = time.perf_counter() - started
    record_usage(
        ctx.db,
        region=user.region,
        model=model_name,
        outcome=JobStatus.DONE.value,
        seconds=seconds,
        day=ctx.now().date(),
    )
    log.info("job.ephemeral region=%s model=%s seconds=%.3f", user.region, model_name, seconds)
    return ProcessedImage(
        image=encoded, width=cutout.width, height=cutout.height, foreground=cutout.foreground
    )


# -- reading --------------------------------------------------------------------------------


def _owned(ctx: ServiceContext, user: User, job_id: str) -> Job:
    """The caller's job; anyone else's looks exactly like a missing one."""
    job = ctx.db.get(Job, job_id, populate_existing=True)
    if job is None or job.user_id != user.id:
        raise NotFoundError("No such job.", code="job_not_found")
    return job


def get_job(ctx: ServiceContext, user: User, job_id: str) -> JobInfo:
    return _info(ctx, _owned(ctx, user, job_id))


def list_jobs(ctx: ServiceContext, user: User, *, page: int = 1, per_page: int = 20) -> JobPage:
    """The caller's jobs, newest first."""
    if page < 1:
        raise ValidationError("page must be 1 or more.", field="page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationError(
            "per_page must be between 1 and %(max)s.",
            field="per_page",
            params={"max": MAX_PER_PAGE},
        )
    total = ctx.db.scalar(select(func.count()).select_from(Job).where(Job.user_id == user.id)) or 0
    rows = ctx.db.scalars(
        select(Job)
        .where(Job.user_id == user.id)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    owner_key = user_key(ctx, user.id) if rows else None
    items = [_info(ctx, row, owner_key) for row in rows]
    return JobPage(items=items, page=page, per_page=per_page, total=total)


def _check_not_expired(ctx: ServiceContext, job: Job) -> None:
    if job.status == JobStatus.EXPIRED or job.expires_at <= ctx.now():
        raise JobExpiredError("This job has expired; its images were deleted.")


def original(ctx: ServiceContext, user: User, job_id: str) -> StoredOriginal:
    """The decrypted original, as uploaded."""
    job = _owned(ctx, user, job_id)
    _check_not_expired(ctx, job)
    if job.original_key is None:
        raise JobExpiredError("This job's original was deleted.")
    data = _read(ctx, job, job.original_key)
    media_type = "application/octet-stream"
    try:
        with Image.open(io.BytesIO(data)) as image:
            media_type = Image.MIME.get(image.format or "", media_type)
    except (UnidentifiedImageError, OSError):
        pass
    return StoredOriginal(data=data, media_type=media_type)


def _read(ctx: ServiceContext, job: Job, object_key: str) -> bytes:
    try:
        return objects.get_object(
            ctx, owner_id=job.user_id, region=job.region, object_key=object_key
        )
    except ObjectNotFoundError as exc:
        raise JobExpiredError("This job's images are no longer stored.") from exc


def result(
    ctx: ServiceContext,
    user: User,
    job_id: str,
    *,
    image_format: str | None = None,
    bg_color: str | None = None,
) -> ProcessedImage:
    """The finished cutout, re-encoded as asked (default: the job's own options)."""
    job = _owned(ctx, user, job_id)
    _check_not_expired(ctx, job)
    if job.status != JobStatus.DONE or job.result_key is None:
        raise JobNotReadyError(
            "The job is %(status)s; the result is available once it is done.",
            params={"status": job.status},
        )
    stored = CutoutOptions.from_dict(job.options)
    options = CutoutOptions.from_dict(
        {
            "format": image_format or stored.format,
            "bg_color": bg_color if bg_color is not None else stored.bg_color,
            "channels": stored.channels,
        }
    )
    png = _read(ctx, job, job.result_key)
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        if image.mode == "L":
            composition = Composition(image.copy(), _stored_box(job), False)
        else:
            rgba = np.asarray(image.convert("RGBA"))
            composition = compose(
                np.ascontiguousarray(rgba[:, :, :3]),
                np.ascontiguousarray(rgba[:, :, 3]),
                options,
            )
    encoded = encode(composition, options.format)
    return ProcessedImage(
        image=encoded,
        width=composition.image.width,
        height=composition.image.height,
        foreground=_stored_box(job),
    )


def _stored_box(job: Job) -> Box:
    return Box(
        left=job.foreground_left or 0,
        top=job.foreground_top or 0,
        width=job.foreground_width or 0,
        height=job.foreground_height or 0,
    )


# -- deletion and expiry --------------------------------------------------------------------


def _delete_objects(ctx: ServiceContext, job: Job) -> None:
    store = objects.region_store(ctx.settings, job.region)
    # Every result a worker may have written for this job, not only the recorded one.
    store.delete_prefix(objects.job_object_key(job.user_id, job.id, ""))


def delete_job(ctx: ServiceContext, user: User, job_id: str) -> None:
    """Delete the job's objects now, then its row."""
    job = _owned(ctx, user, job_id)
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


# -- the worker's steps ---------------------------------------------------------------------


def claim(ctx: ServiceContext, job_id: str, *, lease_owner: str) -> bool:
    """Take a queued job for ``lease_owner`` (queued → running); False if someone else did."""
    now = ctx.now()
    return transition(
        ctx,
        job_id,
        JobStatus.QUEUED,
        JobStatus.RUNNING,
        conditions=[Job.expires_at > now],
        values={
            "lease_owner": lease_owner,
            "lease_expires_at": now + timedelta(seconds=ctx.settings.job_lease_seconds),
            "attempts": Job.attempts + 1,
            "started_at": now,
        },
    )


def claim_next(ctx: ServiceContext, *, lease_owner: str, regions: Collection[str]) -> str | None:
    """Claim the oldest queued job of ``regions``; its id, or None when there is none."""
    candidates = ctx.db.scalars(
        select(Job.id)
        .where(
            Job.status == JobStatus.QUEUED.value,
            Job.region.in_(list(regions)),
            Job.expires_at > ctx.now(),
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
        select(Job.id, Job.attempts, Job.region, Job.model).where(
            Job.status == JobStatus.RUNNING.value, Job.lease_expires_at < now
        )
    ).all()
    moved = 0
    for job_id, attempts, region, model in stale:
        expired_lease = [Job.lease_expires_at < now]
        if attempts >= ctx.settings.job_max_attempts:
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
    """After a transient error: queue the job again, or fail it when out of attempts.

    True if the job went back to the queue.
    """
    if isinstance(error, InputError):
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
