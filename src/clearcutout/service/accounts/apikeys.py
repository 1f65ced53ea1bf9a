"""API keys: ``cck_<prefix>_<secret>``, shown once, stored as a SHA-256 of the whole key.

Keys are high-entropy random strings, so a fast hash is enough (no password stretching).
The prefix is unique and shown in lists so people can tell keys apart. Wrong keys are
counted per client address (``throttle.api_key_failures_per_ip`` per window): past the
limit that address gets 429 instead of a free oracle, while valid keys are never
counted, so a key's owner behind the same address keeps working.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from clearcutout.db.models import ApiKey, User
from clearcutout.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import throttle

log = logging.getLogger(__name__)

SCOPES: tuple[str, ...] = ("images", "account")
KEY_PREFIX = "cck"
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiKeyInfo:
    id: str
    prefix: str
    label: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None


def _hash(raw: str) -> bytes:
    return hashlib.sha256(raw.encode()).digest()


def _info(row: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        prefix=row.prefix,
        label=row.label,
        scopes=tuple(row.scopes.split()),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


def create_api_key(
    ctx: ServiceContext, user: User, *, label: str, scopes: list[str]
) -> tuple[ApiKeyInfo, str]:
    """Create a key; returns its description and the full key (never retrievable again)."""
    chosen = sorted(set(scopes), key=SCOPES.index) if set(scopes) <= set(SCOPES) else None
    if not chosen:
        raise ValidationError("Choose at least one valid scope.", field="scopes")
    label = label.strip()
    if len(label) > 64:
        raise ValidationError("Use at most 64 characters for the label.", field="label")
    prefix = f"{KEY_PREFIX}_{secrets.token_hex(4)}"
    raw = f"{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        user_id=user.id,
        prefix=prefix,
        key_hash=_hash(raw),
        label=label,
        scopes=" ".join(chosen),
        created_at=ctx.now(),
    )
    ctx.db.add(row)
    ctx.db.flush()
    log.info("apikey.created user_id=%s apikey_id=%s", user.id, row.id)
    return _info(row), raw


def list_api_keys(ctx: ServiceContext, user: User) -> list[ApiKeyInfo]:
    rows = ctx.db.scalars(
        select(ApiKey)
        .where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.created_at.desc())
    )
    return [_info(row) for row in rows]


def revoke_api_key(ctx: ServiceContext, user: User, key_id: str) -> None:
    row = ctx.db.get(ApiKey, key_id)
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        raise NotFoundError("No such API key.")
    row.revoked_at = ctx.now()
    log.info("apikey.revoked user_id=%s apikey_id=%s", user.id, key_id)


_WRONG_KEY = "apikey.wrong"


def _live_key(ctx: ServiceContext, raw: str) -> ApiKey | None:
    parts = raw.strip().split("_")
    if len(parts) < 3 or parts[0] != KEY_PREFIX:
        return None
    row = ctx.db.scalar(select(ApiKey).where(ApiKey.prefix == f"{parts[0]}_{parts[1]}"))
    if (
        row is None
        or row.revoked_at is not None
        or not hmac.compare_digest(row.key_hash, _hash(raw.strip()))
    ):
        return None
    return row


def _valid_key(ctx: ServiceContext, raw: str, client_ip: str | None) -> ApiKey:
    """The live key ``raw``; a wrong one is counted against ``client_ip`` (when given)
    and refused with 401, or 429 once the address is over its limit."""
    row = _live_key(ctx, raw)
    if row is not None:
        return row
    if client_ip is not None:
        subjects = [
            throttle.Subject(
                kind="ip", value=client_ip, limit=ctx.settings.throttle.api_key_failures_per_ip
            )
        ]
        throttle.ensure_allowed(ctx, _WRONG_KEY, subjects)
        throttle.record(ctx, _WRONG_KEY, subjects)
    log.info("apikey.refused reason=invalid")
    raise AuthenticationError("Invalid API key.", code="invalid_api_key")


def check_api_key(ctx: ServiceContext, raw: str, client_ip: str | None) -> None:
    """Raise unless ``raw`` is a live key (any scope); wrong keys are throttled."""
    _valid_key(ctx, raw, client_ip)


def authenticate_api_key(
    ctx: ServiceContext, raw: str, *, scope: str, client_ip: str | None = None
) -> User:
    """The owner of a valid, unrevoked key that carries ``scope``; with ``client_ip``,
    wrong keys are counted and throttled per address."""
    invalid = AuthenticationError("Invalid API key.", code="invalid_api_key")
    row = _valid_key(ctx, raw, client_ip)
    if scope not in row.scopes.split():
        raise PermissionDeniedError(
            "This API key lacks the scope %(scope)s.", params={"scope": scope}
        )
    now = ctx.now()
    if row.last_used_at is None or now - row.last_used_at >= _TOUCH_EVERY:
        # Bookkeeping, written after the request's own commit: a full disk or a held lock
        # skips it instead of failing the request.
        key_id = row.id
        ctx.defer(
            lambda db: db.execute(
                update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now)
            )
        )
    user = ctx.db.get(User, row.user_id)
    if user is None:
        raise invalid
    return user
