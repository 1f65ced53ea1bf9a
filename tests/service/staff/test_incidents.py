"""Breach incidents on SQLite and the real PostgreSQL: an incident for region ``eu``
users in a time window notifies exactly those users, each in their language, through
the outbox; the 72-hour deadline is computed and shown; overdue incidents are flagged;
a refused delivery is recorded per person and retried."""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from clearcutout.config import SmtpSettings
from clearcutout.db.models import IncidentRecipient, Job
from clearcutout.errors import ValidationError
from clearcutout.service.infra.mail import outbox_dir
from clearcutout.service.runtime import Runtime
from clearcutout.service.staff import incidents
from clearcutout.workers.tasks import send_breach_notices
from tests.conftest import free_port
from tests.service.staff.conftest import make_user
from tests.support.service import Clock, run


@pytest.fixture
def runtime(services: Any, clock: Clock) -> Iterator[Runtime]:
    with Runtime.from_settings(services.settings) as value:
        value.clock = clock
        yield value


def _job(services: Any, user_id: str, region: str, at: datetime) -> None:
    def add(ctx: Any) -> None:
        ctx.db.add(
            Job(
                user_id=user_id,
                region=region,
                model="u2netp",
                status="done",
                options={},
                created_at=at,
                expires_at=at + timedelta(days=30),
            )
        )

    run(services, add)


def _outbox(settings: Any) -> list[EmailMessage]:
    folder: Path = outbox_dir(settings)
    found = []
    for file in sorted(folder.glob("*.eml")) if folder.exists() else []:
        message = email.message_from_bytes(file.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


def test_an_eu_incident_in_a_time_window_emails_exactly_those_users(
    services: Any, runtime: Runtime, clock: Clock
) -> None:
    boss = make_user(services, clock, "boss@example.org", role="admin")
    start = clock.now - timedelta(days=3)
    end = clock.now - timedelta(days=1)
    inside = start + timedelta(hours=5)
    affected = {
        "anna@example.org": make_user(services, clock, "anna@example.org", lang="en"),
        "jonas@example.org": make_user(services, clock, "jonas@example.org", lang="de"),
    }
    for user in affected.values():
        _job(services, user.id, "eu", inside)
    early = make_user(services, clock, "early@example.org")
    _job(services, early.id, "eu", start - timedelta(minutes=1))
    late = make_user(services, clock, "late@example.org")
    _job(services, late.id, "eu", end)  # the window's end is exclusive
    american = make_user(services, clock, "sam@example.org", region="us")
    _job(services, american.id, "us", inside)
    make_user(services, clock, "idle@example.org")  # no image at all
    before = len(_outbox(services.settings))

    detected = clock.now - timedelta(hours=2)
    incident = run(
        services,
        lambda ctx: incidents.record_incident(
            ctx,
            boss,
            title="Backup bucket exposed",
            description="A storage bucket with encrypted originals was public for 2 hours.",
            detected_at=detected,
            selection=incidents.Selection(region="eu", start=start, end=end),
        ),
        clock,
    )
    assert send_breach_notices(runtime) == (2, 0)

    sent = _outbox(services.settings)[before:]
    assert sorted(str(m["To"]) for m in sent) == sorted(affected)
    by_address = {str(m["To"]): m for m in sent}
    assert "security incident" in str(by_address["anna@example.org"]["Subject"])
    assert "Sicherheitsvorfall" in str(by_address["jonas@example.org"]["Subject"])
    body = by_address["anna@example.org"].get_body(("plain",))
    assert body is not None and "Backup bucket exposed" in body.get_content()

    [info] = run(services, incidents.list_incidents, clock)
    assert info.id == incident.id
    assert info.deadline_at == detected + timedelta(hours=72)
    assert info.time_left == timedelta(hours=70)
    assert (info.affected, info.delivered, info.overdue) == (2, 2, False)
    # Sending again sends nothing: each delivery is recorded per person.
    assert send_breach_notices(runtime) == (0, 0)


def test_overdue_incidents_are_flagged_and_failed_deliveries_retried(
    services: Any, runtime: Runtime, clock: Clock
) -> None:
    make_user(services, clock, "anna@example.org")
    incident = run(
        services,
        lambda ctx: incidents.record_incident(
            ctx,
            None,
            title="Laptop stolen",
            description="",
            detected_at=clock.now - timedelta(hours=1),
            selection=incidents.Selection(emails=("anna@example.org",)),
        ),
        clock,
    )
    # The mail server is down: the failure is recorded, the notice stays pending.
    runtime.settings = runtime.settings.model_copy(
        update={"smtp": SmtpSettings(host="127.0.0.1", port=free_port(), timeout_s=1)}
    )
    assert send_breach_notices(runtime) == (0, 1)
    with runtime.unit_of_work() as ctx:
        row = ctx.db.scalars(select(IncidentRecipient)).one()
        assert row is not None and row.delivered_at is None and row.attempts == 1
        assert row.last_error
    info = run(services, lambda ctx: incidents.get_incident(ctx, incident.id), clock)
    assert (info.delivered, info.overdue) == (0, False)

    clock.advance(hours=72)
    info = run(services, lambda ctx: incidents.get_incident(ctx, incident.id), clock)
    assert info.overdue and info.time_left < timedelta(0)

    runtime.settings = services.settings  # the server is back (outbox folder)
    assert send_breach_notices(runtime) == (1, 0)
    info = run(services, lambda ctx: incidents.get_incident(ctx, incident.id), clock)
    # Delivered, but after the deadline: still flagged.
    assert info.delivered == 1 and info.overdue


def test_a_selection_must_name_somebody(services: Any, clock: Clock) -> None:
    with pytest.raises(ValidationError):
        run(
            services,
            lambda ctx: incidents.record_incident(
                ctx,
                None,
                title="x",
                description="",
                detected_at=clock.now,
                selection=incidents.Selection(),
            ),
            clock,
        )
    with pytest.raises(ValidationError):
        run(
            services,
            lambda ctx: incidents.record_incident(
                ctx,
                None,
                title="x",
                description="",
                detected_at=clock.now,
                selection=incidents.Selection(emails=("nobody@example.org",)),
            ),
            clock,
        )
