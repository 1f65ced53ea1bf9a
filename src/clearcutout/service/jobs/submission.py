"""Taking an image in: checks made before anything is stored, then either a queued job
(the original sealed in the owner's region) or an ephemeral cutout that keeps nothing.

Also the process-wide :class:`~clearcutout.engine.Remover` per model (:func:`remover_for`),
shared by the job workers and the remove.bg-compatible API.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from pathlib import PurePosixPath, PureWindowsPath

from clearcutout.config import Settings
from clearcutout.db.models import Job, User, new_id
from clearcutout.engine import PRESETS, CutoutOptions, Remover, get_spec
from clearcutout.engine.decode import probe_image
from clearcutout.errors import (
    FileTooLargeError,
)
from clearcutout.service.billing import credits, plans
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import objects
from clearcutout.service.infra.userkeys import seal, user_key
from clearcutout.service.jobs.history import JobInfo, ProcessedImage, job_info, original_name_field
from clearcutout.service.jobs.statemachine import JobStatus
from clearcutout.service.jobs.usage import record_usage
from clearcutout.service.privacy import residency

log = logging.getLogger(__name__)

__all__ = [
    "check_image",
    "check_model",
    "process_ephemeral",
    "remover_for",
    "submit",
    "with_quality",
]

_NAME_CHARS = 255


def _clean_name(name: str | None) -> str | None:
    """The file's own name (no client path), at most 255 characters; None when blank."""
    if not name:
        return None
    bare = PureWindowsPath(PurePosixPath(name).name).name.strip()
    bare = "".join(ch for ch in bare if ch.isprintable())
    return bare[:_NAME_CHARS] or None


# -- validation -----------------------------------------------------------------------------


def check_model(settings: Settings, model: str | None, quality: str | None = None) -> str:
    """The registry name of the model a cutout names: ``model``, else the settings'
    ``default_model``, else the first model of the ``quality`` preset (default: the
    settings'); ``UnknownModelError`` for an unknown name.

    A job stores this name; naming the preset's own first model is no override, so the
    worker follows the whole preset (see :mod:`clearcutout.engine.presets`).
    """
    preset = PRESETS[quality or settings.default_quality].recipe
    return get_spec(model or settings.default_model or preset.primary).name


def with_quality(settings: Settings, options: CutoutOptions) -> CutoutOptions:
    """``options`` with the server's ``default_quality`` when the request named none, so
    a job keeps the preset it was asked for even if the default changes later."""
    if options.quality is not None:
        return options
    return options.replace(quality=settings.default_quality)


def check_image(
    settings: Settings, data: bytes, *, max_megapixels: float | None = None
) -> tuple[int, int]:
    """Refuse what cannot be processed before anything is stored: size, type, pixel count
    (``max_megapixels``: a plan's lower limit, README "Billing").

    Reads the image header only (format and dimensions); returns ``(width, height)``.
    """
    megapixels = settings.max_megapixels if max_megapixels is None else max_megapixels
    limit = int(settings.max_upload_mb * 1024 * 1024)
    if len(data) > limit:
        raise FileTooLargeError(
            f"The file is {len(data) / 1048576:.1f} MB; the limit is {settings.max_upload_mb:g} MB."
        )
    return probe_image(
        data,
        max_pixels=int(megapixels * 1_000_000),
        max_aspect_ratio=settings.max_aspect_ratio,
    )


# -- removers, one per model per process ------------------------------------------------------

_removers: dict[tuple[object, ...], Remover] = {}
_removers_lock = threading.Lock()


def remover_for(settings: Settings, model: str) -> Remover:
    """A shared :class:`Remover` for ``model`` (its ONNX session is shared process-wide)."""
    key = (
        model,
        str(settings.models_dir),
        settings.max_megapixels,
        settings.max_aspect_ratio,
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
    options = with_quality(ctx.settings, options)
    model_name = check_model(ctx.settings, model, options.quality)
    check_image(ctx.settings, data, max_megapixels=plans.max_megapixels(ctx.settings, user.plan))
    region = residency.hold_region(ctx, user)  # a region move in progress finishes first
    now = ctx.now()
    job_id = new_id()
    # Charged with the job's row (402 stores nothing); refunded if the job fails.
    credits.charge(ctx, user, credits.credits_for_size(options.size), reference=job_id)
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
            seal(owner_key, user_id=user.id, field=original_name_field(job_id), value=name)
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
    # Stored before the row commits (the row must name an object that exists): if the
    # commit fails, the boundary deletes it again; if the process dies first, the storage
    # reconciliation does (``service.privacy.reconcile``).
    ctx.undo.append(lambda: store.delete(original_key))
    ctx.db.add(job)
    ctx.db.flush()
    log.info("job.submitted job_id=%s region=%s model=%s", job_id, region, model_name)
    return job_info(ctx, job, owner_key)


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
    options = with_quality(ctx.settings, options)
    model_name = check_model(ctx.settings, model, options.quality)
    check_image(ctx.settings, data, max_megapixels=plans.max_megapixels(ctx.settings, user.plan))
    started = time.perf_counter()
    # Imported here: ``sync`` builds on this module's ``remover_for``.
    from clearcutout.service.jobs.sync import SyncRequest, process_now

    cutout = process_now(
        ctx.settings, SyncRequest(region=user.region, model=model_name, image=data, options=options)
    )
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
    return cutout
