"""Attempt counting per account and per client, stored in the database (works across
replicas). Subjects are HMACs, so the table holds neither emails nor IP addresses.

The account subject is derived from the typed email, whether or not an account exists,
so throttling behaves the same for unknown addresses and reveals nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import delete, func, select

from clearcutout.db.models import ThrottleEvent
from clearcutout.errors import ThrottledError
from clearcutout.service.context import ServiceContext

TOO_MANY = "Too many attempts. Please wait %(minutes)s minutes and try again."


@dataclass(frozen=True, kw_only=True)
class Subject:
    """Who is counted: ``kind`` (an account, a client address, or an account as typed
    from one address), the raw value, and its limit."""

    kind: Literal["account", "ip", "ip+account"]
    value: str
    limit: int


def _subject_hash(ctx: ServiceContext, action: str, subject: Subject) -> bytes:
    return ctx.keyring.sign("throttle", f"{action}:{subject.kind}:{subject.value}".encode())


def ensure_allowed(ctx: ServiceContext, action: str, subjects: list[Subject]) -> None:
    """Raise :class:`ThrottledError` when any subject reached its limit in the window."""
    window = timedelta(minutes=ctx.settings.throttle.window_minutes)
    since = ctx.now() - window
    for subject in subjects:
        if not subject.value:
            continue
        count = ctx.db.scalar(
            select(func.count())
            .select_from(ThrottleEvent)
            .where(
                ThrottleEvent.action == action,
                ThrottleEvent.subject == _subject_hash(ctx, action, subject),
                ThrottleEvent.created_at > since,
            )
        )
        if (count or 0) >= subject.limit:
            raise ThrottledError(
                TOO_MANY,
                retry_after_s=int(window.total_seconds()),
                params={"minutes": ctx.settings.throttle.window_minutes},
            )


def ensure_backoff(
    ctx: ServiceContext, action: str, subject: Subject, *, base_seconds: float
) -> None:
    """Exponential backoff for one subject: after ``limit`` counted failures in the
    window, each further attempt waits ``base_seconds``, then twice that after the next
    failure, and so on, up to the window. Raises :class:`ThrottledError` while waiting."""
    if not subject.value:
        return
    window = timedelta(minutes=ctx.settings.throttle.window_minutes)
    now = ctx.now()
    count, last = ctx.db.execute(
        select(func.count(), func.max(ThrottleEvent.created_at)).where(
            ThrottleEvent.action == action,
            ThrottleEvent.subject == _subject_hash(ctx, action, subject),
            ThrottleEvent.created_at > now - window,
        )
    ).one()
    count = int(count or 0)
    if count < subject.limit or last is None:
        return
    wait = min(window.total_seconds(), base_seconds * 2 ** min(count - subject.limit, 30))
    left = (last + timedelta(seconds=wait) - now).total_seconds()
    if left > 0:
        raise ThrottledError(
            TOO_MANY,
            retry_after_s=max(1, math.ceil(left)),
            params={"minutes": max(1, math.ceil(left / 60))},
        )


def record(ctx: ServiceContext, action: str, subjects: list[Subject]) -> None:
    """Count one attempt for each subject, pruning that subject's expired events."""
    since = ctx.now() - timedelta(minutes=ctx.settings.throttle.window_minutes)
    for subject in subjects:
        if not subject.value:
            continue
        digest = _subject_hash(ctx, action, subject)
        ctx.db.execute(
            delete(ThrottleEvent).where(
                ThrottleEvent.action == action,
                ThrottleEvent.subject == digest,
                ThrottleEvent.created_at <= since,
            )
        )
        ctx.db.add(ThrottleEvent(action=action, subject=digest, created_at=ctx.now()))
    ctx.db.flush()


def clear(ctx: ServiceContext, action: str, subjects: list[Subject]) -> None:
    """Forget the counted attempts (e.g. an account's failed logins after a success)."""
    for subject in subjects:
        ctx.db.execute(
            delete(ThrottleEvent).where(
                ThrottleEvent.action == action,
                ThrottleEvent.subject == _subject_hash(ctx, action, subject),
            )
        )
