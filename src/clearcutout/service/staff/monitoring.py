"""Monitoring of staff access (privacy policy, "Access Controls": "All access is logged
and monitored"): rules that raise alerts to admins, by email and in the admin area.

Rules (limits in ``Settings.staff``):

- ``many_images``: one staff account viewed the images of more than
  ``image_views_max`` different people within ``image_views_window_minutes``;
- ``out_of_hours``: staff touched a person's data outside the configured working hours
  and days (UTC);
- ``audit_verify_failed``: the daily ``audit verify`` run by the periodic tasks found a
  broken link in the access log's hash chain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from clearcutout.db.models import AccessLogEntry, AuditAlert, User
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra.mail import render_email
from clearcutout.service.infra.records import record_from
from clearcutout.service.infra.userkeys import read_email

log = logging.getLogger(__name__)

RULES = {
    "many_images": "Many images viewed quickly",
    "out_of_hours": "Access outside working hours",
    "audit_verify_failed": "Access log verification failed",
}
_STAFF_ROLES = ("support", "admin")


@dataclass(frozen=True)
class AlertInfo:
    id: str
    rule: str
    actor_user_id: str | None
    detail: str
    created_at: datetime
    acknowledged: bool


def after_record(ctx: ServiceContext, entry: AccessLogEntry) -> None:
    """Run the access rules on an entry just written (same unit of work)."""
    from clearcutout.service.staff.accesslog import ACCESS_ACTIONS

    if entry.actor_role not in _STAFF_ROLES or entry.action not in ACCESS_ACTIONS:
        return
    rules = ctx.settings.staff
    at = entry.created_at
    in_hours = rules.working_hours_start <= at.hour < rules.working_hours_end
    if (not in_hours or at.weekday() not in rules.working_days) and not _fired_recently(
        ctx, "out_of_hours", entry.actor_user_id, since=at - timedelta(hours=1)
    ):
        raise_alert(
            ctx,
            "out_of_hours",
            actor_user_id=entry.actor_user_id,
            detail=f"{entry.actor_role} #{entry.actor_staff_number}: {entry.action} "
            f"at {at:%Y-%m-%d %H:%M} UTC (log entry #{entry.seq})",
        )
    if entry.action == "view_image":
        since = at - timedelta(minutes=rules.image_views_window_minutes)
        people = ctx.db.scalar(
            select(func.count(func.distinct(AccessLogEntry.subject_user_id))).where(
                AccessLogEntry.actor_user_id == entry.actor_user_id,
                AccessLogEntry.action == "view_image",
                AccessLogEntry.created_at > since,
            )
        )
        if (people or 0) > rules.image_views_max and not _fired_recently(
            ctx, "many_images", entry.actor_user_id, since=since
        ):
            raise_alert(
                ctx,
                "many_images",
                actor_user_id=entry.actor_user_id,
                detail=f"{entry.actor_role} #{entry.actor_staff_number} viewed images of "
                f"{people} people within {rules.image_views_window_minutes} minutes",
            )


def _fired_recently(ctx: ServiceContext, rule: str, actor_user_id: str, *, since: datetime) -> bool:
    """One alert per rule and staff member per burst (an hour of night work is one)."""
    count = ctx.db.scalar(
        select(func.count())
        .select_from(AuditAlert)
        .where(
            AuditAlert.rule == rule,
            AuditAlert.actor_user_id == actor_user_id,
            AuditAlert.created_at > since,
        )
    )
    return bool(count)


def raise_alert(
    ctx: ServiceContext, rule: str, *, actor_user_id: str | None, detail: str
) -> AuditAlert:
    """Store an alert and email every admin (in their language) after the commit."""
    from clearcutout.service.staff.roles import admins

    alert = AuditAlert(rule=rule, actor_user_id=actor_user_id, detail=detail[:500])
    alert.created_at = ctx.now()
    ctx.db.add(alert)
    ctx.db.flush()
    for admin in admins(ctx):
        ctx.outbox.add(
            render_email(
                kind=f"staff_alert_{rule}",
                lang=admin.lang,
                to=read_email(ctx, admin),
                subject="Staff access alert: %(rule)s",
                greeting_name=None,
                paragraphs=[
                    "A monitoring rule for staff access fired: %(rule)s.",
                    "Details: %(detail)s",
                    "Review it in the admin area.",
                ],
                action_url=f"{ctx.settings.base_url.rstrip('/')}/staff/admin/alerts",
                action_label="Open the alerts",
                params={"rule": RULES.get(rule, rule), "detail": detail},
            )
        )
    log.warning("staff.alert rule=%s actor=%s", rule, actor_user_id)
    return alert


def check_audit_chain(ctx: ServiceContext) -> bool:
    """The periodic check: verify the chain; a broken one raises an alert."""
    from clearcutout.service.staff import accesslog

    result = accesslog.verify(ctx)
    if not result.ok:
        raise_alert(
            ctx,
            "audit_verify_failed",
            actor_user_id=None,
            detail=f"entry #{result.broken_seq} ({result.broken_id}) {result.problem}",
        )
    return result.ok


def list_alerts(ctx: ServiceContext, *, limit: int = 100) -> list[AlertInfo]:
    rows = ctx.db.scalars(select(AuditAlert).order_by(AuditAlert.created_at.desc()).limit(limit))
    return [
        record_from(AlertInfo, row, acknowledged=row.acknowledged_at is not None) for row in rows
    ]


def acknowledge(ctx: ServiceContext, admin: User, alert_id: str) -> None:
    from clearcutout.service.staff.roles import ADMIN, require_role

    require_role(admin, ADMIN)
    row = ctx.db.get(AuditAlert, alert_id)
    if row is not None and row.acknowledged_at is None:
        row.acknowledged_at = ctx.now()
        ctx.db.flush()
