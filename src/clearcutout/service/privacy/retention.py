"""Automatic deletion: the retention sweep's batches and the S3 lifecycle rule.

The privacy policy promises "Processed images expire after 30 days on our servers"
("Privacy at a Glance", "Data Retention"). Each job carries ``expires_at`` (upload +
``retention_days``); :func:`expire_jobs` deletes the objects of due jobs from their
region's storage and then marks each job ``expired`` (``service.jobs.expire_job``);
:func:`expire_exports` removes "Download my data" archives whose link has expired.

Resumable and idempotent: each batch is its own transaction; objects are deleted before
the row moves, so a crash between the two leaves a job whose objects are already gone
(its URLs answer 410 because ``expires_at`` has passed) and the next sweep marks it.
Nothing is ever half-readable. Logs carry counts only.

The sweep itself, batch after batch, is the task ``workers.tasks.sweep_retention``: the
embedded default runs it from ``workers.housekeeping`` every
``retention_sweep_interval_seconds``; a scale-out deployment runs it from a Celery beat
task or ``clearcutout retention sweep``.

For ``s3://`` regions :func:`install_expiry_rules` installs a bucket lifecycle rule that
expires objects one day after the retention period: a second line of defence if the
sweeper stops. (SeaweedFS stores such rules but does not enforce them; AWS S3, MinIO and
Ceph do.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select

from clearcutout.config import Settings
from clearcutout.db.models import DataExport, Job
from clearcutout.errors import StorageError
from clearcutout.service import jobs
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import objects
from clearcutout.storage.s3 import S3ObjectStore

log = logging.getLogger(__name__)

__all__ = [
    "LIFECYCLE_GRACE_DAYS",
    "USERS_PREFIX",
    "ExpiryRule",
    "SweepReport",
    "expire_exports",
    "expire_jobs",
    "install_expiry_rules",
    "install_lifecycle_rules",
]

# The bucket rule fires this many days after the sweeper should have acted, so in normal
# operation the sweeper deletes first (and marks the job), and the rule only catches
# what a stopped sweeper missed.
LIFECYCLE_GRACE_DAYS = 1
# Every object of a person is under ``users/<id>/`` (``service.infra.objects.user_prefix``).
USERS_PREFIX = "users/"


@dataclass
class SweepReport:
    """What one sweep did (counts only: nothing here identifies a person)."""

    jobs_expired: int = 0
    objects_deleted: int = 0
    exports_deleted: int = 0
    batches: int = 0
    failures: int = 0
    # Job ids that failed this sweep (storage errors); retried by the next sweep.
    failed_ids: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, int]:
        return {
            "jobs_expired": self.jobs_expired,
            "objects_deleted": self.objects_deleted,
            "exports_deleted": self.exports_deleted,
            "batches": self.batches,
            "failures": self.failures,
        }


def expire_jobs(ctx: ServiceContext, report: SweepReport, *, limit: int) -> int:
    """One batch: delete the objects of up to ``limit`` due jobs, mark them expired.

    Returns how many due jobs this batch looked at (0: nothing left to do).
    """
    query = (
        select(Job.id, Job.user_id, Job.region)
        .where(Job.status != jobs.JobStatus.EXPIRED.value, Job.expires_at <= ctx.now())
        .order_by(Job.expires_at, Job.id)
        .limit(limit)
    )
    if report.failed_ids:
        query = query.where(Job.id.not_in(report.failed_ids))
    due = ctx.db.execute(query).all()
    for job_id, user_id, region in due:
        prefix = objects.job_object_key(user_id, job_id, "")
        try:
            store = objects.region_store(ctx.settings, region)
            deleted = store.delete_prefix(prefix)
            moved = jobs.expire_job(ctx, job_id)  # deletes again (no-op), then marks
        except StorageError:
            log.warning("retention.job_failed job_id=%s", job_id)
            report.failures += 1
            report.failed_ids.add(job_id)
            continue
        report.objects_deleted += deleted
        if moved:
            report.jobs_expired += 1
    return len(due)


def expire_exports(ctx: ServiceContext, report: SweepReport, *, limit: int) -> int:
    """Delete up to ``limit`` data-export archives whose link has expired, and their rows."""
    due = ctx.db.scalars(
        select(DataExport).where(DataExport.expires_at <= ctx.now()).limit(limit)
    ).all()
    for export in due:
        if export.object_key is not None:
            try:
                objects.delete_object(
                    ctx.settings, region=export.region, object_key=export.object_key
                )
            except StorageError:
                log.warning("retention.export_failed export_id=%s", export.id)
                report.failures += 1
                continue
            report.objects_deleted += 1
        ctx.db.delete(export)
        report.exports_deleted += 1
    ctx.db.flush()
    return len(due)


@dataclass(frozen=True)
class ExpiryRule:
    """The lifecycle rule of one ``s3://`` region, as read back from the bucket."""

    region: str
    store: str
    days: int | None


def install_expiry_rules(settings: Settings) -> list[ExpiryRule]:
    """Install (or refresh) the expiry rule of every ``s3://`` region; read each back.

    The rule covers the users' objects (``users/``) and fires ``retention_days +
    LIFECYCLE_GRACE_DAYS`` days after an object was written. ``file://`` regions have no
    such mechanism and are skipped.
    """
    days = settings.retention_days + LIFECYCLE_GRACE_DAYS
    installed: list[ExpiryRule] = []
    for region in settings.regions:
        store = objects.region_store(settings, region)
        if not isinstance(store, S3ObjectStore):
            continue
        store.ensure_bucket()
        store.install_expiry_rule(days, USERS_PREFIX)
        installed.append(
            ExpiryRule(
                region=region,
                store=store.describe(),
                days=store.expiry_rule_days(USERS_PREFIX),
            )
        )
        log.info("retention.lifecycle_installed region=%s days=%d", region, days)
    return installed


def install_lifecycle_rules(settings: Settings) -> list[ExpiryRule]:
    """At app start: :func:`install_expiry_rules`, but a store that refuses (no bucket
    permission, a server without lifecycle support) only logs a warning: the sweeper is
    the first line of defence and keeps working."""
    try:
        return install_expiry_rules(settings)
    except StorageError:
        log.warning("retention.lifecycle_failed")
        return []
