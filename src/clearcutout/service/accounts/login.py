"""Signing in and a forgotten password: credentials checked under attempt limits, and a
single-use reset link.

A reset request for an unknown address looks the same as one for a known address.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from clearcutout.db.models import User
from clearcutout.errors import AuthenticationError, EmailNotVerifiedError, InvalidTokenError
from clearcutout.service.accounts import sessions
from clearcutout.service.accounts.emails import (
    PURPOSE_RESET,
    consume_token,
    end_account_links,
    find_token,
    issue_token,
    link,
    queue_password_changed,
    queue_verification,
)
from clearcutout.service.accounts.passwords import (
    check_strength,
    dummy_verify,
    hash_password,
    verify_password,
)
from clearcutout.service.accounts.profiles import find_user_by_email, normalise_email
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import throttle
from clearcutout.service.infra.userkeys import email_to_user, read_email, read_name

log = logging.getLogger(__name__)

__all__ = [
    "WRONG_CREDENTIALS",
    "authenticate",
    "check_reset_token",
    "request_password_reset",
    "reset_password",
]

WRONG_CREDENTIALS = "The email address or password is not correct."


def _login_subjects(
    ctx: ServiceContext, email: str, client_ip: str | None
) -> list[throttle.Subject]:
    """Who failed logins are counted against: the address and the account *as typed from
    that address* — never the account alone, or five wrong guesses from anywhere would
    lock its owner out everywhere."""
    limits = ctx.settings.throttle
    return [
        throttle.Subject(
            kind="ip+account", value=f"{client_ip or ''}|{email}", limit=limits.login_per_account
        ),
        throttle.Subject(kind="ip", value=client_ip or "", limit=limits.login_per_ip),
    ]


def authenticate(ctx: ServiceContext, *, email: str, password: str, client_ip: str | None) -> User:
    """Check credentials and return the user. Failures are throttled per address (a
    fixed limit across accounts) and per address and account (exponential backoff once
    past its limit); a correct login from another address is never held back."""
    normalised = normalise_email(email)
    subjects = _login_subjects(ctx, normalised, client_ip)
    throttle.ensure_allowed(ctx, "login", subjects[1:])
    throttle.ensure_backoff(
        ctx, "login", subjects[0], base_seconds=ctx.settings.throttle.login_backoff_base_seconds
    )
    user = find_user_by_email(ctx, normalised)
    if user is None:
        dummy_verify(ctx.settings)
        throttle.record(ctx, "login", subjects)
        log.info("auth.login_failed reason=credentials")
        raise AuthenticationError(WRONG_CREDENTIALS, code="invalid_credentials")
    if not verify_password(ctx.settings, user.password_hash, password):
        throttle.record(ctx, "login", subjects)
        log.info("auth.login_failed user_id=%s reason=credentials", user.id)
        raise AuthenticationError(WRONG_CREDENTIALS, code="invalid_credentials")
    if user.email_verified_at is None:
        queue_verification(ctx, user)
        log.info("auth.login_refused user_id=%s reason=unverified", user.id)
        raise EmailNotVerifiedError(
            "Please confirm your email address first. We have sent you a new link."
        )
    if user.locked_at is not None:
        log.info("auth.login_refused user_id=%s reason=locked", user.id)
        raise AuthenticationError(
            "This account is locked. Please contact support.", code="account_locked"
        )
    throttle.clear(ctx, "login", subjects[:1])
    log.info("auth.login user_id=%s", user.id)
    if user.staff_role or user.is_staff:
        # Privacy policy, "Access Controls": a staff sign-in is an access-log entry.
        from clearcutout.service.staff import accesslog

        accesslog.record(
            ctx,
            actor=user,
            subject_user_id=None,
            action="staff_login",
            reason="signed in with password",
            source=client_ip or "",
        )
    return user


# ----------------------------------------------------------------------------- password reset


def request_password_reset(ctx: ServiceContext, *, email: str, client_ip: str | None) -> None:
    """Email a single-use reset link if the address has an account; same answer if not."""
    normalised = normalise_email(email)
    limits = ctx.settings.throttle
    subjects = [
        throttle.Subject(kind="account", value=normalised, limit=limits.reset_per_account),
        throttle.Subject(kind="ip", value=client_ip or "", limit=limits.reset_per_ip),
    ]
    throttle.ensure_allowed(ctx, "reset", subjects)
    throttle.record(ctx, "reset", subjects)
    user = find_user_by_email(ctx, normalised)
    if user is None:
        log.info("auth.reset_requested known=false")
        return
    token = issue_token(
        ctx,
        user,
        purpose=PURPOSE_RESET,
        lifetime=timedelta(minutes=ctx.settings.password_reset_minutes),
    )
    ctx.outbox.add(
        email_to_user(
            ctx,
            user,
            kind="reset_password",
            subject="Reset your ClearCutout password",
            paragraphs=[
                "Someone asked to reset the password of your ClearCutout account. Use the "
                "link below to choose a new one; it works once, for %(minutes)s minutes.",
                "If you did not ask for this, ignore this message: your password stays the same.",
            ],
            action_url=link(ctx, "/password-reset/confirm", token),
            action_label="Choose a new password",
            params={"minutes": ctx.settings.password_reset_minutes},
        )
    )
    log.info("auth.reset_requested user_id=%s", user.id)


def check_reset_token(ctx: ServiceContext, token: str) -> None:
    """Raise :class:`InvalidTokenError` unless ``token`` is a live reset token."""
    row = find_token(ctx, token)
    if row is None or row.purpose != PURPOSE_RESET or row.used_at is not None:
        raise InvalidTokenError("This link is invalid or has already been used.")
    if ctx.now() >= row.expires_at:
        raise InvalidTokenError("This link has expired. Please ask for a new one.")


def reset_password(ctx: ServiceContext, *, token: str, new_password: str) -> User:
    """Set a new password from a reset link; ends every session of the account."""
    check_reset_token(ctx, token)
    row = find_token(ctx, token)
    assert row is not None
    user = ctx.db.get(User, row.user_id)
    assert user is not None
    email, name = read_email(ctx, user), read_name(ctx, user)
    check_strength(ctx.settings, new_password, email=email, name=name)
    consume_token(ctx, token, purpose=PURPOSE_RESET)
    end_account_links(ctx, user)  # sibling reset links and pending email changes
    user.password_hash = hash_password(ctx.settings, new_password)
    user.password_changed_at = ctx.now()
    # Whoever could read the mailbox proved control of the address.
    if user.email_verified_at is None:
        user.email_verified_at = ctx.now()
    sessions.revoke_all_sessions(ctx, user)
    queue_password_changed(ctx, user)
    log.info("auth.password_reset user_id=%s", user.id)
    return user
