"""Accounts: sign-up, email verification, login, password reset, profile changes.

Emails and names are stored only sealed with the user's key (see ``userkeys``); lookups
go through the email blind index. Answers never reveal whether an address has an
account: sign-up with a taken address and reset requests for unknown ones look the same
to the caller, and the owner of a taken address is told by email instead.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from clearcutout.db.models import EmailToken, PolicyAcceptance, User, new_id
from clearcutout.errors import (
    AgeRequirementError,
    AuthenticationError,
    EmailNotVerifiedError,
    InvalidTokenError,
    NotFoundError,
    ValidationError,
)
from clearcutout.service.accounts import sessions
from clearcutout.service.accounts.passwords import (
    check_strength,
    dummy_verify,
    hash_password,
    verify_password,
)
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import throttle
from clearcutout.service.infra.i18n import SUPPORTED_LANGUAGES
from clearcutout.service.infra.mail import render_email
from clearcutout.service.infra.userkeys import (
    create_user_key,
    read_email,
    read_name,
    seal,
    unseal,
    user_key,
)
from clearcutout.service.privacy import consent, residency
from clearcutout.service.privacy.policy import current_version

log = logging.getLogger(__name__)

THEMES: tuple[str, ...] = ("system", "light", "dark")
PURPOSE_VERIFY = "verify_email"
PURPOSE_RESET = "reset_password"
PURPOSE_CHANGE_EMAIL = "change_email"
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_REFERRAL_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
WRONG_CREDENTIALS = "The email address or password is not correct."


@dataclass(frozen=True)
class SignUp:
    """What the sign-up form collects."""

    email: str
    name: str
    password: str
    region: str
    accepted_policy_version: str | None
    # True: "I am 13 or older"; False: "I am under 13"; None: not answered.
    at_least_minimum_age: bool | None
    lang: str = "en"
    # The ``?ref=`` code the person arrived with (first-party referral attribution).
    referral_code: str | None = None


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


# ----------------------------------------------------------------------------- helpers


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
    """A region a new account (plan ``free``) may choose (``service.residency``)."""
    return residency.check_region(ctx.settings, region, residency.DEFAULT_PLAN)


def find_user_by_email(ctx: ServiceContext, email: str) -> User | None:
    return ctx.db.scalar(
        select(User).where(User.email_index == ctx.keyring.email_index(normalise_email(email)))
    )


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _issue_token(
    ctx: ServiceContext,
    user: User,
    *,
    purpose: str,
    lifetime: timedelta,
    new_email: str | None = None,
) -> str:
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


def _consume_token(ctx: ServiceContext, token: str, *, purpose: str) -> tuple[EmailToken, User]:
    row = ctx.db.scalar(select(EmailToken).where(EmailToken.token_hash == _token_hash(token)))
    if row is None or row.purpose != purpose or row.used_at is not None:
        raise InvalidTokenError("This link is invalid or has already been used.")
    if ctx.now() >= row.expires_at:
        raise InvalidTokenError("This link has expired. Please ask for a new one.")
    user = ctx.db.get(User, row.user_id)
    if user is None:
        raise InvalidTokenError("This link is invalid or has already been used.")
    row.used_at = ctx.now()
    return row, user


def _link(ctx: ServiceContext, path: str, token: str) -> str:
    return f"{ctx.settings.base_url.rstrip('/')}{path}?token={token}"


def _email_lifetime(ctx: ServiceContext) -> timedelta:
    return timedelta(hours=ctx.settings.email_token_hours)


def _queue_verification(ctx: ServiceContext, user: User, *, email: str, name: str) -> None:
    token = _issue_token(ctx, user, purpose=PURPOSE_VERIFY, lifetime=_email_lifetime(ctx))
    ctx.outbox.add(
        render_email(
            kind="verify_email",
            lang=user.lang,
            to=email,
            subject="Confirm your email address",
            greeting_name=name,
            paragraphs=[
                "Welcome to ClearCutout. Please confirm your email address to finish "
                "creating your account.",
                "The link is valid for %(hours)s hours. If you did not sign up, ignore "
                "this message and no account will be activated.",
            ],
            action_url=_link(ctx, "/verify-email", token),
            action_label="Confirm email address",
            params={"hours": ctx.settings.email_token_hours},
        )
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


# ----------------------------------------------------------------------------- sign-up


def _signup_subjects(ctx: ServiceContext, client_ip: str | None) -> list[throttle.Subject]:
    return [
        throttle.Subject(
            kind="ip", value=client_ip or "", limit=ctx.settings.throttle.signup_per_ip
        )
    ]


def sign_up(ctx: ServiceContext, form: SignUp, *, client_ip: str | None) -> None:
    """Create an unverified account and email a confirmation link.

    Under the minimum age the request is refused before anything is stored or counted.
    A taken address gets the same answer; its owner is emailed instead.
    """
    if form.at_least_minimum_age is None:
        raise ValidationError("Please confirm your age.", field="age")
    if not form.at_least_minimum_age:
        raise AgeRequirementError(
            "Sorry, ClearCutout is not available to children under %(age)s. "
            "Nothing you entered has been stored.",
            field="age",
            params={"age": ctx.settings.minimum_age_years},
        )
    email = validate_email(form.email)
    name = validate_name(form.name)
    region = validate_region(ctx, form.region)
    policy = current_version(ctx)
    if form.accepted_policy_version != policy.version:
        raise ValidationError(
            "Please read and accept the privacy policy to create an account.", field="policy"
        )
    check_strength(ctx.settings, form.password, email=email, name=name)
    lang = form.lang if form.lang in SUPPORTED_LANGUAGES else ctx.settings.default_language
    subjects = _signup_subjects(ctx, client_ip)
    throttle.ensure_allowed(ctx, "signup", subjects)
    throttle.record(ctx, "signup", subjects)

    existing = find_user_by_email(ctx, email)
    if existing is not None:
        ctx.outbox.add(
            render_email(
                kind="account_exists",
                lang=existing.lang,
                to=email,
                subject="Someone tried to sign up with your email address",
                greeting_name=None,
                paragraphs=[
                    "Someone, perhaps you, tried to create a ClearCutout account with this "
                    "email address. You already have an account.",
                    "If you forgot your password, you can reset it on the login page. If it "
                    "was not you, you can ignore this message.",
                ],
                action_url=f"{ctx.settings.base_url.rstrip('/')}/password-reset",
                action_label="Reset password",
            )
        )
        log.info("account.signup_existing")
        return

    now = ctx.now()
    user_id = new_id()
    key = create_user_key(ctx, user_id=user_id, region=region)
    user = User(
        id=user_id,
        email_index=ctx.keyring.email_index(email),
        email_enc=seal(key, user_id=user_id, field="email", value=email),
        name_enc=seal(key, user_id=user_id, field="name", value=name),
        password_hash=hash_password(ctx.settings, form.password),
        region=region,
        lang=lang,
        theme="system",
        age_confirmed_at=now,
        password_changed_at=now,
        created_at=now,
        updated_at=now,
        referral_code=clean_referral_code(form.referral_code),
    )
    ctx.db.add(user)
    ctx.db.flush()
    ctx.db.add(PolicyAcceptance(user_id=user_id, policy_version=policy.version, accepted_at=now))
    consent.record(
        ctx,
        user,
        kind=consent.KIND_POLICY,
        subject=policy.version,
        value="accepted",
        source="signup",
        at=now,
    )
    ctx.db.flush()
    _queue_verification(ctx, user, email=email, name=name)
    log.info("account.created user_id=%s region=%s", user_id, region)


def create_user_as_operator(
    ctx: ServiceContext, *, email: str, name: str, password: str, region: str | None = None
) -> User:
    """Operator command: a verified account without the sign-up form (no policy consent
    recorded: the person is asked at their first login once policy versions exist)."""
    email = validate_email(email)
    name = validate_name(name)
    region = validate_region(ctx, region or ctx.settings.default_region)
    check_strength(ctx.settings, password, email=email, name=name)
    if find_user_by_email(ctx, email) is not None:
        raise ValidationError("An account with this email address already exists.", field="email")
    now = ctx.now()
    user_id = new_id()
    key = create_user_key(ctx, user_id=user_id, region=region)
    user = User(
        id=user_id,
        email_index=ctx.keyring.email_index(email),
        email_enc=seal(key, user_id=user_id, field="email", value=email),
        name_enc=seal(key, user_id=user_id, field="name", value=name),
        password_hash=hash_password(ctx.settings, password),
        region=region,
        lang=ctx.settings.default_language,
        theme="system",
        email_verified_at=now,
        age_confirmed_at=now,
        password_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    ctx.db.add(user)
    ctx.db.flush()
    log.info("account.created_by_operator user_id=%s region=%s", user_id, region)
    return user


def list_users(ctx: ServiceContext) -> list[Profile]:
    """Every account, decrypted (operator command)."""
    return [profile(ctx, user) for user in ctx.db.scalars(select(User).order_by(User.created_at))]


def get_user_by_email(ctx: ServiceContext, email: str) -> User:
    user = find_user_by_email(ctx, email)
    if user is None:
        raise NotFoundError("No account with this email address.")
    return user


def verify_email(ctx: ServiceContext, token: str) -> User:
    """Confirm an address: a new account's, or the new one of an email change."""
    row = ctx.db.scalar(select(EmailToken).where(EmailToken.token_hash == _token_hash(token)))
    purpose = row.purpose if row is not None else PURPOSE_VERIFY
    if purpose not in (PURPOSE_VERIFY, PURPOSE_CHANGE_EMAIL):
        raise InvalidTokenError("This link is invalid or has already been used.")
    row, user = _consume_token(ctx, token, purpose=purpose)
    if purpose == PURPOSE_CHANGE_EMAIL:
        assert row.new_email_enc is not None and row.new_email_index is not None
        key = user_key(ctx, user.id)
        new_email = unseal(key, user_id=user.id, field="new_email", blob=row.new_email_enc)
        if find_user_by_email(ctx, new_email) is not None:
            raise InvalidTokenError("This email address is already in use by another account.")
        old_email = read_email(ctx, user)
        user.email_enc = seal(key, user_id=user.id, field="email", value=new_email)
        user.email_index = row.new_email_index
        row.new_email_enc = None
        ctx.outbox.add(
            render_email(
                kind="email_changed",
                lang=user.lang,
                to=old_email,
                subject="Your email address was changed",
                greeting_name=read_name(ctx, user),
                paragraphs=[
                    "The email address of your ClearCutout account was changed. From now "
                    "on we will write to the new address.",
                    "If you did not do this, reset your password at once and contact us.",
                ],
            )
        )
        log.info("account.email_changed user_id=%s", user.id)
    else:
        log.info("account.verified user_id=%s", user.id)
    if user.email_verified_at is None:
        user.email_verified_at = ctx.now()
    return user


# ----------------------------------------------------------------------------- login


def _login_subjects(
    ctx: ServiceContext, email: str, client_ip: str | None
) -> list[throttle.Subject]:
    limits = ctx.settings.throttle
    return [
        throttle.Subject(kind="account", value=email, limit=limits.login_per_account),
        throttle.Subject(kind="ip", value=client_ip or "", limit=limits.login_per_ip),
    ]


def authenticate(ctx: ServiceContext, *, email: str, password: str, client_ip: str | None) -> User:
    """Check credentials (throttled per account and per IP) and return the user."""
    normalised = normalise_email(email)
    subjects = _login_subjects(ctx, normalised, client_ip)
    throttle.ensure_allowed(ctx, "login", subjects)
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
        _queue_verification(ctx, user, email=read_email(ctx, user), name=read_name(ctx, user))
        log.info("auth.login_refused user_id=%s reason=unverified", user.id)
        raise EmailNotVerifiedError(
            "Please confirm your email address first. We have sent you a new link."
        )
    throttle.clear(ctx, "login", subjects[:1])
    log.info("auth.login user_id=%s", user.id)
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
    token = _issue_token(
        ctx,
        user,
        purpose=PURPOSE_RESET,
        lifetime=timedelta(minutes=ctx.settings.password_reset_minutes),
    )
    ctx.outbox.add(
        render_email(
            kind="reset_password",
            lang=user.lang,
            to=read_email(ctx, user),
            subject="Reset your ClearCutout password",
            greeting_name=read_name(ctx, user),
            paragraphs=[
                "Someone asked to reset the password of your ClearCutout account. Use the "
                "link below to choose a new one; it works once, for %(minutes)s minutes.",
                "If you did not ask for this, ignore this message: your password stays the same.",
            ],
            action_url=_link(ctx, "/password-reset/confirm", token),
            action_label="Choose a new password",
            params={"minutes": ctx.settings.password_reset_minutes},
        )
    )
    log.info("auth.reset_requested user_id=%s", user.id)


def check_reset_token(ctx: ServiceContext, token: str) -> None:
    """Raise :class:`InvalidTokenError` unless ``token`` is a live reset token."""
    row = ctx.db.scalar(select(EmailToken).where(EmailToken.token_hash == _token_hash(token)))
    if row is None or row.purpose != PURPOSE_RESET or row.used_at is not None:
        raise InvalidTokenError("This link is invalid or has already been used.")
    if ctx.now() >= row.expires_at:
        raise InvalidTokenError("This link has expired. Please ask for a new one.")


def reset_password(ctx: ServiceContext, *, token: str, new_password: str) -> User:
    """Set a new password from a reset link; ends every session of the account."""
    check_reset_token(ctx, token)
    row = ctx.db.scalar(select(EmailToken).where(EmailToken.token_hash == _token_hash(token)))
    assert row is not None
    user = ctx.db.get(User, row.user_id)
    assert user is not None
    email, name = read_email(ctx, user), read_name(ctx, user)
    check_strength(ctx.settings, new_password, email=email, name=name)
    _consume_token(ctx, token, purpose=PURPOSE_RESET)
    user.password_hash = hash_password(ctx.settings, new_password)
    user.password_changed_at = ctx.now()
    # Whoever could read the mailbox proved control of the address.
    if user.email_verified_at is None:
        user.email_verified_at = ctx.now()
    sessions.revoke_all_sessions(ctx, user)
    _queue_password_changed(ctx, user, email=email, name=name)
    log.info("auth.password_reset user_id=%s", user.id)
    return user


def _queue_password_changed(ctx: ServiceContext, user: User, *, email: str, name: str) -> None:
    ctx.outbox.add(
        render_email(
            kind="password_changed",
            lang=user.lang,
            to=email,
            subject="Your ClearCutout password was changed",
            greeting_name=name,
            paragraphs=[
                "The password of your ClearCutout account was just changed and other "
                "sessions were signed out.",
                "If you did not do this, reset your password at once and contact us.",
            ],
        )
    )


# ----------------------------------------------------------------------------- profile


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
    sessions.revoke_all_sessions(ctx, user, except_id=keep_session_id)
    _queue_password_changed(ctx, user, email=email, name=name)
    log.info("account.password_changed user_id=%s", user.id)


def request_email_change(ctx: ServiceContext, user: User, *, new_email: str, password: str) -> None:
    """Send a confirmation link to the new address; the change applies when it is used."""
    if not verify_password(ctx.settings, user.password_hash, password):
        raise ValidationError("Your current password is not correct.", field="email_password")
    value = validate_email(new_email, field="new_email")
    if value == read_email(ctx, user):
        raise ValidationError("This is already your email address.", field="new_email")
    token = _issue_token(
        ctx, user, purpose=PURPOSE_CHANGE_EMAIL, lifetime=_email_lifetime(ctx), new_email=value
    )
    # A taken address gets the link too (it fails on use): the form reveals nothing.
    ctx.outbox.add(
        render_email(
            kind="confirm_new_email",
            lang=user.lang,
            to=value,
            subject="Confirm your new email address",
            greeting_name=read_name(ctx, user),
            paragraphs=[
                "Please confirm that you want to use this email address for your "
                "ClearCutout account. The link is valid for %(hours)s hours.",
            ],
            action_url=_link(ctx, "/verify-email", token),
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

    See :func:`service.residency.move_to_region`: the caller commits, then passes the
    result to :func:`service.residency.finish_move` to delete the old region's copies.
    """
    return residency.move_to_region(ctx, user, region=region)
