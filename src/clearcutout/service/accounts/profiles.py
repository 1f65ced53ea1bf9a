"""A person's account as they see and change it: email, name, password, preferences and
region, and the checks every account field goes through.

Emails and names are stored only sealed with the user's key (``service.infra.userkeys``);
lookups go through the email blind index.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from clearcutout.db.models import User
from clearcutout.errors import NotFoundError, ValidationError
from clearcutout.service.accounts import sessions
from clearcutout.service.accounts.emails import (
    PURPOSE_CHANGE_EMAIL,
    email_lifetime,
    end_account_links,
    issue_token,
    link,
    queue_password_changed,
)
from clearcutout.service.accounts.passwords import check_strength, hash_password, verify_password
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra.i18n import SUPPORTED_LANGUAGES
from clearcutout.service.infra.userkeys import (
    email_to_user,
    read_email,
    read_name,
    seal,
    unseal,
    user_key,
)
from clearcutout.service.privacy import residency

log = logging.getLogger(__name__)

__all__ = [
    "THEMES",
    "Profile",
    "change_name",
    "change_password",
    "change_region",
    "clean_referral_code",
    "find_user_by_email",
    "get_user_by_email",
    "list_users",
    "normalise_email",
    "profile",
    "request_email_change",
    "set_preferences",
    "validate_email",
    "validate_name",
    "validate_region",
]

THEMES: tuple[str, ...] = ("system", "light", "dark")
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_REFERRAL_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Profile:
    """A user's account as they see it (decrypted)."""

    id: str
    email: str
    name: str
    region: str
    theme: str
    lang: str
    email_verified: bool
    created_at: datetime


def normalise_email(email: str) -> str:
    return email.strip().lower()


def validate_email(email: str, *, field: str = "email") -> str:
    value = normalise_email(email)
    if len(value) > 254 or not _EMAIL_RE.match(value):
        raise ValidationError("Enter a valid email address.", field=field)
    return value


def validate_name(name: str) -> str:
    value = " ".join(name.split())
    if not value:
        raise ValidationError("Enter your name.", field="name")
    if len(value) > 100:
        raise ValidationError("Use at most 100 characters for your name.", field="name")
    return value


def clean_referral_code(code: str | None) -> str | None:
    """A well-formed ``?ref=`` code, else None (a bad code never blocks sign-up)."""
    value = (code or "").strip()
    return value if _REFERRAL_RE.match(value) else None


def validate_region(ctx: ServiceContext, region: str) -> str:
    """A region a new account (plan ``free``) may choose (``service.privacy.residency``)."""
    return residency.check_region(ctx.settings, region, residency.DEFAULT_PLAN)


def find_user_by_email(ctx: ServiceContext, email: str) -> User | None:
    return ctx.db.scalar(
        select(User).where(User.email_index == ctx.keyring.email_index(normalise_email(email)))
    )


def profile(ctx: ServiceContext, user: User) -> Profile:
    """The decrypted account of ``user``."""
    key = user_key(ctx, user.id)
    return Profile(
        id=user.id,
        email=unseal(key, user_id=user.id, field="email", blob=user.email_enc),
        name=unseal(key, user_id=user.id, field="name", blob=user.name_enc),
        region=user.region,
        theme=user.theme,
        lang=user.lang,
        email_verified=user.email_verified_at is not None,
        created_at=user.created_at,
    )


def list_users(ctx: ServiceContext) -> list[Profile]:
    """Every account, decrypted (operator command)."""
    return [profile(ctx, user) for user in ctx.db.scalars(select(User).order_by(User.created_at))]


def get_user_by_email(ctx: ServiceContext, email: str) -> User:
    user = find_user_by_email(ctx, email)
    if user is None:
        raise NotFoundError("No account with this email address.")
    return user


def change_name(ctx: ServiceContext, user: User, *, name: str) -> None:
    value = validate_name(name)
    user.name_enc = seal(user_key(ctx, user.id), user_id=user.id, field="name", value=value)
    log.info("account.name_changed user_id=%s", user.id)


def change_password(
    ctx: ServiceContext,
    user: User,
    *,
    current_password: str,
    new_password: str,
    keep_session_id: str | None,
) -> None:
    """Change the password (current one required); other sessions are signed out."""
    if not verify_password(ctx.settings, user.password_hash, current_password):
        raise ValidationError("Your current password is not correct.", field="current_password")
    email, name = read_email(ctx, user), read_name(ctx, user)
    check_strength(ctx.settings, new_password, email=email, name=name)
    user.password_hash = hash_password(ctx.settings, new_password)
    user.password_changed_at = ctx.now()
    end_account_links(ctx, user)
    sessions.revoke_all_sessions(ctx, user, except_id=keep_session_id)
    queue_password_changed(ctx, user)
    log.info("account.password_changed user_id=%s", user.id)


def request_email_change(ctx: ServiceContext, user: User, *, new_email: str, password: str) -> None:
    """Send a confirmation link to the new address; the change applies when it is used."""
    if not verify_password(ctx.settings, user.password_hash, password):
        raise ValidationError("Your current password is not correct.", field="email_password")
    value = validate_email(new_email, field="new_email")
    if value == read_email(ctx, user):
        raise ValidationError("This is already your email address.", field="new_email")
    token = issue_token(
        ctx, user, purpose=PURPOSE_CHANGE_EMAIL, lifetime=email_lifetime(ctx), new_email=value
    )
    # A taken address gets the link too (it fails on use): the form reveals nothing.
    ctx.outbox.add(
        email_to_user(
            ctx,
            user,
            kind="confirm_new_email",
            to=value,
            subject="Confirm your new email address",
            paragraphs=[
                "Please confirm that you want to use this email address for your "
                "ClearCutout account. The link is valid for %(hours)s hours.",
            ],
            action_url=link(ctx, "/verify-email", token),
            action_label="Confirm email address",
            params={"hours": ctx.settings.email_token_hours},
        )
    )
    log.info("account.email_change_requested user_id=%s", user.id)


def set_preferences(
    ctx: ServiceContext, user: User, *, theme: str | None = None, lang: str | None = None
) -> None:
    if theme is not None:
        if theme not in THEMES:
            raise ValidationError("Choose a valid theme.", field="theme")
        user.theme = theme
    if lang is not None:
        if lang not in SUPPORTED_LANGUAGES:
            raise ValidationError("Choose a valid language.", field="lang")
        user.lang = lang
    log.info("account.preferences_changed user_id=%s", user.id)


def change_region(ctx: ServiceContext, user: User, *, region: str) -> residency.RegionMove | None:
    """Move the account, its key and its stored objects to another region.

    See :func:`service.privacy.residency.move_to_region`: the caller commits, then passes the
    result to :func:`service.privacy.residency.finish_move` to delete the old region's copies.
    """
    return residency.move_to_region(ctx, user, region=region)
