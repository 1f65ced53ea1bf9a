"""Monitoring rules on SQLite and the real PostgreSQL: many images viewed quickly,
access outside working hours, and a failed daily ``audit verify`` raise an alert shown
in the admin area and emailed to every admin."""

from __future__ import annotations

import email
from email import policy
from typing import Any

from sqlalchemy import text

from clearcutout.service import staff
from clearcutout.service.infra.mail import outbox_dir
from clearcutout.service.runtime import Runtime
from clearcutout.service.staff import accesslog, monitoring
from clearcutout.workers.tasks import verify_audit_log
from tests.service.staff.conftest import make_user
from tests.support.service import Clock, run


def _alert_mails(settings: Any) -> list[str]:
    folder = outbox_dir(settings)
    subjects = []
    for file in sorted(folder.glob("*.eml")) if folder.exists() else []:
        message = email.message_from_bytes(file.read_bytes(), policy=policy.default)
        if "Staff access alert" in str(message["Subject"]):
            subjects.append(f"{message['To']}: {message['Subject']}")
    return subjects


def test_many_images_viewed_quickly_alerts_the_admins_once(services: Any, clock: Clock) -> None:
    make_user(services, clock, "admin@example.org", role="admin")
    nosy = make_user(services, clock, "nosy@example.org", role="support")
    people = [make_user(services, clock, f"p{n}@example.org") for n in range(12)]
    limit = services.settings.staff.image_views_max  # 10 people within 10 minutes

    def view(person_id: str) -> None:
        run(
            services,
            lambda ctx: accesslog.record(
                ctx, actor=nosy, subject_user_id=person_id, action="view_image", reason="qa"
            ),
            clock,
        )
        clock.advance(seconds=30)

    for person in people[:limit]:
        view(person.id)
    assert run(services, monitoring.list_alerts) == []
    view(people[limit].id)
    view(people[limit + 1].id)  # still the same burst: no second alert
    [alert] = run(services, monitoring.list_alerts)
    assert alert.rule == "many_images" and alert.actor_user_id == nosy.id
    assert f"of {limit + 1} people" in alert.detail
    assert _alert_mails(services.settings) == [
        "admin@example.org: Staff access alert: Many images viewed quickly"
    ]


def test_access_outside_working_hours_alerts(services: Any, clock: Clock) -> None:
    make_user(services, clock, "admin@example.org", role="admin")
    helper = make_user(services, clock, "helper@example.org", role="support")
    ada = make_user(services, clock, "ada@example.org")
    # Monday 09:00 UTC: working hours.
    run(services, lambda ctx: staff.view_account(ctx, helper, user_id=ada.id, reason="a"), clock)
    assert run(services, monitoring.list_alerts) == []
    clock.advance(days=5, hours=14)  # Saturday 23:00
    run(services, lambda ctx: staff.view_account(ctx, helper, user_id=ada.id, reason="b"), clock)
    clock.advance(minutes=20)  # the same night's work: no second alert
    run(services, lambda ctx: staff.view_account(ctx, helper, user_id=ada.id, reason="c"), clock)
    [alert] = run(services, monitoring.list_alerts)
    assert alert.rule == "out_of_hours" and "2025-01-11 23:00" in alert.detail


def test_a_failed_audit_verify_run_alerts_the_admins(services: Any, clock: Clock) -> None:
    make_user(services, clock, "admin@example.org", role="admin")
    helper = make_user(services, clock, "helper@example.org", role="support")
    ada = make_user(services, clock, "ada@example.org")
    run(services, lambda ctx: staff.view_account(ctx, helper, user_id=ada.id, reason="a"), clock)
    with Runtime.from_settings(services.settings) as runtime:
        runtime.clock = clock
        assert verify_audit_log(runtime) is True
        assert run(services, monitoring.list_alerts) == []
        with services.engine.begin() as connection:
            connection.execute(
                text("UPDATE access_log SET reason = 'edited' WHERE action = 'view_account'")
            )
        clock.advance(days=1)
        assert verify_audit_log(runtime) is False
    [alert] = run(services, monitoring.list_alerts)
    assert alert.rule == "audit_verify_failed" and "entry #3" in alert.detail
    assert _alert_mails(services.settings) == [
        "admin@example.org: Staff access alert: Access log verification failed"
    ]
