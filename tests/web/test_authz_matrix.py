"""Who may use which route: every route of the app × anonymous, another user, the owner
and staff, each by session cookie and by API key (privacy policy, "Access Controls").

The route list is read from the app itself, so a new route without an entry in
``RULES`` fails ``test_every_route_has_a_rule``. Each request that needs a resource (a
job, a session, a key, an export, a privacy request, an account) gets a fresh one of the
owner's, so destructive routes never disturb the next request. Bodies are empty: the
question is only whether authentication and authorisation let the request through (any
answer but 401, 403, 404 or a redirect to the login page) or stop it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from clearcutout.config import Settings
from clearcutout.db.models import User
from clearcutout.service import accounts
from clearcutout.service.accounts import apikeys, sessions
from clearcutout.service.context import ServiceContext
from clearcutout.service.jobs import submit
from clearcutout.service.privacy import export, policy
from clearcutout.service.privacy import requests as privacy_requests
from clearcutout.service.staff import actions as staff_actions
from clearcutout.web import create_app
from tests.conftest import Services, fast_settings
from tests.support.database import migrate
from tests.support.photos import resized_sample
from tests.support.service import run

PASSWORD = "analytical engine 1843"


class Rule(Enum):
    PUBLIC = "anyone"
    SESSION = "any signed-in person, by session cookie"
    OWNED_SESSION = "the owner of the resource, by session cookie"
    API = "any signed-in person, by API key or session cookie"
    OWNED_API = "the owner of the resource, by API key or session cookie"
    REMOVEBG = "any person with an API key (never the cookie)"
    STAFF = "staff, by session cookie"


RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/"): Rule.PUBLIC,
    ("GET", "/privacy"): Rule.PUBLIC,
    ("GET", "/cookies"): Rule.PUBLIC,
    ("POST", "/preferences"): Rule.PUBLIC,
    ("GET", "/favicon.ico"): Rule.PUBLIC,
    ("GET", "/healthz"): Rule.PUBLIC,
    ("GET", "/signup"): Rule.PUBLIC,
    ("POST", "/signup"): Rule.PUBLIC,
    ("GET", "/verify-email"): Rule.PUBLIC,
    ("GET", "/login"): Rule.PUBLIC,
    ("POST", "/login"): Rule.PUBLIC,
    ("POST", "/logout"): Rule.PUBLIC,
    ("GET", "/password-reset"): Rule.PUBLIC,
    ("POST", "/password-reset"): Rule.PUBLIC,
    ("GET", "/password-reset/confirm"): Rule.PUBLIC,
    ("POST", "/password-reset/confirm"): Rule.PUBLIC,
    ("GET", "/account"): Rule.SESSION,
    ("POST", "/account/name"): Rule.SESSION,
    ("POST", "/account/password"): Rule.SESSION,
    ("POST", "/account/email"): Rule.SESSION,
    ("POST", "/account/region"): Rule.SESSION,
    ("POST", "/account/preferences"): Rule.SESSION,
    ("POST", "/account/sessions/revoke-all"): Rule.SESSION,
    ("POST", "/account/sessions/{session_id}/revoke"): Rule.OWNED_SESSION,
    ("POST", "/account/api-keys"): Rule.SESSION,
    ("POST", "/account/api-keys/{key_id}/revoke"): Rule.OWNED_SESSION,
    ("GET", "/api/v1/account"): Rule.API,
    ("POST", "/api/v1/jobs"): Rule.API,
    ("GET", "/api/v1/jobs"): Rule.API,
    ("GET", "/api/v1/jobs/{job_id}"): Rule.OWNED_API,
    ("GET", "/api/v1/jobs/{job_id}/result"): Rule.OWNED_API,
    ("GET", "/api/v1/jobs/{job_id}/original"): Rule.OWNED_API,
    ("DELETE", "/api/v1/jobs/{job_id}"): Rule.OWNED_API,
    ("GET", "/docs"): Rule.PUBLIC,
    ("GET", "/docs/openapi.json"): Rule.PUBLIC,
    ("GET", "/docs/init.js"): Rule.PUBLIC,
    ("GET", "/docs/assets/{name}"): Rule.PUBLIC,
    ("POST", "/v1.0/removebg"): Rule.REMOVEBG,
    ("GET", "/v1.0/account"): Rule.REMOVEBG,
    ("GET", "/account/privacy"): Rule.SESSION,
    ("POST", "/account/privacy/email"): Rule.SESSION,
    ("POST", "/account/privacy/requests"): Rule.SESSION,
    ("GET", "/privacy/versions/{version_id}"): Rule.PUBLIC,
    ("GET", "/privacy/accept"): Rule.SESSION,
    ("POST", "/privacy/accept"): Rule.SESSION,
    ("GET", "/unsubscribe"): Rule.PUBLIC,
    ("POST", "/unsubscribe"): Rule.PUBLIC,
    ("POST", "/account/privacy/export"): Rule.SESSION,
    ("GET", "/account/privacy/export/{export_id}"): Rule.OWNED_SESSION,
    ("POST", "/account/privacy/delete"): Rule.SESSION,
    ("GET", "/api/v1/account/export"): Rule.API,
    ("GET", "/staff/requests"): Rule.STAFF,
    ("GET", "/staff/requests/{request_id}"): Rule.STAFF,
    ("POST", "/staff/requests/{request_id}/close"): Rule.STAFF,
    ("GET", "/staff/accounts"): Rule.STAFF,
    ("POST", "/staff/accounts/lookup"): Rule.STAFF,
    ("POST", "/staff/accounts/{user_id}/flag-child"): Rule.STAFF,
    ("GET", "/app"): Rule.SESSION,
    ("GET", "/app/history"): Rule.SESSION,
    ("GET", "/app/history/{job_id}/thumbnail"): Rule.OWNED_SESSION,
    # The framework's own: the API document.
    ("GET", "/openapi.json"): Rule.PUBLIC,
}

PRINCIPALS = ("anonymous", "other", "owner", "staff")
CHANNELS = ("cookie", "key")


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app answers, included routers flattened."""
    found: set[tuple[str, str]] = set()

    def add(route: Any, prefix: str = "") -> None:
        methods = getattr(route, "methods", None) or set()
        path = prefix + (getattr(route, "path", "") or "")
        for method in methods - {"HEAD", "OPTIONS"}:
            found.add((method, path))

    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:  # FastAPI's included router
            for context in contexts():
                methods = getattr(context.original_route, "methods", None) or set()
                for method in methods - {"HEAD", "OPTIONS"}:
                    found.add((method, context.path))
        elif isinstance(route, APIRoute) or getattr(route, "methods", None):
            add(route)
    return found


# -------------------------------------------------------------------------- the world


@dataclass
class Person:
    user: User
    key: str


@dataclass
class World:
    settings: Settings
    services: Services
    app: FastAPI
    people: dict[str, Person]
    photo: bytes

    def ctx_run(self, action: Callable[[ServiceContext], Any]) -> Any:
        return run(self.services, action)

    def body(self, method: str, path: str) -> dict[str, str] | None:
        """Form fields that get a request past validation to the authorisation it tests."""
        if (method, path) == ("POST", "/privacy/accept"):
            return {"version": self.ctx_run(lambda ctx: policy.current_version(ctx).version)}
        if (method, path) == ("POST", "/staff/accounts/lookup"):
            return {"email": "owner@example.org", "reason": "authorisation matrix"}
        return None

    def session_of(self, principal: str) -> str:
        user = self.people[principal].user
        return str(self.ctx_run(lambda ctx: sessions.create_session(ctx, ctx.db.merge(user))))

    # Fresh resources of the owner, one per request.
    def resource(self, name: str) -> str:
        owner = self.people["owner"].user
        if name == "job_id":
            return str(
                self.ctx_run(
                    lambda ctx: (
                        submit(
                            ctx, ctx.db.merge(owner), self.photo, accounts_options(), model="u2netp"
                        ).id
                    )
                )
            )
        if name == "session_id":
            return str(self.ctx_run(lambda ctx: _new_session_id(ctx, ctx.db.merge(owner))))
        if name == "key_id":
            return str(
                self.ctx_run(
                    lambda ctx: (
                        apikeys.create_api_key(
                            ctx, ctx.db.merge(owner), label="m", scopes=["images"]
                        )[0].id
                    )
                )
            )
        if name == "export_id":
            return str(self.ctx_run(lambda ctx: export.request_export(ctx, ctx.db.merge(owner)).id))
        if name == "request_id":
            return str(
                self.ctx_run(
                    lambda ctx: (
                        privacy_requests.submit(
                            ctx,
                            ctx.db.merge(owner),
                            kind="question",
                            processing=None,
                            message="Hi?",
                        ).id
                    )
                )
            )
        if name == "user_id":
            return _person(self.services, "bystander").user.id
        if name == "version_id":
            return str(self.ctx_run(lambda ctx: policy.current_version(ctx).version))
        if name == "name":
            return "swagger-ui.css"
        raise AssertionError(f"no resource factory for {{{name}}}")


def accounts_options() -> Any:
    from clearcutout.engine import CutoutOptions

    return CutoutOptions()


def _new_session_id(ctx: ServiceContext, user: User) -> str:
    token = sessions.create_session(ctx, user)
    found = sessions.resolve_session(ctx, token)
    assert found is not None
    return str(found[0].id)


def _person(services: Services, label: str, *, staff: bool = False) -> Person:
    email = f"{label}-{uuid.uuid4().hex[:8]}@example.org"

    def create(ctx: ServiceContext) -> Person:
        user = accounts.create_user_as_operator(
            ctx, email=email, name=label.title(), password=PASSWORD, region="eu"
        )
        version = policy.current_version(ctx)
        policy.accept(ctx, user, version_id=version.version, source="signup")
        if staff:
            staff_actions.set_staff(ctx, email=email, is_staff=True)
        _info, key = apikeys.create_api_key(ctx, user, label="m", scopes=["images", "account"])
        return Person(user=user, key=key)

    return run(services, create)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from clearcutout.crypto import Keyring
    from clearcutout.db import create_db_engine

    data = Path(tmp_path_factory.mktemp("authz")) / "data"
    settings = fast_settings(data, default_model="u2netp", executor="none")
    migrate(settings)
    engine = create_db_engine(settings.effective_database_url)
    services = Services(settings=settings, engine=engine, keyring=Keyring.from_settings(settings))
    people = {
        "other": _person(services, "other"),
        "owner": _person(services, "owner"),
        "staff": _person(services, "staff", staff=True),
    }
    app = create_app(settings)
    try:
        yield World(settings, services, app, people, resized_sample(64, 48))
    finally:
        app.state.runtime.close()
        engine.dispose()


def test_every_route_has_a_rule(world: World) -> None:
    routes = app_routes(world.app)
    missing = sorted(routes - set(RULES))
    assert not missing, f"routes without an authorisation rule in RULES: {missing}"
    stale = sorted(set(RULES) - routes)
    assert not stale, f"rules for routes that no longer exist: {stale}"


def _expected(rule: Rule, principal: str, channel: str) -> bool:
    signed_in = principal != "anonymous"
    return {
        Rule.PUBLIC: True,
        Rule.SESSION: signed_in and channel == "cookie",
        Rule.OWNED_SESSION: principal == "owner" and channel == "cookie",
        Rule.API: signed_in,
        Rule.OWNED_API: principal == "owner",
        Rule.REMOVEBG: signed_in and channel == "key",
        Rule.STAFF: principal == "staff" and channel == "cookie",
    }[rule]


def _refused(rule: Rule, status: int, location: str) -> bool:
    # On a public route 401 is a refused password (``/login``), not a missing sign-in.
    if status in (403, 404) or (status == 401 and rule is not Rule.PUBLIC):
        return True
    return status in (302, 303, 307) and "/login" in location


def _cases() -> list[tuple[str, str, str, str]]:
    cases = []
    for method, path in sorted(RULES):
        for principal in PRINCIPALS:
            for channel in CHANNELS if principal != "anonymous" else ("none",):
                cases.append((method, path, principal, channel))
    return cases


@pytest.mark.parametrize(("method", "path", "principal", "channel"), _cases())
def test_the_route_admits_exactly_whom_its_rule_says(
    world: World, method: str, path: str, principal: str, channel: str
) -> None:
    rule = RULES[(method, path)]
    url = path
    while "{" in url:
        name = url[url.index("{") + 1 : url.index("}")]
        url = url.replace(f"{{{name}}}", world.resource(name), 1)
    headers: dict[str, str] = {}
    with TestClient(world.app, follow_redirects=False) as client:
        if principal != "anonymous" and channel == "cookie":
            # A fresh session each time: /logout and the revoke routes end sessions.
            client.cookies.set("session-token", world.session_of(principal))
        if principal != "anonymous" and channel == "key":
            headers["X-Api-Key"] = world.people[principal].key
        # A CSRF token valid for this browser: refusals must come from authorisation.
        client.get("/login")
        headers["X-CSRF-Token"] = client.cookies.get("csrf-token") or ""
        response = client.request(method, url, headers=headers, data=world.body(method, path))
    refused = _refused(rule, response.status_code, response.headers.get("location", ""))
    expected = _expected(rule, principal, channel)
    assert refused != expected, (
        f"{method} {path} ({rule.value}) by {principal} via {channel}: "
        f"{response.status_code} {response.headers.get('location', '')} {response.text[:200]}"
    )
