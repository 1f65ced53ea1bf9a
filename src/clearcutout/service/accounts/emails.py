"""The account's emails and the single-use links they carry (verify an address, reset a
password, confirm a new address).

A link's token is stored only as its SHA-256 hash, expires, and works once. A link that
can take over the account (a password reset, an email change) also ends when something
makes it stale: another such link used, the password changed, the address changed. A
reset link mailed to an old address must never reset the account at its new one.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from clearcutout.db.models import EmailToken, User
from clearcutout.errors import InvalidTokenError
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra.userkeys import email_to_user, seal, user_key

__all__ = [
    "PURPOSE_CHANGE_EMAIL",
    "PURPOSE_RESET",
    "PURPOSE_VERIFY",
    "consume_token",
    "email_lifetime",
    "end_account_links",
    "find_token",
    "issue_token",
    "link",
    "queue_password_changed",
    "queue_verification",
]

PURPOSE_VERIFY = "verify_email"
PURPOSE_RESET = "reset_password"
PURPOSE_CHANGE_EMAIL = "change_email"


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def find_token(ctx: ServiceContext, token: str) -> EmailToken | None:
    """The stored link behind ``token`` (used or not), if there is one."""
    return ctx.db.scalar(select(EmailToken).where(EmailToken.token_hash == _token_hash(token)))


def issue_token(
    ctx: ServiceContext,
    user: User,
    *,
    purpose: str,
    lifetime: timedelta,
    new_email: str | None = None,
) -> str:
    """A new single-use link token for ``purpose`` (stored hashed; the caller mails it)."""
    token = secrets.token_urlsafe(32)
    row = EmailToken(
        user_id=user.id,
        purpose=purpose,
        token_hash=_token_hash(token),
        created_at=ctx.now(),
        expires_at=ctx.now() + lifetime,
    )
    if new_email is not None:
        row.new_email_enc = seal(
            user_key(ctx, user.id), user_id=user.id, field="new_email", value=new_email
        )
        row.new_email_index = ctx.keyring.email_index(new_email)
    ctx.db.add(row)
    return token


def consume_token(ctx: ServiceContext, token: str, *, purpose: str) -> tuple[EmailToken, User]:
    """Use a live link once; :class:`InvalidTokenError` when unknown, used or expired."""
    row = find_token(ctx, token)
    if row is None or row.purpose != purpose or row.used_at is not None:
        raise InvalidTokenError("This link is invalid or has already been used.")
    if ctx.now() >= row.expires_at:
        raise InvalidTokenError("This link has expired. Please ask for a new one.")
    user = ctx.db.get(User, row.user_id)
    if user is None:
        raise InvalidTokenError("This link is invalid or has already been used.")
    row.used_at = ctx.now()
    return row, user


def end_account_links(ctx: ServiceContext, user: User) -> int:
    """End every outstanding password-reset and email-change link of ``user`` (marked
    used); called when the password or the address changes, and when one of them is
    used. Returns how many were ended."""
    result = ctx.db.execute(
        update(EmailToken)
        .where(
            EmailToken.user_id == user.id,
            EmailToken.purpose.in_((PURPOSE_RESET, PURPOSE_CHANGE_EMAIL)),
            EmailToken.used_at.is_(None),
        )
        .values(used_at=ctx.now(), new_email_enc=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def link(ctx: ServiceContext, path: str, token: str) -> str:
    """The absolute URL of ``path`` carrying ``token`` (emails need the public address)."""
    return f"{ctx.settings.base_url.rstrip('/')}{path}?token={token}"


def email_lifetime(ctx: ServiceContext) -> timedelta:
    return timedelta(hours=ctx.settings.email_token_hours)


def queue_verification(ctx: ServiceContext, user: User) -> None:
    """Email a link that confirms the account's address (sent after the commit)."""
    token = issue_token(ctx, user, purpose=PURPOSE_VERIFY, lifetime=email_lifetime(ctx))
    ctx.outbox.add(
        email_to_user(
            ctx,
            user,
            kind="verify_email",
            subject="Confirm your email address",
            paragraphs=[
                "Welcome to ClearCutout. Please confirm your email address to finish "
                "creating your account.",
                "The link is valid for %(hours)s hours. If you did not sign up, ignore "
                "this message and no account will be activated.",
            ],
            action_url=link(ctx, "/verify-email", token),
            action_label="Confirm email address",
            params={"hours": ctx.settings.email_token_hours},
        )
    )


def queue_password_changed(ctx: ServiceContext, user: User) -> None:
    ctx.outbox.add(
        email_to_user(
            ctx,
            user,
            kind="password_changed",
            subject="Your ClearCutout password was changed",
            paragraphs=[
                "The password of your ClearCutout account was just changed and other "
                "sessions were signed out.",
                "If you did not do this, reset your password at once and contact us.",
            ],
        )
    )
