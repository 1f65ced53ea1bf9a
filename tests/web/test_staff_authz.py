"""Authorisation of every staff route, for a visitor, a plain user, support and admin.

The routes are read from the app itself, so a staff route added later is covered (or
fails here until it is listed). A refusal is the plain 404 ``roles.NOT_FOUND`` — the
page does not reveal that it exists — and happens before anything is changed; a staff
session without its second factor is sent to enrol first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from clearcutout.config import Settings
from clearcutout.db.models import AccessLogEntry, User
from clearcutout.service.privacy import requests as privacy_requests
from clearcutout.service.staff import incidents, monitoring
from clearcutout.web import create_app
from tests.support.staff import create_account, csrf_of, enrol_totp, sign_in

DENIED = "This page does not exist."
ADMIN_ONLY = "/staff/admin"
# Routes a staff member reaches before the second factor (they set it up or enter it).
SECOND_FACTOR_PAGES = {"/staff/2fa", "/staff/2fa/enrol"}


@pytest.fixture
def app(web_settings: Settings) -> Iterator[Any]:
    with TestClient(create_app(web_settings)) as client:
        yield client.app


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        # Newer FastAPI keeps an included router as one entry wrapping the original.
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _api_routes(list(inner.routes))


def staff_routes(app: Any) -> list[tuple[str, str]]:
    found = []
    for route in _api_routes(list(app.routes)):
        if route.path.startswith("/staff"):
            found.extend((method, route.path) for method in sorted(route.methods))
    return sorted(set(found))


@pytest.fixture
def ids(app: Any) -> dict[str, str]:
    """Real ids for every path parameter, so an allowed request reaches the page."""
    runtime = app.state.runtime
    customer = create_account(runtime, "ada@example.org")
    with runtime.unit_of_work() as ctx:
        user = ctx.db.get(User, customer)
        info = privacy_requests.submit(
            ctx, user, kind="question", processing=None, message="What do you keep?"
        )
        incident = incidents.record_incident(
            ctx,
            None,
            title="Test incident",
            description="",
            detected_at=ctx.now(),
            selection=incidents.Selection(emails=("ada@example.org",)),
        )
        alert = monitoring.raise_alert(ctx, "out_of_hours", actor_user_id=None, detail="test")
        return {
            "user_id": customer,
            "request_id": info.id,
            "incident_id": incident.id,
            "alert_id": alert.id,
            "job_id": "0" * 32,
        }


def _call(client: TestClient, method: str, path: str, ids: dict[str, str]) -> Any:
    url = path.format(**ids)
    if method == "GET":
        return client.get(url, follow_redirects=False)
    token = csrf_of(client.get("/login").text)
    # A form that would change something if the role check were missing.
    data = {
        "csrf_token": token,
        "reason": "authorisation test",
        "role": "admin",
        "locked": "yes",
        "confirm": "yes",
        "email": "ada@example.org",
        "code": "000000",
        "title": "t",
        "detected_at": "2020-01-01T00:00",
        "emails": "ada@example.org",
    }
    return client.post(url, data=data, follow_redirects=False)


def _denied(answer: Any) -> bool:
    return answer.status_code == 404 and DENIED in answer.text


def _client_as(app: Any, email: str | None, role: str | None, *, totp: bool) -> TestClient:
    client = TestClient(app)
    if email is None:
        return client
    create_account(app.state.runtime, email, role=role)
    sign_in(client, email)
    if totp:
        enrol_totp(client)
    return client


def test_every_staff_route_for_visitor_user_support_and_admin(
    app: Any, ids: dict[str, str]
) -> None:
    routes = staff_routes(app)
    assert len(routes) >= 20
    visitor = _client_as(app, None, None, totp=False)
    user = _client_as(app, "user@example.org", None, totp=False)
    support = _client_as(app, "support@example.org", "support", totp=True)
    admin = _client_as(app, "admin@example.org", "admin", totp=True)
    runtime = app.state.runtime

    for method, path in routes:
        for who, client in (("visitor", visitor), ("user", user)):
            answer = _call(client, method, path, ids)
            assert _denied(answer), (who, method, path, answer.status_code)
    with runtime.unit_of_work() as ctx:
        ada = ctx.db.get(User, ids["user_id"])
        assert ada is not None and ada.staff_role is None and ada.locked_at is None
        # Nothing a refused caller did reached the log (only the set-up's entries).
        actions = set(ctx.db.scalars(select(AccessLogEntry.action)))
    assert "view_account" not in actions and "lock_account" not in actions

    # flag-child deletes the account it names: each pass flags a customer of its own.
    for who, client in (("support", support), ("admin", admin)):
        own = {**ids, "user_id": create_account(runtime, f"kid-{who}@example.org")}
        for method, path in routes:
            target = own if path.endswith("flag-child") else ids
            answer = _call(client, method, path, target)
            expected = who == "support" and path.startswith(ADMIN_ONLY)
            assert _denied(answer) == expected, (who, method, path, answer.status_code)
        with runtime.unit_of_work() as ctx:
            assert ctx.db.get(User, own["user_id"]) is None  # the flag went through
    with runtime.unit_of_work() as ctx:
        ada = ctx.db.get(User, ids["user_id"])
        # The admin's role change and lock went through; support's were refused.
        assert ada is not None and ada.staff_role == "admin" and ada.locked_at is not None


def test_staff_pages_need_the_second_factor_first(app: Any, ids: dict[str, str]) -> None:
    support = _client_as(app, "support@example.org", "support", totp=False)
    for method, path in staff_routes(app):
        if path in SECOND_FACTOR_PAGES or path.startswith(ADMIN_ONLY):
            continue
        answer = _call(support, method, path, ids)
        assert answer.status_code == 303, (method, path, answer.status_code)
        assert answer.headers["location"] == "/staff/2fa/enrol"
    secret, codes = enrol_totp(support)
    assert support.get("/staff/requests").status_code == 200

    # A new session asks for the code; a recovery code works once.
    fresh = TestClient(app)
    sign_in(fresh, "support@example.org")
    assert fresh.get("/staff/requests", follow_redirects=False).headers["location"] == "/staff/2fa"
    page = fresh.get("/staff/2fa")
    wrong = fresh.post("/staff/2fa", data={"csrf_token": csrf_of(page.text), "code": "123456"})
    assert wrong.status_code == 400
    ok = fresh.post(
        "/staff/2fa",
        data={"csrf_token": csrf_of(page.text), "code": codes[0]},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and fresh.get("/staff/requests").status_code == 200
    again = TestClient(app)
    sign_in(again, "support@example.org")
    page = again.get("/staff/2fa")
    reused = again.post("/staff/2fa", data={"csrf_token": csrf_of(page.text), "code": codes[0]})
    assert reused.status_code == 400
    assert secret  # the secret itself is never stored in clear (sealed under the user key)
    # Wrong codes are counted: after the login's per-account limit, even a right one waits.
    limit = app.state.runtime.settings.throttle.login_per_account
    for _ in range(limit - 1):  # one wrong code was counted above
        again.post("/staff/2fa", data={"csrf_token": csrf_of(page.text), "code": "000000"})
    blocked = again.post("/staff/2fa", data={"csrf_token": csrf_of(page.text), "code": codes[1]})
    assert blocked.status_code == 429
    with app.state.runtime.unit_of_work() as ctx:
        row = ctx.db.scalar(select(User).where(User.staff_role == "support"))
        assert row is not None and row.totp_secret_enc is not None
        assert secret.encode() not in row.totp_secret_enc
