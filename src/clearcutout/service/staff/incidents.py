"""Breach incidents (privacy policy, "Data Breach": "we will notify affected users
within 72 hours").

An admin (or the operator's shell) records what happened and when it was detected, and
chooses the affected people by a list of email addresses or by a query: region, plan,
and a time window (people who submitted an image in it — their images were processed
then). The deadline is ``detected_at + staff.breach_notice_hours`` (72 h). Each affected
person gets the breach notice in their own language through the outbox; each delivery
is recorded per person (``IncidentRecipient``), so a failed one is retried by the
periodic tasks and an incident whose notices are not all out by the deadline is listed
as overdue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from clearcutout.db.models import Incident, IncidentRecipient, Job, User
from clearcutout.errors import NotFoundError, ValidationError
from clearcutout.service.accounts import find_user_by_email
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra.records import record_from
from clearcutout.service.infra.userkeys import email_to_user
from clearcutout.service.staff import accesslog, roles

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Selection:
    """Who is affected: ``emails``, or the query fields (any left None is not a filter)."""

    emails: tuple[str, ...] = ()
    region: str | None = None
    plan: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def as_json(self) -> dict[str, str | list[str] | None]:
        if self.emails:
            return {"by": "list", "count": str(len(self.emails))}
        return {
            "by": "query",
            "region": self.region,
            "plan": self.plan,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }


@dataclass(frozen=True)
class IncidentInfo:
    id: str
    title: str
    description: str
    detected_at: datetime
    deadline_at: datetime
    affected: int
    delivered: int
    selection: dict[str, object]
    time_left: timedelta
    overdue: bool

    @property
    def complete(self) -> bool:
        return self.delivered == self.affected


def affected_users(ctx: ServiceContext, selection: Selection) -> list[User]:
    """The people a selection names (an unknown email address is refused)."""
    if selection.emails:
        users: dict[str, User] = {}
        for email in selection.emails:
            user = find_user_by_email(ctx, email)
            if user is None:
                raise ValidationError(
                    "No account with the email address %(email)s.",
                    field="emails",
                    params={"email": email},
                )
            users[user.id] = user
        return list(users.values())
    if selection.start and selection.end and selection.end <= selection.start:
        raise ValidationError("The time window must end after it starts.", field="end")
    query = select(User)
    if selection.region:
        query = query.where(User.region == selection.region)
    if selection.plan:
        query = query.where(User.plan == selection.plan)
    if selection.start or selection.end:
        jobs = select(Job.user_id)
        if selection.start:
            jobs = jobs.where(Job.created_at >= selection.start)
        if selection.end:
            jobs = jobs.where(Job.created_at < selection.end)
        query = query.where(User.id.in_(jobs))
    if not (selection.region or selection.plan or selection.start or selection.end):
        raise ValidationError(
            "Choose the affected people: a list, or a region, plan or time window.",
            field="emails",
        )
    return list(ctx.db.scalars(query.order_by(User.created_at)))


def record_incident(
    ctx: ServiceContext,
    admin: User | None,
    *,
    title: str,
    description: str,
    detected_at: datetime,
    selection: Selection,
    source: str = "",
) -> Incident:
    """Store the incident and one pending notice per affected person (logged).

    ``admin`` None is the operator's shell. The notices go out with
    :func:`queue_notice` (``workers.tasks.send_breach_notices``).
    """
    if admin is not None:
        roles.require_role(admin, roles.ADMIN)
    title = " ".join(title.split())
    if not title:
        raise ValidationError("Say what happened.", field="title")
    if detected_at > ctx.now():
        raise ValidationError("The detection time cannot be in the future.", field="detected_at")
    users = affected_users(ctx, selection)
    incident = Incident(
        title=title[:200],
        description=description.strip(),
        detected_at=detected_at,
        deadline_at=detected_at + timedelta(hours=ctx.settings.staff.breach_notice_hours),
        selection=selection.as_json(),
        created_by=admin.id if admin else "operator",
        created_at=ctx.now(),
    )
    ctx.db.add(incident)
    ctx.db.flush()
    for user in users:
        ctx.db.add(
            IncidentRecipient(incident_id=incident.id, user_id=user.id, lang=user.lang, attempts=0)
        )
    ctx.db.flush()
    summary = f"incident {incident.id}: {len(users)} people affected"
    accesslog.record(
        ctx,
        actor=admin,
        subject_user_id=None,
        action="incident_recorded",
        reason=summary,
        source=source,
    )
    log.warning("incident.recorded incident_id=%s affected=%d", incident.id, len(users))
    return incident


def pending_notices(ctx: ServiceContext, incident_id: str | None = None) -> list[tuple[str, str]]:
    """(incident, user) pairs whose notice is not delivered yet, oldest incident first."""
    query = (
        select(IncidentRecipient.incident_id, IncidentRecipient.user_id)
        .join(Incident, Incident.id == IncidentRecipient.incident_id)
        .where(IncidentRecipient.delivered_at.is_(None))
        .order_by(Incident.detected_at, IncidentRecipient.user_id)
    )
    if incident_id:
        query = query.where(IncidentRecipient.incident_id == incident_id)
    return [(row[0], row[1]) for row in ctx.db.execute(query)]


def queue_notice(ctx: ServiceContext, incident_id: str, user_id: str) -> bool:
    """Queue one person's breach notice (in their language) and mark it delivered; the
    boundary sends it after the commit (a failure is recorded by :func:`notice_failed`).
    False when the person's account is gone (nobody left to tell)."""
    recipient = ctx.db.get(IncidentRecipient, (incident_id, user_id))
    incident = ctx.db.get(Incident, incident_id)
    if recipient is None or incident is None:
        raise NotFoundError("No such incident.")
    recipient.attempts += 1
    user = ctx.db.get(User, user_id)
    if user is None:
        recipient.last_error = "account deleted"
        recipient.delivered_at = ctx.now()
        ctx.db.flush()
        return False
    ctx.outbox.add(
        email_to_user(
            ctx,
            user,
            kind="breach_notice",
            subject="Important: a security incident affecting your ClearCutout data",
            paragraphs=[
                "We detected a security incident on %(detected)s that may have affected "
                "your data: %(title)s",
                "What happened: %(description)s",
                "Our privacy policy promises to tell you within 72 hours; this is that "
                "notice. If you have questions, reply to this email or use the privacy "
                "page of your account.",
            ],
            action_url=f"{ctx.settings.base_url.rstrip('/')}/account/privacy",
            action_label="Open your privacy page",
            params={
                "detected": incident.detected_at.strftime("%Y-%m-%d %H:%M UTC"),
                "title": incident.title,
                "description": incident.description or incident.title,
            },
        )
    )
    recipient.lang = user.lang
    recipient.delivered_at = ctx.now()
    recipient.last_error = None
    ctx.db.flush()
    return True


def notice_failed(ctx: ServiceContext, incident_id: str, user_id: str, error: str) -> None:
    """The mail server refused: the notice stays pending and is tried again."""
    recipient = ctx.db.get(IncidentRecipient, (incident_id, user_id))
    if recipient is not None:
        recipient.delivered_at = None
        recipient.last_error = error[:200]
        ctx.db.flush()


def _info(ctx: ServiceContext, incident: Incident) -> IncidentInfo:
    counts = ctx.db.execute(
        select(
            func.count(),
            func.count(IncidentRecipient.delivered_at),
            func.max(IncidentRecipient.delivered_at),
        ).where(IncidentRecipient.incident_id == incident.id)
    ).one()
    affected, delivered, last = int(counts[0]), int(counts[1]), counts[2]
    now = ctx.now()
    # Overdue: the deadline passed with notices still pending, or the last one went late.
    late = last is not None and _aware(last) > incident.deadline_at
    return record_from(
        IncidentInfo,
        incident,
        affected=affected,
        delivered=delivered,
        selection=dict(incident.selection),
        time_left=incident.deadline_at - now,
        overdue=(now >= incident.deadline_at and delivered < affected) or late,
    )


def _aware(value: datetime | str) -> datetime:
    # An aggregate (MAX) skips the column type: SQLite hands back naive UTC text.
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def list_incidents(ctx: ServiceContext) -> list[IncidentInfo]:
    """Every incident, newest first, with time left or overdue."""
    rows = ctx.db.scalars(select(Incident).order_by(Incident.detected_at.desc()))
    return [_info(ctx, row) for row in rows]


def get_incident(ctx: ServiceContext, incident_id: str) -> IncidentInfo:
    row = ctx.db.get(Incident, incident_id)
    if row is None:
        raise NotFoundError("No such incident.")
    return _info(ctx, row)


@dataclass(frozen=True)
class RecipientInfo:
    """Delivery per person, by id only (admins see who was told, not their data)."""

    user_id: str
    lang: str
    delivered_at: datetime | None
    attempts: int
    last_error: str | None


def recipients(ctx: ServiceContext, incident_id: str) -> list[RecipientInfo]:
    rows = ctx.db.scalars(
        select(IncidentRecipient)
        .where(IncidentRecipient.incident_id == incident_id)
        .order_by(IncidentRecipient.user_id)
    )
    return [
        RecipientInfo(r.user_id, r.lang, r.delivered_at, r.attempts, r.last_error) for r in rows
    ]
