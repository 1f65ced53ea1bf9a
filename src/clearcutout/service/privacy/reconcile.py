"""Storage reconciliation: nothing stays stored that the database does not know about.

An upload stores the sealed original before its job row is committed (the row must name
an object that exists). When the commit fails (database down, process killed, an
``Idempotency-Key`` race) or a write times out and lands later, the object has no job, so
no retention sweep, deletion or erasure would ever find it, and "deleted after
``retention_days``" (privacy policy, "Data Retention") would be untrue for it. The same
holds for a half-written file a killed writer leaves in the file store.

:func:`reconcile_region` therefore deletes, in one region's store,

* objects under ``users/<user>/jobs/<job>/`` whose job row does not exist (or is
  ``expired``), or whose user does not exist any more,
* results of a finished job other than the one it recorded (a late worker's), and
* half-written files,

each only once it is older than ``GRACE`` (an upload in flight has no row yet). It runs
from the periodic tasks (``workers.tasks.reconcile_storage``) and as
``clearcutout storage reconcile``, and reports counts only: no key, user or job id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute

from clearcutout.db.models import Job, User
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import objects

log = logging.getLogger(__name__)

__all__ = ["GRACE", "ReconcileReport", "reconcile_region"]

# Older than this, an object without a row is a stray, not an upload still in flight.
GRACE = timedelta(hours=1)
_FINISHED = ("done", "failed")


@dataclass
class ReconcileReport:
    """What a reconciliation did: counts only."""

    objects_checked: int = 0
    objects_deleted: int = 0
    partials_deleted: int = 0


def reconcile_region(ctx: ServiceContext, region: str, report: ReconcileReport) -> None:
    """Delete the strays of one region's store (see the module docstring)."""
    store = objects.region_store(ctx.settings, region)
    cutoff = ctx.now() - GRACE
    candidates: list[tuple[str, str, str, str]] = []  # key, user, job, name
    for key, modified in store.iter_objects("users/"):
        report.objects_checked += 1
        parts = key.split("/")
        if modified >= cutoff or len(parts) < 3:
            continue
        if len(parts) >= 5 and parts[2] == "jobs":
            candidates.append((key, parts[1], parts[3], "/".join(parts[4:])))
        else:
            candidates.append((key, parts[1], "", ""))
    users = {c[1] for c in candidates}
    job_ids = {c[2] for c in candidates if c[2]}
    known_users = _existing(ctx, User.id, users)
    rows = {
        row.id: row
        for chunk in _chunks(sorted(job_ids))
        for row in ctx.db.execute(
            select(Job.id, Job.status, Job.original_key, Job.result_key).where(Job.id.in_(chunk))
        )
    }
    for key, user_id, job_id, name in candidates:
        if user_id not in known_users:
            stray = True
        elif not job_id:
            continue  # another kind of object (an export): its own sweep owns it
        else:
            row = rows.get(job_id)
            stray = (
                row is None
                or row.status == "expired"
                or (
                    row.status in _FINISHED and name.startswith("result-") and key != row.result_key
                )
            )
        if stray:
            store.delete(key)
            report.objects_deleted += 1
    report.partials_deleted += store.sweep_partials(cutoff)


def _existing(
    ctx: ServiceContext, column: InstrumentedAttribute[str], values: set[str]
) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(sorted(values)):
        found.update(ctx.db.scalars(select(column).where(column.in_(chunk))))
    return found


def _chunks(values: list[str], size: int = 500) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]
