"""The staff role and what it allows: reading privacy requests, looking an account up,
and deleting a child's account.

The privacy policy promises that access to a person's data is "strictly limited to
authorized personnel" and that "All access is logged and monitored" ("Data Security &
Protection", "Access Controls"): every look at a person's data is written to the access
log first (``accesslog``). Pages for staff answer 404 to everyone else
(:func:`require_staff`), so their existence is not revealed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from clearcutout.db.models import User
from clearcutout.errors import NotFoundError, ValidationError
from clearcutout.service.accounts import find_user_by_email, get_user_by_email
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra.userkeys import read_email, read_name
from clearcutout.service.privacy.erasure import DeletionReason, delete_account
from clearcutout.service.staff import accesslog

log = logging.getLogger(__name__)

__all__ = [
    "NOT_FOUND",
    "AccountFacts",
    "flag_child",
    "look_up_account",
    "require_staff",
    "set_staff",
]

NOT_FOUND = "This page does not exist."


@dataclass(frozen=True)
class AccountFacts:
    """What staff see of an account after stating a reason."""

    id: str
    email: str
    name: str
    region: str
    created_at: datetime
    email_verified: bool


def require_staff(user: User | None) -> User:
    """``user`` if they are staff; :class:`NotFoundError` (a plain 404) otherwise."""
    if user is None or not user.is_staff:
        raise NotFoundError(NOT_FOUND)
    return user


def set_staff(ctx: ServiceContext, *, email: str, is_staff: bool) -> User:
    """Operator command: grant or revoke the staff role."""
    user = get_user_by_email(ctx, email)
    user.is_staff = is_staff
    log.info("staff.role_changed user_id=%s is_staff=%s", user.id, is_staff)
    return user


def _facts(ctx: ServiceContext, user: User) -> AccountFacts:
    return AccountFacts(
        id=user.id,
        email=read_email(ctx, user),
        name=read_name(ctx, user),
        region=user.region,
        created_at=user.created_at,
        email_verified=user.email_verified_at is not None,
    )


def look_up_account(ctx: ServiceContext, staff: User, *, email: str, reason: str) -> AccountFacts:
    """Find an account by email for a stated reason (logged)."""
    require_staff(staff)
    if not " ".join(reason.split()):
        raise ValidationError("Say why you need to access this data.", field="reason")
    user = find_user_by_email(ctx, email)
    if user is None:
        raise ValidationError("No account with this email address.", field="email")
    accesslog.record(
        ctx, actor=staff, subject_user_id=user.id, action="view_account", reason=reason
    )
    return _facts(ctx, user)


def flag_child(ctx: ServiceContext, staff: User, *, user_id: str, reason: str) -> None:
    """The account belongs to a child under the minimum age: log it and delete it."""
    require_staff(staff)
    user = ctx.db.get(User, user_id)
    if user is None:
        raise NotFoundError("No such account.")
    if user.id == staff.id:
        raise ValidationError("You cannot flag your own account.", field="reason")
    accesslog.record(
        ctx, actor=staff, subject_user_id=user.id, action="flag_child_delete", reason=reason
    )
    delete_account(ctx, user, reason=DeletionReason.CHILD)
