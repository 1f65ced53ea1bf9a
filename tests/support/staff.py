"""Staff accounts for web and browser tests: accounts made the operator's way with a role,
signed in through the login form, with the TOTP second factor enrolled through the pages."""

from __future__ import annotations

import re
from typing import Any

import pyotp
from fastapi.testclient import TestClient

from clearcutout.service.accounts import get_user_by_email, signup
from clearcutout.service.runtime import Runtime
from clearcutout.service.staff import roles

PASSWORD = "analytical engine 1843"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


def create_account(
    runtime: Runtime, email: str, *, role: str | None = None, region: str = "eu"
) -> str:
    """A verified account (and its role); returns its id."""
    with runtime.unit_of_work() as ctx:
        user = signup.create_user_as_operator(
            ctx, email=email, name=email.split("@")[0].title(), password=PASSWORD, region=region
        )
        if role:
            roles.set_role(ctx, actor=None, user=user, role=role, reason="test set-up")
        return user.id


def sign_in(client: TestClient, email: str) -> None:
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login",
        data={"csrf_token": token, "email": email, "password": PASSWORD},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    # Operator-made accounts are asked to accept the policy at their first login.
    if "/privacy/accept" in answer.headers.get("location", ""):
        page = client.get("/privacy/accept")
        form: dict[str, Any] = {"csrf_token": csrf_of(page.text)}
        version = re.search(r'name="version" value="([^"]+)"', page.text)
        if version:
            form["version"] = version.group(1)
        client.post("/privacy/accept", data=form, follow_redirects=False)


def enrol_totp(client: TestClient) -> tuple[str, list[str]]:
    """Enrol through the pages; returns the secret and the recovery codes."""
    page = client.get("/staff/2fa/enrol")
    assert page.status_code == 200, page.text
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text)
    assert secret
    done = client.post(
        "/staff/2fa/enrol",
        data={"csrf_token": csrf_of(page.text), "code": pyotp.TOTP(secret.group(1)).now()},
    )
    assert done.status_code == 200, done.text
    codes = re.findall(r"<li><code>([0-9a-f]{10})</code></li>", done.text)
    assert len(codes) == 10
    return secret.group(1), codes


def user_id_of(runtime: Runtime, email: str) -> str:
    with runtime.unit_of_work() as ctx:
        return get_user_by_email(ctx, email).id
