"""The staff second factor: TOTP (RFC 6238, ``pyotp``) with single-use recovery codes.

A staff page opens only in a session that proved the second factor
(``AuthSession.second_factor_at``): a stolen password alone must not reach customers'
data (privacy policy, "Access Controls"). The secret is sealed under the staff member's
own key like their other personal fields; recovery codes are stored as SHA-256 digests
and shown once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

import pyotp

from clearcutout.db.models import AuthSession, User
from clearcutout.errors import SecondFactorRequiredError, ValidationError
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import throttle
from clearcutout.service.infra.userkeys import read_email, seal, unseal, user_key
from clearcutout.service.staff import accesslog

log = logging.getLogger(__name__)

_FIELD = "totp_secret"
RECOVERY_CODES = 10
ENROL_PATH = "/staff/2fa/enrol"
VERIFY_PATH = "/staff/2fa"


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the secret (and its otpauth URI for a QR code)."""

    secret: str
    uri: str


def _digest(code: str) -> str:
    return hashlib.sha256("".join(code.split()).lower().encode()).hexdigest()


def require_second_factor(user: User, session: AuthSession | None) -> None:
    """Refuse a staff page to a session without a proven second factor; the error says
    where to go (enrolment first, then the code prompt)."""
    if session is not None and session.second_factor_at is not None:
        return
    location = VERIFY_PATH if user.totp_enabled_at is not None else ENROL_PATH
    raise SecondFactorRequiredError(
        "Confirm your second factor to open staff pages.", location=location
    )


def start_enrolment(ctx: ServiceContext, user: User) -> Enrolment:
    """A fresh secret, sealed on the account but not active until a code confirms it."""
    if user.totp_enabled_at is not None:
        raise ValidationError("Two-factor sign-in is already set up.", field="code")
    secret = pyotp.random_base32()
    user.totp_secret_enc = seal(user_key(ctx, user.id), user_id=user.id, field=_FIELD, value=secret)
    ctx.db.flush()
    return enrolment(ctx, user)


def enrolment(ctx: ServiceContext, user: User) -> Enrolment:
    secret = _secret(ctx, user)
    uri = pyotp.TOTP(secret).provisioning_uri(
        name=read_email(ctx, user), issuer_name=ctx.settings.staff.totp_issuer
    )
    return Enrolment(secret=secret, uri=uri)


def _secret(ctx: ServiceContext, user: User) -> str:
    if user.totp_secret_enc is None:
        raise ValidationError("Start the set-up again.", field="code")
    return unseal(user_key(ctx, user.id), user_id=user.id, field=_FIELD, blob=user.totp_secret_enc)


def _subjects(ctx: ServiceContext, user: User) -> list[throttle.Subject]:
    # Six digits are guessable without a limit: the login's per-account limit applies.
    return [
        throttle.Subject(
            kind="account", value=f"totp:{user.id}", limit=ctx.settings.throttle.login_per_account
        )
    ]


def count_failure(ctx: ServiceContext, user: User) -> None:
    """Count a wrong code (the boundary commits it even though the form is refused)."""
    throttle.record(ctx, "totp", _subjects(ctx, user))


def _code_ok(ctx: ServiceContext, user: User, code: str) -> bool:
    digits = "".join(code.split())
    if not digits.isdigit():
        return False
    # One step either side: a phone's clock a little off still works.
    return pyotp.TOTP(_secret(ctx, user)).verify(digits, for_time=ctx.now(), valid_window=1)


def _second_factor_proven(
    ctx: ServiceContext,
    user: User,
    session: AuthSession,
    *,
    action: str,
    reason: str,
    source: str,
) -> None:
    """Mark ``session`` as past its second factor, and log it as ``user``'s own action."""
    session.second_factor_at = ctx.now()
    ctx.db.flush()
    accesslog.record(
        ctx, actor=user, subject_user_id=None, action=action, reason=reason, source=source
    )


def confirm_enrolment(
    ctx: ServiceContext, user: User, session: AuthSession, *, code: str, source: str = ""
) -> list[str]:
    """Activate TOTP with a first code; returns the recovery codes (shown once)."""
    throttle.ensure_allowed(ctx, "totp", _subjects(ctx, user))
    if not _code_ok(ctx, user, code):
        raise ValidationError("That code is not right. Try the current one.", field="code")
    codes = [secrets.token_hex(5) for _ in range(RECOVERY_CODES)]
    user.totp_recovery_hashes = [_digest(c) for c in codes]
    user.totp_enabled_at = ctx.now()
    _second_factor_proven(
        ctx, user, session, action="second_factor_enrolled", reason="TOTP set up", source=source
    )
    return codes


def verify(
    ctx: ServiceContext, user: User, session: AuthSession, *, code: str, source: str = ""
) -> None:
    """Prove the second factor for this session: a TOTP code or an unused recovery code."""
    throttle.ensure_allowed(ctx, "totp", _subjects(ctx, user))
    how = "TOTP code"
    if user.totp_enabled_at is None or not _code_ok(ctx, user, code):
        digest = _digest(code)
        remaining = list(user.totp_recovery_hashes or [])
        match = next((h for h in remaining if hmac.compare_digest(h, digest)), None)
        if match is None or not code.strip():
            raise ValidationError("That code is not right. Try the current one.", field="code")
        remaining.remove(match)
        user.totp_recovery_hashes = remaining
        how = f"recovery code ({len(remaining)} left)"
    throttle.clear(ctx, "totp", _subjects(ctx, user))
    _second_factor_proven(
        ctx, user, session, action="staff_second_factor", reason=how, source=source
    )
