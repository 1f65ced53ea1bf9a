"""Data residency: regions, which plans may use them, and moving a person's data from
one region to another (privacy policy, "Data Residency & International Transfers").

Regions come from ``Settings.regions`` (defaults ``eu`` and ``us``), each with its own
storage and master key; a region with ``plans`` is offered only to users on one of
those plans. Jobs are stored and processed in ``users.region`` (``service.jobs.submit``).

A move (:func:`move_to_region`) is refused while the person has jobs queued or running,
or an export being built; an upload arriving during a move waits for it on the person's
row lock (:func:`hold_region`) and is then stored in the new region. Otherwise every
object under ``users/<id>/`` is opened with the user's key and sealed again under a
fresh data key into the new region's storage, the user key is re-wrapped under the new
region's master key, and the rows follow. The old copies are deleted by
:func:`finish_move` after the commit, so a failed commit never loses data; until then the
old copies are sealed with a key the old region no longer holds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, select, update

from clearcutout.config import Settings
from clearcutout.db.models import DataExport, Job, User
from clearcutout.errors import NotFoundError, RegionMoveRefusedError, ValidationError
from clearcutout.service.billing import plans
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import objects
from clearcutout.service.infra.userkeys import rewrap_user_key, user_key
from clearcutout.storage import S3ObjectStore

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_PLAN",
    "DataLocation",
    "RegionChoice",
    "RegionMove",
    "check_region",
    "data_location",
    "finish_move",
    "hold_region",
    "move_to_region",
    "offered_regions",
    "storage_kind",
]

DEFAULT_PLAN = "free"


@dataclass(frozen=True)
class RegionChoice:
    name: str
    label: str


@dataclass(frozen=True)
class DataLocation:
    """Where a person's data lives, as the account page shows it."""

    region: str
    label: str
    storage_kind: str  # "file" (this server's disk) or "s3" (object storage)


@dataclass(frozen=True)
class RegionMove:
    """What :func:`finish_move` deletes after the commit: the old region's copies."""

    user_id: str
    old_region: str
    new_region: str
    moved_objects: int


def _allowed(settings: Settings, region: str, plan: str) -> bool:
    allowed = settings.regions[region].plans
    return (allowed is None or plan in allowed) and plans.region_allowed(settings, plan, region)


def offered_regions(settings: Settings, plan: str = DEFAULT_PLAN) -> list[RegionChoice]:
    """The regions a user on ``plan`` may choose, in configuration order."""
    return [
        RegionChoice(name=name, label=region.label)
        for name, region in settings.regions.items()
        if _allowed(settings, name, plan)
    ]


def check_region(settings: Settings, region: str, plan: str = DEFAULT_PLAN) -> str:
    """``region`` if it exists and ``plan`` may use it; :class:`ValidationError` else."""
    if region not in settings.regions:
        raise ValidationError("Choose one of the offered regions.", field="region")
    if not _allowed(settings, region, plan):
        raise ValidationError(
            "The region %(region)s is not available on your plan.",
            field="region",
            params={"region": settings.regions[region].label},
        )
    return region


def storage_kind(settings: Settings, region: str) -> str:
    return "s3" if isinstance(objects.region_store(settings, region), S3ObjectStore) else "file"


def data_location(settings: Settings, user: User) -> DataLocation:
    region = settings.regions.get(user.region)
    return DataLocation(
        region=user.region,
        label=region.label if region else user.region,
        storage_kind=storage_kind(settings, user.region) if region else "file",
    )


def hold_region(ctx: ServiceContext, user: User) -> str:
    """Lock the person's row until this transaction ends and return their current region.

    A region move and anything that picks the region to store the person's objects in
    (an upload, a data export request) take this lock first, so they run one after the
    other: an upload that arrives during a move waits for it and then stores into the
    new region, instead of writing into the old one behind the move's back (and having
    its object deleted by :func:`finish_move`).
    PostgreSQL: ``SELECT … FOR UPDATE``. SQLite has no row locks, and its Python driver
    runs a SELECT outside any transaction, so there a no-op UPDATE of the row takes the
    database's write lock first (waiting up to ``busy_timeout`` for a move to commit);
    the region is read after it.
    """
    if ctx.db.get_bind().dialect.name == "sqlite":
        ctx.db.execute(
            update(User)
            .where(User.id == user.id)
            .values(region=User.region, updated_at=User.updated_at),  # nothing changes
            execution_options={"synchronize_session": False},
        )
        region = ctx.db.scalar(select(User.region).where(User.id == user.id))
    else:
        region = ctx.db.scalar(select(User.region).where(User.id == user.id).with_for_update())
    if region is None:
        raise NotFoundError("This account no longer exists.")
    return region


def _busy(ctx: ServiceContext, user: User) -> tuple[int, int]:
    active_jobs = ctx.db.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.user_id == user.id, Job.status.in_(["queued", "running"]))
    )
    pending_exports = ctx.db.scalar(
        select(func.count())
        .select_from(DataExport)
        .where(DataExport.user_id == user.id, DataExport.status == "pending")
    )
    return active_jobs or 0, pending_exports or 0


def move_to_region(ctx: ServiceContext, user: User, *, region: str) -> RegionMove | None:
    """Move ``user`` and every stored object of theirs to ``region`` (not yet committed).

    None when they are already there. The caller commits, then calls :func:`finish_move`.
    """
    source = hold_region(ctx, user)
    target = check_region(ctx.settings, region, user.plan)
    if target == source:
        return None
    active_jobs, pending_exports = _busy(ctx, user)
    if active_jobs:
        raise RegionMoveRefusedError(
            "Your region cannot change while images are being processed "
            "(%(count)s waiting or running). Try again when they are finished.",
            params={"count": active_jobs},
        )
    if pending_exports:
        raise RegionMoveRefusedError(
            "Your region cannot change while a copy of your data is being prepared. "
            "Try again in a few minutes."
        )
    key = user_key(ctx, user.id)
    old_store = objects.region_store(ctx.settings, source)
    new_store = objects.region_store(ctx.settings, target)
    moved = 0
    for object_key in sorted(old_store.iter_keys(objects.user_prefix(user.id))):
        plain = objects.open_sealed(
            key, owner_id=user.id, object_key=object_key, blob=old_store.get(object_key)
        )
        new_store.put(
            object_key,
            objects.seal(key, owner_id=user.id, object_key=object_key, data=plain),
        )
        moved += 1
    rewrap_user_key(ctx, user.id, region=target)
    ctx.db.execute(
        update(Job).where(Job.user_id == user.id).values(region=target),
        execution_options={"synchronize_session": False},
    )
    ctx.db.execute(
        update(DataExport).where(DataExport.user_id == user.id).values(region=target),
        execution_options={"synchronize_session": False},
    )
    user.region = target
    ctx.db.flush()
    log.info(
        "account.region_moved user_id=%s from=%s to=%s objects=%d", user.id, source, target, moved
    )
    return RegionMove(user_id=user.id, old_region=source, new_region=target, moved_objects=moved)


def finish_move(settings: Settings, move: RegionMove | None) -> int:
    """After the commit: delete the old region's copies; the count deleted."""
    if move is None:
        return 0
    if objects.storage_url(settings, move.old_region) == objects.storage_url(
        settings, move.new_region
    ):
        return 0  # both regions name one store: the objects were re-sealed in place
    deleted = objects.region_store(settings, move.old_region).delete_prefix(
        objects.user_prefix(move.user_id)
    )
    log.info("account.region_move_finished user_id=%s deleted=%d", move.user_id, deleted)
    return deleted
