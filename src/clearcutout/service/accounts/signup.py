"""Creating accounts: the sign-up form (or an operator's command), and confirming the
address from the emailed link.

Answers never reveal whether an address has an account: sign-up with a taken address
looks the same to the caller, and the owner of that address is told by email instead.
Under the minimum age nothing is stored or counted (privacy policy, "Children's
Privacy").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from clearcutout.db.models import PolicyAcceptance, User, new_id
from clearcutout.errors import AgeRequirementError, InvalidTokenError, ValidationError
from clearcutout.service.accounts.emails import (
    PURPOSE_CHANGE_EMAIL,
    PURPOSE_VERIFY,
    consume_token,
    end_account_links,
    find_token,
    queue_verification,
)
from clearcutout.service.accounts.passwords import check_strength, hash_password
from clearcutout.service.accounts.profiles import (
    clean_referral_code,
    find_user_by_email,
    validate_email,
    validate_name,
    validate_region,
)
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import throttle
from clearcutout.service.infra.i18n import SUPPORTED_LANGUAGES
from clearcutout.service.infra.mail import render_email
from clearcutout.service.infra.userkeys import (
    create_user_key,
    email_to_user,
    read_email,
    seal,
    unseal,
    user_key,
)
from clearcutout.service.privacy import consent
from clearcutout.service.privacy.policy import current_version

log = logging.getLogger(__name__)

__all__ = ["SignUp", "create_user_as_operator", "sign_up", "verify_email"]


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

    # Hashed before we know whether the address is taken: the Argon2 hash is nearly all
    # of a sign-up's time, and skipping it for a taken address made the answer ~17 times
    # faster, which told anyone with a stopwatch that the account exists.
    password_hash = hash_password(ctx.settings, form.password)
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

    user = _new_user(
        ctx,
        email=email,
        name=name,
        password_hash=password_hash,
        referral_code=clean_referral_code(form.referral_code),
        region=region,
        lang=lang,
        verified=False,
    )
    user_id, now = user.id, user.created_at
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
    queue_verification(ctx, user)
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
    user = _new_user(
        ctx,
        email=email,
        name=name,
        password_hash=hash_password(ctx.settings, password),
        region=region,
        lang=ctx.settings.default_language,
        verified=True,
    )
    log.info("account.created_by_operator user_id=%s region=%s", user.id, region)
    return user


def _new_user(
    ctx: ServiceContext,
    *,
    email: str,
    name: str,
    password_hash: str,
    region: str,
    lang: str,
    verified: bool,
    referral_code: str | None = None,
) -> User:
    """Store a new account (checked already): its key first, then email and name sealed
    with it; age confirmed by the caller."""
    now = ctx.now()
    user_id = new_id()
    key = create_user_key(ctx, user_id=user_id, region=region)
    user = User(
        id=user_id,
        email_index=ctx.keyring.email_index(email),
        email_enc=seal(key, user_id=user_id, field="email", value=email),
        name_enc=seal(key, user_id=user_id, field="name", value=name),
        password_hash=password_hash,
        region=region,
        lang=lang,
        theme="system",
        email_verified_at=now if verified else None,
        age_confirmed_at=now,
        password_changed_at=now,
        created_at=now,
        updated_at=now,
        referral_code=referral_code,
    )
    ctx.db.add(user)
    ctx.db.flush()
    return user


def verify_email(ctx: ServiceContext, token: str) -> User:
    """Confirm an address: a new account's, or the new one of an email change."""
    row = find_token(ctx, token)
    purpose = row.purpose if row is not None else PURPOSE_VERIFY
    if purpose not in (PURPOSE_VERIFY, PURPOSE_CHANGE_EMAIL):
        raise InvalidTokenError("This link is invalid or has already been used.")
    row, user = consume_token(ctx, token, purpose=purpose)
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
        # Links mailed to the old address (a reset above all) must not work any more.
        end_account_links(ctx, user)
        ctx.outbox.add(
            email_to_user(
                ctx,
                user,
                kind="email_changed",
                to=old_email,
                subject="Your email address was changed",
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
