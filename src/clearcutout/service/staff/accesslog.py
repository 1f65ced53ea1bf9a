"""The staff access log: every time staff see or act on a person's data, every role
change, staff sign-in, data export and account deletion.

The privacy policy promises "All access is logged and monitored" ("Access Controls").
Entries hold ids, the action, the stated reason and where the request came from, never
the data itself, so they survive an account's deletion as ids only.

The log is tamper-evident: entries are numbered without gaps (``seq``) and each holds
the hash of the one before (``prev_hash``) and its own (``entry_hash``, over every field,
``crypto.chain_hash``). :func:`verify` walks the chain and names the first entry that
was edited, removed or moved. On PostgreSQL the application role may only INSERT and
SELECT (migration ``r0040``); :func:`record` is the one writer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, text

from clearcutout.crypto import chain_hash
from clearcutout.db.models import AccessLogEntry, User, new_id
from clearcutout.errors import ValidationError
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra.records import record_from

log = logging.getLogger(__name__)

#: Actions on a person's data by someone else; the rest are accountability entries.
ACCESS_ACTIONS = frozenset(
    {
        "view_account",
        "view_jobs",
        "view_image",
        "read_privacy_request",
        "flag_child_delete",
        "lock_account",
        "unlock_account",
    }
)
# Any constant: serialises writers on PostgreSQL, which needs no table privilege for it.
_CHAIN_LOCK = 0x0C1EA2C0


@dataclass(frozen=True)
class AccessRecord:
    """One entry as the person it is about sees it: staff shown as role + number, never
    by name or account id."""

    subject_user_id: str
    action: str
    reason: str
    at: datetime
    role: str
    staff_number: int | None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _fields(entry: AccessLogEntry) -> dict[str, str | int | None]:
    return {
        "id": entry.id,
        "seq": entry.seq,
        "actor_user_id": entry.actor_user_id,
        "actor_role": entry.actor_role,
        "actor_staff_number": entry.actor_staff_number,
        "subject_user_id": entry.subject_user_id,
        "action": entry.action,
        "reason": entry.reason,
        "source": entry.source,
        "created_at": _iso(entry.created_at),
    }


def actor_role(user: User | None) -> str:
    if user is None:
        return "operator"
    return user.staff_role or ("support" if user.is_staff else "user")


def clean_reason(reason: str) -> str:
    """The reason on one line; refused when empty (staff must say why)."""
    why = " ".join(reason.split())
    if not why:
        raise ValidationError("Say why you need to access this data.", field="reason")
    return why[:500]


def record(
    ctx: ServiceContext,
    *,
    actor: User | None,
    subject_user_id: str | None,
    action: str,
    reason: str,
    source: str = "",
) -> AccessLogEntry:
    """Append that ``actor`` (None: the operator's shell) did ``action`` on
    ``subject_user_id``'s data (None, said explicitly: on no one's), why, and from where
    (an IP address; ``cli`` for the operator's shell unless said)."""
    why = clean_reason(reason)
    source = source or ("cli" if actor is None else "")
    # Writers take turns, so each reads the true last entry: PostgreSQL by an advisory
    # lock (no table privilege needed), SQLite by taking its write lock with a write
    # that changes nothing (its driver reads outside any transaction). ``seq`` is unique
    # besides, so a chain can never fork.
    if ctx.db.get_bind().dialect.name == "postgresql":
        ctx.db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})
    else:
        ctx.db.execute(text("UPDATE access_log SET seq = seq WHERE 1 = 0"))
    last = ctx.db.execute(
        select(AccessLogEntry.seq, AccessLogEntry.entry_hash)
        .order_by(AccessLogEntry.seq.desc())
        .limit(1)
    ).first()
    entry = AccessLogEntry(
        id=new_id(),
        seq=(last.seq + 1) if last else 1,
        actor_user_id=actor.id if actor else "operator",
        actor_role=actor_role(actor),
        actor_staff_number=actor.staff_number if actor else None,
        subject_user_id=subject_user_id,
        action=action,
        reason=why,
        source=(source or "")[:64],
        created_at=ctx.now(),
        prev_hash=last.entry_hash if last else "",
    )
    entry.entry_hash = chain_hash(entry.prev_hash, _fields(entry))
    ctx.db.add(entry)
    ctx.db.flush()
    log.info(
        "access.logged seq=%d actor=%s subject=%s action=%s",
        entry.seq,
        entry.actor_user_id,
        subject_user_id,
        action,
    )
    from clearcutout.service.staff import monitoring

    monitoring.after_record(ctx, entry)
    return entry


def record_about(
    ctx: ServiceContext,
    subject: User,
    *,
    actor: User | None,
    action: str,
    reason: str,
    source: str = "",
) -> AccessLogEntry:
    """Append an entry about ``subject``'s account: a staff look or change, or the owner's
    own export or deletion (``actor`` is then ``subject``)."""
    return record(
        ctx, actor=actor, subject_user_id=subject.id, action=action, reason=reason, source=source
    )


def entries_about(ctx: ServiceContext, subject_user_id: str) -> list[AccessRecord]:
    """Every access by someone else to one person's data, oldest first (for their
    Privacy page and their export)."""
    rows = ctx.db.scalars(
        select(AccessLogEntry)
        .where(
            AccessLogEntry.subject_user_id == subject_user_id,
            AccessLogEntry.actor_user_id != subject_user_id,
        )
        .order_by(AccessLogEntry.seq)
    )
    return [
        record_from(
            AccessRecord,
            row,
            at=row.created_at,
            role=row.actor_role,
            staff_number=row.actor_staff_number,
        )
        for row in rows
    ]


@dataclass(frozen=True)
class Verification:
    """The result of walking the chain: ``broken_seq``/``broken_id`` name the first
    entry that does not fit (None when the chain is whole)."""

    entries: int
    broken_seq: int | None = None
    broken_id: str | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def verify(ctx: ServiceContext, *, batch: int = 1000) -> Verification:
    """Walk the whole log in ``seq`` order and report the first broken link."""
    expected_seq, prev, count = 1, "", 0
    last_seq = 0
    while True:
        rows = ctx.db.scalars(
            select(AccessLogEntry)
            .where(AccessLogEntry.seq > last_seq)
            .order_by(AccessLogEntry.seq)
            .limit(batch)
        ).all()
        if not rows:
            return Verification(entries=count)
        for row in rows:
            if row.seq != expected_seq:
                problem = f"entry #{expected_seq} is missing (next is #{row.seq})"
                return Verification(count, row.seq, row.id, problem)
            if row.prev_hash != prev:
                problem = "does not follow the entry before it (removed or reordered)"
                return Verification(count, row.seq, row.id, problem)
            if chain_hash(row.prev_hash, _fields(row)) != row.entry_hash:
                return Verification(count, row.seq, row.id, "was changed after it was written")
            prev, expected_seq, last_seq = row.entry_hash, expected_seq + 1, row.seq
            count += 1


def count_entries(ctx: ServiceContext) -> int:
    return int(ctx.db.scalar(select(func.count()).select_from(AccessLogEntry)) or 0)
