"""Staff roles and what each allows (privacy policy, "Access Controls": access is
"strictly limited to authorized personnel").

``support`` answers privacy requests and looks at a customer's account, jobs or image
for a stated reason; ``admin`` can do all of that and also manage roles, lock accounts,
record incidents and read the access log, alerts and usage statistics. Everyone else is
a plain user. Every staff page checks the role on the server (:func:`require_role`) and
answers 404 to anyone without it, so its existence is not revealed. Every role change is
an access-log entry.
"""

from __future__ import annotations

import logging
from typing import Final

from sqlalchemy import func, select

from clearcutout.db.models import User
from clearcutout.errors import NotFoundError, ValidationError
from clearcutout.service.context import ServiceContext
from clearcutout.service.staff import accesslog

log = logging.getLogger(__name__)

SUPPORT: Final = "support"
ADMIN: Final = "admin"
ROLES: Final = (SUPPORT, ADMIN)
_RANK: Final = {SUPPORT: 1, ADMIN: 2}
NOT_FOUND = "This page does not exist."


def role_of(user: User | None) -> str | None:
    """``support``, ``admin`` or None; accounts flagged ``is_staff`` before roles existed
    count as support."""
    if user is None:
        return None
    if user.staff_role in _RANK:
        return user.staff_role
    return SUPPORT if user.is_staff else None


def has_role(user: User | None, minimum: str) -> bool:
    role = role_of(user)
    return role is not None and _RANK[role] >= _RANK[minimum]


def require_role(user: User | None, minimum: str = SUPPORT) -> User:
    """``user`` if their role is at least ``minimum``; a plain 404 otherwise."""
    if user is None or user.locked_at is not None or not has_role(user, minimum):
        raise NotFoundError(NOT_FOUND)
    return user


def account(ctx: ServiceContext, user_id: str) -> User:
    """The account a staff action names; a plain 404 when there is none."""
    user = ctx.db.get(User, user_id)
    if user is None:
        raise NotFoundError("No such account.")
    return user


def set_role(
    ctx: ServiceContext,
    *,
    actor: User | None,
    user: User,
    role: str | None,
    reason: str,
    source: str = "",
) -> User:
    """Grant ``role`` (``support``/``admin``) or revoke it (None); logged.

    ``actor`` None is the operator's shell. Each staff account gets a number once, kept
    across revocations, which is how customers see them ("Support #3").
    """
    if role is not None and role not in ROLES:
        raise ValidationError("Choose support or admin.", field="role")
    if actor is not None:
        require_role(actor, ADMIN)
        if actor.id == user.id and role != ADMIN:
            raise ValidationError("You cannot take away your own admin role.", field="role")
    before = role_of(user)
    user.staff_role = role
    user.is_staff = role is not None
    if role is not None and user.staff_number is None:
        user.staff_number = int(ctx.db.scalar(select(func.max(User.staff_number))) or 0) + 1
    if role is None:
        # A former staff member's second factor goes with the role.
        user.totp_secret_enc = None
        user.totp_enabled_at = None
        user.totp_recovery_hashes = None
    ctx.db.flush()
    change = f"{before or 'user'} -> {role or 'user'}: {reason}"
    accesslog.record_about(
        ctx, user, actor=actor, action="role_change", reason=change, source=source
    )
    log.info("staff.role_changed user_id=%s role=%s", user.id, role)
    return user


def change_role(
    ctx: ServiceContext, admin: User, *, user_id: str, role: str, reason: str, source: str = ""
) -> User:
    """An admin's change of ``user_id``'s role from the staff pages: ``support``,
    ``admin``, or ``user`` for none; logged with its reason."""
    require_role(admin, ADMIN)  # before anything else: anyone else gets a plain 404
    accesslog.clean_reason(reason)
    user = account(ctx, user_id)
    new_role = None if role == "user" else role
    return set_role(ctx, actor=admin, user=user, role=new_role, reason=reason, source=source)


def set_locked(
    ctx: ServiceContext, admin: User, *, user_id: str, locked: bool, reason: str, source: str = ""
) -> User:
    """Lock an account (every session and sign-in refused) or unlock it; logged."""
    require_role(admin, ADMIN)
    user = account(ctx, user_id)
    if user.id == admin.id:
        raise ValidationError("You cannot lock your own account.", field="reason")
    action = "lock_account" if locked else "unlock_account"
    accesslog.record_about(ctx, user, actor=admin, action=action, reason=reason, source=source)
    user.locked_at = ctx.now() if locked else None
    ctx.db.flush()
    return user


def admins(ctx: ServiceContext) -> list[User]:
    """Every unlocked admin (monitoring alerts go to them)."""
    return list(
        ctx.db.scalars(select(User).where(User.staff_role == ADMIN, User.locked_at.is_(None)))
    )
