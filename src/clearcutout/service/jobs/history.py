"""What an owner sees of their jobs: the job list (history), one job, its original and
its result, decrypted.

Another person's job looks exactly like a missing one (:func:`owned_job`). The result is
kept as an RGBA PNG (a matte for ``channels=alpha``) and re-encoded on download to the
format and background colour asked for, with no metadata.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, Unpack

import numpy as np
from PIL import Image, UnidentifiedImageError
from sqlalchemy import func, select

from clearcutout.db.models import Job, User
from clearcutout.engine import CutoutOptions
from clearcutout.engine.compose import Composition, compose
from clearcutout.engine.decode import decode_image
from clearcutout.engine.encode import EncodedImage, encode
from clearcutout.engine.geometry import Box
from clearcutout.errors import (
    JobExpiredError,
    JobNotReadyError,
    NotFoundError,
    ObjectNotFoundError,
    ValidationError,
)
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import objects
from clearcutout.service.infra.records import record_from
from clearcutout.service.infra.userkeys import unseal, user_key
from clearcutout.service.jobs.statemachine import JobStatus

__all__ = [
    "MAX_PAGE",
    "MAX_PER_PAGE",
    "JobInfo",
    "JobPage",
    "ProcessedImage",
    "ResultLook",
    "StoredOriginal",
    "get_job",
    "job_info",
    "list_jobs",
    "original",
    "original_name_field",
    "owned_job",
    "result",
]

MAX_PER_PAGE = 100
#: The last page anyone may ask for: with ``MAX_PER_PAGE`` its offset (10⁷) fits every
#: database's integers many times over; larger pages overflowed them (a 500).
MAX_PAGE = 100_000


@dataclass(frozen=True)
class JobInfo:
    """A job as its owner sees it (the original name decrypted)."""

    id: str
    # What was asked.
    region: str
    model: str
    options: dict[str, Any]
    original_name: str | None
    # Where it stands.
    status: str
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime
    # What came of it.
    width: int | None
    height: int | None
    foreground: Box | None
    timings: dict[str, float] | None
    error_code: str | None
    error_message: str | None

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


def job_info(ctx: ServiceContext, job: Job, owner_key: bytes | None = None) -> JobInfo:
    name = None
    if job.original_name_enc is not None:
        key = owner_key or user_key(ctx, job.user_id)
        name = unseal(
            key, user_id=job.user_id, field=original_name_field(job.id), blob=job.original_name_enc
        )
    foreground = None
    if job.foreground_width is not None:
        foreground = Box(
            left=job.foreground_left or 0,
            top=job.foreground_top or 0,
            width=job.foreground_width,
            height=job.foreground_height or 0,
        )
    return record_from(
        JobInfo,
        job,
        options=dict(job.options),
        timings=dict(job.timings) if job.timings is not None else None,
        original_name=name,
        foreground=foreground,
        width=job.result_width,
        height=job.result_height,
    )


def original_name_field(job_id: str) -> str:
    return f"job:{job_id}:original_name"


def owned_job(ctx: ServiceContext, user: User, job_id: str) -> Job:
    """The caller's job; anyone else's looks exactly like a missing one."""
    job = ctx.db.get(Job, job_id, populate_existing=True)
    if job is None or job.user_id != user.id:
        raise NotFoundError("No such job.", code="job_not_found")
    return job


def get_job(ctx: ServiceContext, user: User, job_id: str) -> JobInfo:
    return job_info(ctx, owned_job(ctx, user, job_id))


def list_jobs(ctx: ServiceContext, user: User, *, page: int = 1, per_page: int = 20) -> JobPage:
    """The caller's jobs, newest first."""
    if not 1 <= page <= MAX_PAGE:
        raise ValidationError(
            "page must be between 1 and %(max)s.", field="page", params={"max": MAX_PAGE}
        )
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
    items = [job_info(ctx, row, owner_key) for row in rows]
    return JobPage(items=items, page=page, per_page=per_page, total=total)


def _check_not_expired(ctx: ServiceContext, job: Job) -> None:
    if job.status == JobStatus.EXPIRED or job.expires_at <= ctx.now():
        raise JobExpiredError("This job has expired; its images were deleted.")


def original(ctx: ServiceContext, user: User, job_id: str) -> StoredOriginal:
    """The decrypted original, as uploaded."""
    job = owned_job(ctx, user, job_id)
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


def stored_result(ctx: ServiceContext, user: User, job_id: str) -> tuple[Job, bytes]:
    """The owner's finished job and its stored result (PNG or matte), decrypted."""
    job = owned_job(ctx, user, job_id)
    _check_not_expired(ctx, job)
    if job.status != JobStatus.DONE or job.result_key is None:
        raise JobNotReadyError(
            "The job is %(status)s; the result is available once it is done.",
            params={"status": job.status},
        )
    return job, _read(ctx, job, job.result_key)


class ResultLook(TypedDict, total=False):
    """How :func:`result` re-encodes a finished cutout for one answer (each left out or
    None: as the job's own options say)."""

    image_format: str | None
    bg_color: str | None
    background: bytes | None


def result(
    ctx: ServiceContext, user: User, job_id: str, **look: Unpack[ResultLook]
) -> ProcessedImage:
    """The finished cutout, re-encoded as asked (default: the job's own options).

    ``background``: a photo to put behind the cutout (scaled to fill, centred), used for
    this answer only and never stored; it replaces any background colour."""
    image_format, bg_color = look.get("image_format"), look.get("bg_color")
    background = look.get("background")
    job, png = stored_result(ctx, user, job_id)
    background_rgb = None
    if background is not None:
        pixels = int(ctx.settings.max_megapixels * 1_000_000)
        background_rgb = decode_image(background, max_pixels=pixels).rgb
        bg_color = ""
    stored = CutoutOptions.from_dict(job.options)
    options = CutoutOptions.from_dict(
        {
            "format": image_format or stored.format,
            "bg_color": (bg_color if bg_color is not None else stored.bg_color) or None,
            "channels": stored.channels,
        }
    )
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
                background=background_rgb,
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
