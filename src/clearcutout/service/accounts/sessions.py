"""Server-side browser sessions: idle and absolute expiry, rotation, revocation."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from clearcutout.db.models import AuthSession, User
from clearcutout.errors import NotFoundError
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra.records import record_from

log = logging.getLogger(__name__)

# Writing last_seen_at on every request would turn each page view into a write.
_TOUCH_EVERY = timedelta(minutes=1)


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class SessionInfo:
    id: str
    client_label: str
    created_at: datetime
    last_seen_at: datetime
    current: bool


def create_session(ctx: ServiceContext, user: User, *, client_label: str = "") -> str:
    """Start a session for ``user``; returns the token for the cookie (shown once)."""
    token = secrets.token_urlsafe(32)
    now = ctx.now()
    session = AuthSession(
        user_id=user.id,
        token_hash=_hash(token),
        client_label=client_label[:64],
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(days=ctx.settings.session_absolute_days),
    )
    ctx.db.add(session)
    ctx.db.flush()
    log.info("session.created user_id=%s session_id=%s", user.id, session.id)
    return token


def resolve_session(ctx: ServiceContext, token: str | None) -> tuple[AuthSession, User] | None:
    """The live session and user behind a cookie token, or None (expired ones are ended)."""
    if not token:
        return None
    session = ctx.db.scalar(select(AuthSession).where(AuthSession.token_hash == _hash(token)))
    if session is None:
        return None
    now = ctx.now()
    idle_limit = session.last_seen_at + timedelta(minutes=ctx.settings.session_idle_minutes)
    if now >= session.expires_at or now >= idle_limit:
        ctx.db.delete(session)
        ctx.db.flush()
        log.info("session.expired session_id=%s", session.id)
        return None
    if now - session.last_seen_at >= _TOUCH_EVERY:
        session.last_seen_at = now
    user = ctx.db.get(User, session.user_id)
    if user is None or user.locked_at is not None:
        # An admin locked the account (``service.staff.roles.lock_account``).
        return None
    return session, user


def end_session(ctx: ServiceContext, token: str | None) -> None:
    """Log out: delete the session behind ``token`` (no error if there is none)."""
    if token:
        ctx.db.execute(delete(AuthSession).where(AuthSession.token_hash == _hash(token)))


def list_sessions(ctx: ServiceContext, user: User, *, current_id: str | None) -> list[SessionInfo]:
    rows = ctx.db.scalars(
        select(AuthSession)
        .where(AuthSession.user_id == user.id)
        .order_by(AuthSession.last_seen_at.desc())
    )
    return [record_from(SessionInfo, row, current=row.id == current_id) for row in rows]


def revoke_session(ctx: ServiceContext, user: User, session_id: str) -> None:
    row = ctx.db.get(AuthSession, session_id)
    if row is None or row.user_id != user.id:
        raise NotFoundError("No such session.")
    ctx.db.delete(row)
    log.info("session.revoked user_id=%s session_id=%s", user.id, session_id)


def revoke_all_sessions(ctx: ServiceContext, user: User, *, except_id: str | None = None) -> int:
    """End every session of ``user`` (but ``except_id``); returns how many ended."""
    statement = delete(AuthSession).where(AuthSession.user_id == user.id)
    if except_id is not None:
        statement = statement.where(AuthSession.id != except_id)
    result = ctx.db.execute(statement)
    count = int(getattr(result, "rowcount", 0) or 0)
    log.info("session.revoked_all user_id=%s count=%d", user.id, count)
    return count


# What a User-Agent says, first match wins: the token it contains, and the name shown.
_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iOS"),
    ("Windows", "Windows"),
    ("Mac OS", "macOS"),
    ("Linux", "Linux"),
)


def _first_named(agent: str, names: tuple[tuple[str, str], ...], default: str) -> str:
    return next((name for token, name in names if token in agent), default)


def describe_client(user_agent: str | None) -> str:
    """A coarse, non-identifying label for the sessions list (browser · system)."""
    agent = user_agent or ""
    browser = _first_named(agent, _BROWSERS, "Browser")
    system = _first_named(agent, _SYSTEMS, "")
    return f"{browser} · {system}" if system else browser
