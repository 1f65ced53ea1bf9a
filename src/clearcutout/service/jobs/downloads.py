"""Downloads as a person expects them: each cutout named after its photo (``dog.jpg`` →
``dog.png``), and "Download all" as one ZIP archive of the finished cutouts.

The archive is built in memory (no plaintext image on disk, privacy policy "Security
Measures") from the same decrypted, re-encoded results as single downloads
(:func:`~clearcutout.service.jobs.history.result`), and holds at most
:data:`MAX_ARCHIVE_JOBS` images.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Unpack

from sqlalchemy import select

from clearcutout.db.models import Job, User
from clearcutout.errors import JobExpiredError, JobNotReadyError, NotFoundError, ValidationError
from clearcutout.service.context import ServiceContext
from clearcutout.service.jobs.history import ProcessedImage, ResultLook, get_job, result
from clearcutout.service.jobs.statemachine import JobStatus

__all__ = ["MAX_ARCHIVE_JOBS", "Archive", "NamedImage", "archive", "download_name", "named_result"]

#: The most cutouts one archive holds (each is decoded and re-encoded in memory).
MAX_ARCHIVE_JOBS = 100
FALLBACK_STEM = "cutout"
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"*/:<>?\\|]+')


def download_name(original_name: str | None, extension: str) -> str:
    """The photo's own name with the result's extension: ``dog.jpg`` → ``dog.png``.

    Only the last path component is kept (a browser may send a full Windows path), and
    characters no file system or ``Content-Disposition`` takes are dropped."""
    name = unicodedata.normalize("NFC", original_name or "")
    name = PureWindowsPath(PurePosixPath(name).name).name
    stem = _UNSAFE.sub("", name.rsplit(".", 1)[0] if "." in name[1:] else name).strip(" .")
    return f"{stem[:120] or FALLBACK_STEM}.{extension}"


@dataclass(frozen=True)
class NamedImage:
    """A cutout and the file name it is downloaded under."""

    processed: ProcessedImage
    filename: str


def named_result(
    ctx: ServiceContext, user: User, job_id: str, **look: Unpack[ResultLook]
) -> NamedImage:
    """:func:`~clearcutout.service.jobs.history.result`, named after the photo."""
    processed = result(ctx, user, job_id, **look)
    name = get_job(ctx, user, job_id).original_name
    return NamedImage(processed, download_name(name, processed.image.extension))


@dataclass(frozen=True)
class Archive:
    """A ZIP archive of cutouts and the names inside it, in order."""

    data: bytes
    names: list[str]


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``stem (2).ext``, … when an earlier entry has it (case-insensitively)."""
    stem, _, extension = name.rpartition(".")
    candidate, number = name, 1
    while candidate.lower() in taken:
        number += 1
        candidate = f"{stem} ({number}).{extension}"
    taken.add(candidate.lower())
    return candidate


def _finished_ids(ctx: ServiceContext, user: User) -> list[str]:
    """The owner's finished, unexpired jobs, newest first (at most the archive's limit)."""
    return list(
        ctx.db.scalars(
            select(Job.id)
            .where(
                Job.user_id == user.id,
                Job.status == JobStatus.DONE.value,
                Job.expires_at > ctx.now(),
            )
            .order_by(Job.created_at.desc(), Job.id.desc())
            .limit(MAX_ARCHIVE_JOBS)
        )
    )


def archive(
    ctx: ServiceContext,
    user: User,
    job_ids: list[str] | None = None,
    *,
    image_format: str | None = "png",
) -> Archive:
    """The cutouts of ``job_ids`` (default: every finished job of the owner) as one ZIP.

    Jobs not (or no longer) downloadable — still running, failed, expired, deleted —
    are left out, so a batch page can ask for all it showed; none left is
    ``NotFoundError``. Anyone else's job counts as missing."""
    if job_ids is None:
        job_ids = _finished_ids(ctx, user)
    job_ids = list(dict.fromkeys(job_ids))
    if len(job_ids) > MAX_ARCHIVE_JOBS:
        raise ValidationError(
            "At most %(max)s images fit in one download.",
            field="ids",
            params={"max": MAX_ARCHIVE_JOBS},
        )
    names: list[str] = []
    taken: set[str] = set()
    buffer = io.BytesIO()
    # Stored, not deflated: PNG, WebP and JPEG are compressed already.
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zipped:
        for job_id in job_ids:
            try:
                named = named_result(ctx, user, job_id, image_format=image_format)
            except (NotFoundError, JobNotReadyError, JobExpiredError):
                continue
            name = _unique(named.filename, taken)
            zipped.writestr(name, named.processed.image.data)
            names.append(name)
    if not names:
        raise NotFoundError("None of these images can be downloaded any more.")
    return Archive(buffer.getvalue(), names)
