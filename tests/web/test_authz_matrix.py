"""Who may use which route: every route of the app × anonymous, another user, the owner,
support staff and an admin (each with the second factor proven) and support staff whose
session has not entered the code yet, each by session cookie and by API key (privacy
policy, "Access Controls"). Billing is on, so its routes are there to be asked.

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

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from clearcutout.config import BillingSettings, PlanSettings, Settings
from clearcutout.db.models import AuthSession, User
from clearcutout.service import accounts, jobs
from clearcutout.service.accounts import apikeys, sessions
from clearcutout.service.billing import payments
from clearcutout.service.context import ServiceContext
from clearcutout.service.jobs import submit
from clearcutout.service.privacy import export, policy
from clearcutout.service.privacy import requests as privacy_requests
from clearcutout.service.staff import incidents, monitoring, roles, totp
from clearcutout.web import create_app
from clearcutout.workers.tasks import run_job
from tests.conftest import Services, fast_settings
from tests.support.billing import (
    STRIPE_KEY,
    WEBHOOK_SECRET,
    CheckoutDouble,
    LocalStripe,
    event,
    signed,
)
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
    STAFF = "staff (support or admin) with the second factor, by session cookie"
    ADMIN = "an admin with the second factor, by session cookie"
    STAFF_SECOND_FACTOR = "staff before the second factor (set it up, enter it), by cookie"
    STRIPE = "Stripe, by the event's signature (no session or key stands in for it)"


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
    # Probes and Prometheus (docs/scale-out.md): anyone, as long as ``metrics_port`` does
    # not move /metrics to the internal port (then it is 404 here for everyone).
    ("GET", "/readyz"): Rule.PUBLIC,
    ("GET", "/metrics"): Rule.PUBLIC,
    # Asked for the owner's finished job: anyone else's counts as missing (404).
    ("GET", "/api/v1/jobs/archive"): Rule.OWNED_API,
    ("POST", "/api/v1/jobs/{job_id}/result"): Rule.OWNED_API,
    ("POST", "/api/v1/jobs/{job_id}/retry"): Rule.OWNED_API,
    # Billing (README, "Billing"): the page and Stripe's are for the signed-in person;
    # with billing off all four are 404 (``test_billing_routes_are_absent_while_off``).
    ("GET", "/account/billing"): Rule.SESSION,
    ("POST", "/account/billing/checkout"): Rule.SESSION,
    ("POST", "/account/billing/portal"): Rule.SESSION,
    ("POST", "/webhooks/stripe"): Rule.STRIPE,
    # Staff: the second factor is set up or entered with the role alone; everything else
    # needs the role and this session's second factor; /staff/admin needs the admin role.
    ("GET", "/staff/2fa"): Rule.STAFF_SECOND_FACTOR,
    ("POST", "/staff/2fa"): Rule.STAFF_SECOND_FACTOR,
    ("GET", "/staff/2fa/enrol"): Rule.STAFF_SECOND_FACTOR,
    ("POST", "/staff/2fa/enrol"): Rule.STAFF_SECOND_FACTOR,
    ("POST", "/staff/accounts/{user_id}/jobs"): Rule.STAFF,
    ("POST", "/staff/jobs/{job_id}/image"): Rule.STAFF,
    ("GET", "/staff/admin"): Rule.ADMIN,
    ("GET", "/staff/admin/alerts"): Rule.ADMIN,
    ("POST", "/staff/admin/alerts/{alert_id}/ack"): Rule.ADMIN,
    ("GET", "/staff/admin/incidents"): Rule.ADMIN,
    ("POST", "/staff/admin/incidents"): Rule.ADMIN,
    ("GET", "/staff/admin/incidents/{incident_id}"): Rule.ADMIN,
    ("GET", "/staff/admin/log"): Rule.ADMIN,
    ("GET", "/staff/admin/stats"): Rule.ADMIN,
    ("GET", "/staff/admin/users"): Rule.ADMIN,
    ("POST", "/staff/admin/users/find"): Rule.ADMIN,
    ("POST", "/staff/admin/users/{user_id}/lock"): Rule.ADMIN,
    ("POST", "/staff/admin/users/{user_id}/role"): Rule.ADMIN,
}

#: ``staff`` has the support role, ``admin`` the admin role, both with the second factor
#: proven in their sessions; ``unproven`` has the support role and TOTP set up, but its
#: session has not entered the code yet.
PRINCIPALS = ("anonymous", "other", "owner", "staff", "admin", "unproven")
STAFF_PRINCIPALS = {"staff": "support", "admin": "admin", "unproven": "support"}
CHANNELS = ("cookie", "key")


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app answers, included routers flattened.

    This FastAPI keeps an included router as one ``_IncludedRouter`` entry wrapping
    ``original_router``: both its effective routes (with the include's prefix) and the
    wrapped router's own routes are read, so neither view can hide a route."""
    found: set[tuple[str, str]] = set()

    def add(methods: set[str] | None, path: str) -> None:
        for method in (methods or set()) - {"HEAD", "OPTIONS"}:
            found.add((method, path))

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                for context in route.effective_route_contexts():
                    add(getattr(context.original_route, "methods", None), context.path)
                for context in route.effective_low_priority_routes():
                    add(getattr(context.original_route, "methods", None), context.path)
                include_prefix = getattr(route.include_context, "prefix", "") or ""
                walk(list(inner.routes), prefix + include_prefix)
            elif isinstance(route, APIRoute) or getattr(route, "methods", None):
                add(route.methods, prefix + route.path)

    walk(list(app.routes), "")
    return found


# -------------------------------------------------------------------------- the world


@dataclass
class Person:
    user: User
    key: str
    email: str


@dataclass
class World:
    settings: Settings
    services: Services
    app: FastAPI
    people: dict[str, Person]
    photo: bytes
    #: One of the owner's jobs, processed: what the ZIP download is asked for.
    finished_job: str = ""

    def ctx_run(self, action: Callable[[ServiceContext], Any]) -> Any:
        return run(self.services, action)

    def body(self, method: str, path: str) -> dict[str, str] | None:
        """Form fields that get a request past validation to the authorisation it tests."""
        if (method, path) == ("POST", "/privacy/accept"):
            return {"version": self.ctx_run(lambda ctx: policy.current_version(ctx).version)}
        if method == "POST" and path.startswith("/staff/"):
            # Past the forms' own checks, so an admitted request does what it is for.
            return {"email": "owner@example.org", "reason": "authorisation matrix"}
        return None

    def files(self, method: str, path: str) -> dict[str, tuple[str, bytes, str]] | None:
        """Uploads a route needs before it gets to the job (the background to compose on)."""
        if (method, path) == ("POST", "/api/v1/jobs/{job_id}/result"):
            return {"bg_image_file": ("background.jpg", self.photo, "image/jpeg")}
        return None

    def query(self, method: str, path: str) -> dict[str, str] | None:
        if (method, path) == ("GET", "/api/v1/jobs/archive"):
            return {"ids": self.finished_job}
        return None

    def session_of(self, principal: str) -> str:
        """A fresh session; staff other than ``unproven`` have entered their code in it."""
        user = self.people[principal].user

        def create(ctx: ServiceContext) -> str:
            token = sessions.create_session(ctx, ctx.db.merge(user))
            if principal in ("staff", "admin"):
                found = sessions.resolve_session(ctx, token)
                assert found is not None
                _prove_second_factor(ctx, ctx.db.merge(user), found[0].id)
            return str(token)

        return str(self.ctx_run(create))

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
        if name == "incident_id":
            return str(
                self.ctx_run(
                    lambda ctx: (
                        incidents.record_incident(
                            ctx,
                            None,
                            title="Matrix incident",
                            description="",
                            detected_at=ctx.now(),
                            selection=incidents.Selection(emails=(self.people["owner"].email,)),
                        ).id
                    )
                )
            )
        if name == "alert_id":
            return str(
                self.ctx_run(
                    lambda ctx: (
                        monitoring.raise_alert(
                            ctx, "out_of_hours", actor_user_id=None, detail="matrix"
                        ).id
                    )
                )
            )
        raise AssertionError(f"no resource factory for {{{name}}}")


def accounts_options() -> Any:
    from clearcutout.engine import CutoutOptions

    return CutoutOptions()


def _new_session_id(ctx: ServiceContext, user: User) -> str:
    token = sessions.create_session(ctx, user)
    found = sessions.resolve_session(ctx, token)
    assert found is not None
    return str(found[0].id)


def _prove_second_factor(ctx: ServiceContext, user: User, session_id: str) -> None:
    """TOTP as the enrolment page does it: set up on the first call, then a current code
    entered for this session."""
    session = ctx.db.get(AuthSession, session_id)
    assert session is not None
    if user.totp_enabled_at is None:
        secret = totp.start_enrolment(ctx, user).secret
        totp.confirm_enrolment(ctx, user, session, code=pyotp.TOTP(secret).at(ctx.now()))
    else:
        secret = totp.enrolment(ctx, user).secret
        totp.verify(ctx, user, session, code=pyotp.TOTP(secret).at(ctx.now()))


def _person(services: Services, label: str, *, role: str | None = None) -> Person:
    email = f"{label}-{uuid.uuid4().hex[:8]}@example.org"

    def create(ctx: ServiceContext) -> Person:
        user = accounts.create_user_as_operator(
            ctx, email=email, name=label.title(), password=PASSWORD, region="eu"
        )
        version = policy.current_version(ctx)
        policy.accept(ctx, user, version_id=version.version, source="signup")
        if role is not None:
            roles.set_role(ctx, actor=None, user=user, role=role, reason="authorisation matrix")
            # TOTP set up (in a throw-away session): the second factor is then asked for.
            token = sessions.create_session(ctx, user)
            found = sessions.resolve_session(ctx, token)
            assert found is not None
            _prove_second_factor(ctx, user, found[0].id)
        _info, key = apikeys.create_api_key(ctx, user, label="m", scopes=["images", "account"])
        return Person(user=user, key=key, email=email)

    return run(services, create)


def _billing(stripe_url: str) -> BillingSettings:
    """Billing on, with credits and rate limits no request of the matrix runs out of."""
    return BillingSettings(
        enabled=True,
        plans={
            "free": PlanSettings(
                label="Free", monthly_credits=1_000_000, rate_limit_per_minute=1_000_000
            )
        },
        stripe_secret_key=STRIPE_KEY,  # type: ignore[arg-type]
        stripe_webhook_secret=WEBHOOK_SECRET,  # type: ignore[arg-type]
        stripe_api_base=stripe_url,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, localstripe: LocalStripe) -> Iterator[World]:
    from clearcutout.crypto import Keyring
    from clearcutout.db import create_db_engine

    data = Path(tmp_path_factory.mktemp("authz")) / "data"
    # Billing on, so that its routes are there to be asked (off, they are 404 for all).
    settings = fast_settings(
        data, default_model="u2netp", executor="none", billing=_billing(localstripe.url)
    )
    migrate(settings)
    engine = create_db_engine(settings.effective_database_url)
    services = Services(settings=settings, engine=engine, keyring=Keyring.from_settings(settings))
    people = {
        "other": _person(services, "other"),
        "owner": _person(services, "owner"),
        "staff": _person(services, "staff", role=roles.SUPPORT),
        "admin": _person(services, "admin", role=roles.ADMIN),
        "unproven": _person(services, "unproven", role=roles.SUPPORT),
    }
    app = create_app(settings)
    try:
        # Stripe's Checkout and portal answered as Stripe documents them (localstripe has
        # neither); customers are real, in localstripe.
        with payments.use_checkout_gateway(CheckoutDouble()):
            world = World(settings, services, app, people, resized_sample(64, 48))
            world.finished_job = world.resource("job_id")
            assert run(services, lambda ctx: jobs.claim(ctx, world.finished_job, lease_owner="m"))
            assert run_job(app.state.runtime, world.finished_job, lease_owner="m") == "done"
            yield world
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
    cookie = channel == "cookie"
    return {
        Rule.PUBLIC: True,
        Rule.SESSION: signed_in and channel == "cookie",
        Rule.OWNED_SESSION: principal == "owner" and channel == "cookie",
        Rule.API: signed_in,
        Rule.OWNED_API: principal == "owner",
        Rule.REMOVEBG: signed_in and channel == "key",
        Rule.STAFF: principal in ("staff", "admin") and cookie,
        Rule.ADMIN: principal == "admin" and cookie,
        Rule.STAFF_SECOND_FACTOR: principal in STAFF_PRINCIPALS and cookie,
        # The matrix sends no signature: nobody gets in, whatever session or key.
        Rule.STRIPE: False,
    }[rule]


def _refused(rule: Rule, status: int, location: str, body: str) -> bool:
    # On a public route 401 is a refused password (``/login``), not a missing sign-in.
    if status in (403, 404) or (status == 401 and rule is not Rule.PUBLIC):
        return True
    if rule is Rule.STRIPE and status == 400 and "invalid_signature" in body:
        return True
    if status not in (302, 303, 307):
        return False
    # A staff page before the second factor sends the browser to set it up or enter it.
    second_factor = rule in (Rule.STAFF, Rule.ADMIN) and location.startswith("/staff/2fa")
    return "/login" in location or second_factor


def _cases() -> list[tuple[str, str, str, str]]:
    cases = []
    for method, path in sorted(RULES):
        for principal in PRINCIPALS:
            # ``unproven`` differs from ``staff`` only in its session: no key case.
            channels = {"anonymous": ("none",), "unproven": ("cookie",)}.get(principal, CHANNELS)
            for channel in channels:
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
        response = client.request(
            method,
            url,
            headers=headers,
            params=world.query(method, path),
            data=world.body(method, path),
            files=world.files(method, path),
        )
    refused = _refused(
        rule, response.status_code, response.headers.get("location", ""), response.text
    )
    expected = _expected(rule, principal, channel)
    assert refused != expected, (
        f"{method} {path} ({rule.value}) by {principal} via {channel}: "
        f"{response.status_code} {response.headers.get('location', '')} {response.text[:200]}"
    )


def test_the_stripe_webhook_takes_a_signed_event_from_anyone(world: World) -> None:
    """The signature is the webhook's authentication: no session or key is needed."""
    payload, signature = signed(event("customer.created", {"id": "cus_matrix"}))
    with TestClient(world.app) as client:
        answer = client.post(
            "/webhooks/stripe",
            content=payload,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )
        forged = client.post(
            "/webhooks/stripe",
            content=payload.replace(b"cus_matrix", b"cus_forged"),
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["received"] is True
    assert forged.status_code == 400 and "invalid_signature" in forged.text


def test_billing_routes_are_absent_while_billing_is_off(world: World) -> None:
    """With billing off (the default) there is no Billing page or webhook, for anyone."""
    off = world.settings.model_copy(update={"billing": BillingSettings()})
    app = create_app(off)
    payload, signature = signed(event("customer.created", {"id": "cus_off"}))
    try:
        with TestClient(app, follow_redirects=False) as client:
            client.cookies.set("session-token", world.session_of("owner"))
            client.get("/login")
            csrf = {"X-CSRF-Token": client.cookies.get("csrf-token") or ""}
            answers = [
                client.get("/account/billing"),
                client.post("/account/billing/checkout", headers=csrf, data={"pack": "small"}),
                client.post("/account/billing/portal", headers=csrf),
                client.post(
                    "/webhooks/stripe", content=payload, headers={"Stripe-Signature": signature}
                ),
            ]
    finally:
        app.state.runtime.close()
    assert [answer.status_code for answer in answers] == [404] * 4


def test_a_stranger_is_refused_before_the_background_upload_is_read(world: World) -> None:
    """Composing on a background asks who is there first: no key, no parsing of the photo
    (the matrix sends a valid upload, so it would not see the order)."""
    with TestClient(world.app) as client:
        job_id = world.resource("job_id")
        client.get("/login")
        csrf = {"X-CSRF-Token": client.cookies.get("csrf-token") or ""}
        empty = client.post(f"/api/v1/jobs/{job_id}/result", headers=csrf)
        junk = client.post(
            f"/api/v1/jobs/{job_id}/result",
            headers=csrf,
            files={"bg_image_file": ("x.jpg", b"no", "image/jpeg")},
        )
    assert empty.status_code == 401, empty.text
    assert junk.status_code == 401, junk.text
