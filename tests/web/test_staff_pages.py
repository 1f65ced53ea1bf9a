"""The staff and admin pages through the app: a written reason or nothing, the admin
area's incidents (deadline, overdue), locking, the access log with filters, usage charts
drawn on the server, and "Who accessed your data" on the customer's Privacy page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from clearcutout.config import Settings
from clearcutout.db.models import AccessLogEntry
from clearcutout.service.jobs.usage import record_usage
from clearcutout.web import create_app
from tests.support.staff import create_account, csrf_of, enrol_totp, sign_in


@pytest.fixture
def app(web_settings: Settings) -> Iterator[Any]:
    with TestClient(create_app(web_settings)) as client:
        yield client.app


def _staff_client(app: Any, email: str, role: str) -> TestClient:
    client = TestClient(app)
    create_account(app.state.runtime, email, role=role)
    sign_in(client, email)
    enrol_totp(client)
    return client


def test_no_reason_no_data_and_the_customer_sees_each_access(app: Any) -> None:
    runtime = app.state.runtime
    ada_id = create_account(runtime, "ada@example.org")
    support = _staff_client(app, "help@example.org", "support")
    token = csrf_of(support.get("/staff/accounts").text)

    refused = support.post(
        "/staff/accounts/lookup",
        data={"csrf_token": token, "email": "ada@example.org", "reason": "  "},
    )
    assert refused.status_code == 400 and "Say why" in refused.text
    assert "Ada" not in refused.text
    jobs_refused = support.post(f"/staff/accounts/{ada_id}/jobs", data={"csrf_token": token})
    assert jobs_refused.status_code == 400 and "Say why" in jobs_refused.text

    looked = support.post(
        "/staff/accounts/lookup",
        data={"csrf_token": token, "email": "ada@example.org", "reason": "ticket 12"},
    )
    assert looked.status_code == 200 and "Ada" in looked.text
    # Never a password hash or key on the page.
    assert "argon2" not in looked.text
    jobs = support.post(
        f"/staff/accounts/{ada_id}/jobs", data={"csrf_token": token, "reason": "ticket 12"}
    )
    assert jobs.status_code == 200 and "This account has no jobs." in jobs.text

    ada = TestClient(app)
    sign_in(ada, "ada@example.org")
    page = ada.get("/account/privacy").text
    section = page.split('id="staff-access"')[1].split("</section>")[0]
    assert "Viewed your account details" in section and "Viewed your list of images" in section
    assert section.count("ticket 12") == 2
    assert "Support #1" in section and "help@example.org" not in section


def test_admin_records_an_incident_sees_the_deadline_and_then_overdue(app: Any) -> None:
    runtime = app.state.runtime
    create_account(runtime, "ada@example.org")
    admin = _staff_client(app, "boss@example.org", "admin")
    form = admin.get("/staff/admin/incidents")
    assert form.status_code == 200 and "No incidents recorded." in form.text
    detected = datetime.now(UTC) - timedelta(hours=1)
    recorded = admin.post(
        "/staff/admin/incidents",
        data={
            "csrf_token": csrf_of(form.text),
            "title": "Leaked log file",
            "description": "A log with email addresses was readable.",
            "detected_at": detected.strftime("%Y-%m-%dT%H:%M"),
            "emails": "nobody@example.org",
        },
    )
    assert recorded.status_code == 400 and "nobody@example.org" in recorded.text

    # The delivery is what the deadline is about: an unreachable mail server keeps it pending.
    runtime.settings = runtime.settings.model_copy(
        update={"smtp": runtime.settings.smtp.model_copy(update={"host": "127.0.0.1", "port": 9})}
    )
    recorded = admin.post(
        "/staff/admin/incidents",
        data={
            "csrf_token": csrf_of(form.text),
            "title": "Leaked log file",
            "description": "A log with email addresses was readable.",
            "detected_at": detected.strftime("%Y-%m-%dT%H:%M"),
            "emails": "ada@example.org",
        },
    )
    assert recorded.status_code == 200, recorded.text
    assert "Leaked log file" in recorded.text and "0 / 1" in recorded.text
    listed = admin.get("/staff/admin/incidents").text
    assert re.search(r"(70|71) h left", listed)

    # Detected 73 hours ago and still not delivered: past the deadline, flagged.
    late = admin.post(
        "/staff/admin/incidents",
        data={
            "csrf_token": csrf_of(form.text),
            "title": "Found late",
            "detected_at": (detected - timedelta(hours=72)).strftime("%Y-%m-%dT%H:%M"),
            "emails": "ada@example.org",
        },
    )
    assert late.status_code == 200 and "<strong>Overdue</strong>" in late.text
    listed = admin.get("/staff/admin/incidents").text
    assert listed.count("<strong>Overdue</strong>") == 1
    assert re.search(r"(70|71) h left", listed)


def test_an_admin_grants_a_role_for_a_reason_and_the_log_filters_forgive_a_bad_date(
    app: Any,
) -> None:
    runtime = app.state.runtime
    ada_id = create_account(runtime, "ada@example.org")
    admin = _staff_client(app, "boss@example.org", "admin")
    token = csrf_of(admin.get("/staff/admin/users").text)

    def change(user_id: str, **form: str) -> Any:
        return admin.post(
            f"/staff/admin/users/{user_id}/role",
            data={"csrf_token": token, **form},
            follow_redirects=False,
        )

    assert change("no-such-account", role="support", reason="new hire").status_code == 404
    assert change(ada_id, role="support", reason="  ").status_code == 400
    assert ada_id not in admin.get("/staff/admin/users").text
    granted = change(ada_id, role="support", reason="new hire")
    assert granted.status_code == 303
    assert granted.headers["location"] == "/staff/admin/users?done=role"
    staff_list = admin.get(granted.headers["location"]).text
    assert "The role was changed." in staff_list and ada_id in staff_list

    # One malformed date shows the whole log (nothing hidden by a typo), with what was
    # typed kept in the form.
    log_page = admin.get("/staff/admin/log", params={"since": "yesterday-ish"}).text
    assert "user -&gt; support: new hire" in log_page
    assert 'value="yesterday-ish"' in log_page
    later = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert "new hire" not in admin.get("/staff/admin/log", params={"since": later}).text


def test_lock_log_filters_alerts_and_charts(app: Any) -> None:
    runtime = app.state.runtime
    ada_id = create_account(runtime, "ada@example.org")
    admin = _staff_client(app, "boss@example.org", "admin")
    ada = TestClient(app)
    sign_in(ada, "ada@example.org")
    assert ada.get("/account", follow_redirects=False).status_code == 200

    token = csrf_of(admin.get("/staff/admin/users").text)
    locked = admin.post(
        f"/staff/admin/users/{ada_id}/lock",
        data={"csrf_token": token, "reason": "fraud report", "locked": "yes"},
        follow_redirects=False,
    )
    assert locked.status_code == 303
    assert ada.get("/account", follow_redirects=False).status_code == 303  # session ended
    again = TestClient(app)
    login = again.post(
        "/login",
        data={
            "csrf_token": csrf_of(again.get("/login").text),
            "email": "ada@example.org",
            "password": "analytical engine 1843",
        },
    )
    assert "locked" in login.text

    log_page = admin.get("/staff/admin/log", params={"action": "lock_account"}).text
    assert "fraud report" in log_page and "Hash chain intact" in log_page
    assert "role_change" not in log_page.split('id="access-log"')[1]
    with runtime.unit_of_work() as ctx:
        ctx.db.add(
            AccessLogEntry(seq=999, actor_user_id="x", action="forged", reason="inserted by hand")
        )
    assert "Hash chain broken" in admin.get("/staff/admin/log").text

    with runtime.unit_of_work() as ctx:
        today = ctx.now().date()
        for seconds in (0.3, 0.8, 1.5):
            record_usage(
                ctx.db, region="eu", model="u2netp", outcome="done", seconds=seconds, day=today
            )
        record_usage(ctx.db, region="eu", model="u2netp", outcome="failed", seconds=0.1, day=today)
    stats = admin.get("/staff/admin/stats")
    assert stats.status_code == 200
    assert stats.text.count("<svg") == 2 and "cdn" not in stats.text.lower()
    assert f"{today:%m-%d}: 4</title>" in stats.text  # images that day
    assert f"{today:%m-%d}: 75 %</title>" in stats.text  # success rate
    assert "<td>≤ 1.0 s</td><td>≤ 2.0 s</td><td>≤ 2.0 s</td>" in stats.text
