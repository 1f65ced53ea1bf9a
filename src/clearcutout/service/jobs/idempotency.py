"""``Idempotency-Key`` on uploads: the same key within ``idempotency_key_hours`` answers
with the job the first request created, instead of storing the image a second time. On
``/v1.0/removebg``, which stores nothing, a repeated key is processed again (the engine
is deterministic: the same image) but not charged again.

A client that lost the answer (a crash, a dropped connection) sends the request again
with the same key and learns the job it already has. The key row is written in the same
transaction as the job, so either both exist or neither does. Only hashes are kept: of
the key, and of the request (image and fields), so the same key with another request is
refused (:class:`~clearcutout.errors.IdempotencyKeyError`) instead of answering with the
wrong job. Rows go with the account and are deleted after their expiry
(:func:`forget_expired`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import delete, select

from clearcutout.db.models import IdempotencyKey, User
from clearcutout.errors import IdempotencyKeyError, ValidationError
from clearcutout.service.context import ServiceContext

__all__ = [
    "MAX_KEY_LENGTH",
    "find",
    "forget_expired",
    "remember",
    "replayed_job",
    "request_hash",
]

MAX_KEY_LENGTH = 255


def request_hash(data: bytes, fields: Mapping[str, object]) -> str:
    """A fingerprint of one upload: the image and every field, in a stable order."""
    digest = hashlib.sha256(data)
    for name in sorted(fields):
        digest.update(f"\x00{name}\x00{fields[name]}".encode())
    return digest.hexdigest()


def _key_hash(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationError(
            "The Idempotency-Key header must be 1 to %(max)s printable characters.",
            field="Idempotency-Key",
            params={"max": MAX_KEY_LENGTH},
        )
    return hashlib.sha256(key.encode()).hexdigest()


def find(ctx: ServiceContext, user_id: str, *, scope: str, key: str, fingerprint: str) -> bool:
    """Whether an earlier request of ``user_id`` with ``key`` is still remembered; the same
    key with another request raises :class:`~clearcutout.errors.IdempotencyKeyError`."""
    return _row(ctx, user_id, scope=scope, key=key, fingerprint=fingerprint) is not None


def replayed_job(
    ctx: ServiceContext, user: User, *, scope: str, key: str, fingerprint: str
) -> str | None:
    """The job an earlier request with ``key`` created (still remembered), or None."""
    row = _row(ctx, user.id, scope=scope, key=key, fingerprint=fingerprint)
    return row.job_id if row is not None else None


def _row(
    ctx: ServiceContext, user_id: str, *, scope: str, key: str, fingerprint: str
) -> IdempotencyKey | None:
    row = ctx.db.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id,
            IdempotencyKey.scope == scope,
            IdempotencyKey.key_hash == _key_hash(key),
            IdempotencyKey.expires_at > ctx.now(),
        )
    )
    if row is not None and row.request_hash != fingerprint:
        raise IdempotencyKeyError("This Idempotency-Key was already used with a different request.")
    return row


def remember(
    ctx: ServiceContext,
    user_id: str,
    *,
    scope: str,
    key: str,
    fingerprint: str,
    job_id: str | None = None,
) -> None:
    """Record ``key`` (and the job just created, if any) in the caller's transaction.

    An expired row under the same key is replaced. A concurrent request with the same key
    makes the flush (or the commit) fail on the unique constraint; the caller then finds
    the winner's with :func:`replayed_job` / :func:`find`.
    """
    key_hash = _key_hash(key)
    now = ctx.now()
    ctx.db.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id,
            IdempotencyKey.scope == scope,
            IdempotencyKey.key_hash == key_hash,
            IdempotencyKey.expires_at <= now,
        )
    )
    ctx.db.add(
        IdempotencyKey(
            user_id=user_id,
            scope=scope,
            key_hash=key_hash,
            expires_at=now + timedelta(hours=ctx.settings.idempotency_key_hours),
            created_at=now,
            request_hash=fingerprint,
            job_id=job_id,
        )
    )
    ctx.db.flush()


def forget_expired(ctx: ServiceContext) -> int:
    """Delete the keys past their expiry; the count."""
    outcome = ctx.db.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= ctx.now()))
    return int(getattr(outcome, "rowcount", 0) or 0)
