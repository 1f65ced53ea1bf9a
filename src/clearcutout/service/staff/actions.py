"""What staff do with a customer's data: each look is an explicit action with a written
reason, logged before anything is shown (privacy policy, "Access Controls": access is
"strictly limited to authorized personnel" and "All access is logged and monitored").

- view the account (id, email, name, region, plan, dates — never the password hash,
  keys or API keys);
- view job metadata (status, model, sizes, dates — not the original file names);
- view one image, decrypted for that one view (never in a list);
- flag a child's account (logged, then deleted).

Pages for staff answer 404 to everyone else (``roles.require_role``), so their existence
is not revealed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from clearcutout.db.models import Job, User
from clearcutout.errors import NotFoundError, ValidationError
from clearcutout.service.accounts import find_user_by_email, get_user_by_email
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra.records import record_from
from clearcutout.service.infra.userkeys import read_email, read_name
from clearcutout.service.jobs import history
from clearcutout.service.privacy.erasure import DeletionReason, delete_account
from clearcutout.service.staff import accesslog, roles

log = logging.getLogger(__name__)

# What callers use is re-exported by the package (``service/staff/__init__.py``).
NOT_FOUND = roles.NOT_FOUND
#: Newest jobs shown by "view job metadata".
JOBS_SHOWN = 50


@dataclass(frozen=True)
class AccountFacts:
    """What staff see of an account after stating a reason."""

    id: str
    email: str
    name: str
    region: str
    created_at: datetime
    email_verified: bool
    plan: str = "free"
    role: str | None = None
    locked: bool = False


@dataclass(frozen=True)
class JobFacts:
    """Job metadata for staff: no file name, no image."""

    id: str
    status: str
    region: str
    model: str
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime
    width: int | None
    height: int | None
    error_code: str | None


@dataclass(frozen=True)
class ViewedImage:
    job_id: str
    data: bytes
    media_type: str


def require_staff(user: User | None) -> User:
    """``user`` if they have a staff role (support or admin); a plain 404 otherwise."""
    return roles.require_role(user, roles.SUPPORT)


def set_staff(ctx: ServiceContext, *, email: str, is_staff: bool) -> User:
    """Operator command: grant the support role, or revoke any role."""
    user = get_user_by_email(ctx, email)
    return roles.set_role(
        ctx,
        actor=None,
        user=user,
        role=roles.SUPPORT if is_staff else None,
        reason="operator command",
    )


def _facts(ctx: ServiceContext, user: User) -> AccountFacts:
    return AccountFacts(
        id=user.id,
        email=read_email(ctx, user),
        name=read_name(ctx, user),
        region=user.region,
        created_at=user.created_at,
        email_verified=user.email_verified_at is not None,
        plan=user.plan,
        role=roles.role_of(user),
        locked=user.locked_at is not None,
    )


def _viewed_customer(
    ctx: ServiceContext, staff: User, *, user_id: str, action: str, reason: str, source: str
) -> User:
    """The account ``user_id`` for a staff look with a stated reason, logged as ``action``."""
    require_staff(staff)
    accesslog.clean_reason(reason)
    user = roles.account(ctx, user_id)
    accesslog.record_about(ctx, user, actor=staff, action=action, reason=reason, source=source)
    return user


def look_up_account(
    ctx: ServiceContext, staff: User, *, email: str, reason: str, source: str = ""
) -> AccountFacts:
    """Find an account by email (blind index) for a stated reason (logged)."""
    require_staff(staff)
    accesslog.clean_reason(reason)
    user = find_user_by_email(ctx, email)
    if user is None:
        raise ValidationError("No account with this email address.", field="email")
    accesslog.record_about(
        ctx, user, actor=staff, action="view_account", reason=reason, source=source
    )
    return _facts(ctx, user)


def view_account(
    ctx: ServiceContext, staff: User, *, user_id: str, reason: str, source: str = ""
) -> AccountFacts:
    """One account's facts by id, for a stated reason (logged)."""
    user = _viewed_customer(
        ctx, staff, user_id=user_id, action="view_account", reason=reason, source=source
    )
    return _facts(ctx, user)


def view_jobs(
    ctx: ServiceContext, staff: User, *, user_id: str, reason: str, source: str = ""
) -> list[JobFacts]:
    """The newest jobs' metadata of one person, for a stated reason (logged)."""
    user = _viewed_customer(
        ctx, staff, user_id=user_id, action="view_jobs", reason=reason, source=source
    )
    jobs = ctx.db.scalars(
        select(Job).where(Job.user_id == user.id).order_by(Job.created_at.desc()).limit(JOBS_SHOWN)
    )
    return [
        record_from(JobFacts, job, width=job.result_width, height=job.result_height) for job in jobs
    ]


def view_image(
    ctx: ServiceContext, staff: User, *, job_id: str, reason: str, source: str = ""
) -> ViewedImage:
    """One uploaded image, decrypted for this one view, for a stated reason; the entry
    is written in the same transaction as the read, so a view is never unlogged."""
    require_staff(staff)
    accesslog.clean_reason(reason)
    job = ctx.db.get(Job, job_id)
    if job is None:
        raise NotFoundError("No such job.")
    owner = roles.account(ctx, job.user_id)
    why = f"job {job.id}: {reason}"
    accesslog.record_about(ctx, owner, actor=staff, action="view_image", reason=why, source=source)
    stored = history.original(ctx, owner, job.id)
    return ViewedImage(job_id=job.id, data=stored.data, media_type=stored.media_type)


def flag_child(
    ctx: ServiceContext, staff: User, *, user_id: str, reason: str, source: str = ""
) -> None:
    """The account belongs to a child under the minimum age: log it and delete it."""
    require_staff(staff)
    user = roles.account(ctx, user_id)
    if user.id == staff.id:
        raise ValidationError("You cannot flag your own account.", field="reason")
    accesslog.record_about(
        ctx, user, actor=staff, action="flag_child_delete", reason=reason, source=source
    )
    delete_account(ctx, user, reason=DeletionReason.CHILD)
