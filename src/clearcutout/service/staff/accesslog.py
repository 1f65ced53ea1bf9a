"""The staff access log: every time staff see or act on a person's data.

The privacy policy promises "All access is logged and monitored" ("Access Controls").
Entries hold ids, the action and the stated reason, never the data itself. The log is
not tamper-evident yet; callers write through :func:`record` only, so it can become so
in one place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from clearcutout.db.models import AccessLogEntry, User
from clearcutout.errors import ValidationError
from clearcutout.service.context import ServiceContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccessRecord:
    actor_user_id: str
    subject_user_id: str
    action: str
    reason: str
    at: datetime


def record(
    ctx: ServiceContext, *, actor: User, subject_user_id: str, action: str, reason: str
) -> None:
    """Log that ``actor`` did ``action`` on ``subject_user_id``'s data, and why."""
    why = " ".join(reason.split())
    if not why:
        raise ValidationError("Say why you need to access this data.", field="reason")
    ctx.db.add(
        AccessLogEntry(
            actor_user_id=actor.id,
            subject_user_id=subject_user_id,
            action=action,
            reason=why[:500],
            created_at=ctx.now(),
        )
    )
    ctx.db.flush()
    log.info("access.logged actor=%s subject=%s action=%s", actor.id, subject_user_id, action)


def entries_about(ctx: ServiceContext, subject_user_id: str) -> list[AccessRecord]:
    """Every logged access to one person's data, oldest first (for their export)."""
    rows = ctx.db.scalars(
        select(AccessLogEntry)
        .where(AccessLogEntry.subject_user_id == subject_user_id)
        .order_by(AccessLogEntry.created_at)
    )
    return [
        AccessRecord(
            actor_user_id=row.actor_user_id,
            subject_user_id=row.subject_user_id,
            action=row.action,
            reason=row.reason,
            at=row.created_at,
        )
        for row in rows
    ]
