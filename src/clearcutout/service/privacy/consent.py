"""Consent and email-preference history: every change, who made it, when.

The "Download my data" archive (``privacy.export``) includes :func:`history`; nothing
here is ever updated or deleted except with the account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from clearcutout.db.models import ConsentEvent, PolicyAcceptance, User
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra.records import record_from

KIND_EMAIL = "email_preference"
KIND_POLICY = "policy"
ACTOR_SELF = "self"
ACTOR_OPERATOR = "operator"


def staff_actor(staff_user_id: str) -> str:
    return f"staff:{staff_user_id}"


@dataclass(frozen=True)
class ConsentRecord:
    """One entry of a person's consent history, oldest first in :func:`history`."""

    kind: str
    subject: str
    value: str
    source: str
    actor: str
    at: datetime


def record(
    ctx: ServiceContext,
    user: User,
    *,
    kind: str,
    subject: str,
    value: str,
    source: str,
    actor: str = ACTOR_SELF,
    at: datetime | None = None,
) -> None:
    """Append one event to ``user``'s history (at ``at``, default now)."""
    ctx.db.add(
        ConsentEvent(
            user_id=user.id,
            kind=kind,
            subject=subject,
            value=value,
            source=source,
            actor=actor,
            created_at=at or ctx.now(),
        )
    )


def history(ctx: ServiceContext, user: User) -> list[ConsentRecord]:
    """The whole history, oldest first: policy acceptances (sign-up included) and
    email-preference changes."""
    events = [
        record_from(ConsentRecord, row, at=row.created_at)
        for row in ctx.db.scalars(select(ConsentEvent).where(ConsentEvent.user_id == user.id))
    ]
    # Acceptances recorded before the event table existed have no event of their own.
    recorded = {e.subject for e in events if e.kind == KIND_POLICY}
    for row in ctx.db.scalars(select(PolicyAcceptance).where(PolicyAcceptance.user_id == user.id)):
        if row.policy_version not in recorded:
            events.append(
                ConsentRecord(
                    kind=KIND_POLICY,
                    subject=row.policy_version,
                    value="accepted",
                    source="signup",
                    actor=ACTOR_SELF,
                    at=row.accepted_at,
                )
            )
    return sorted(events, key=lambda event: event.at)
