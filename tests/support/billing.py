"""Fixtures for billing: a real ``localstripe`` server (customers, products, plans,
subscriptions, invoices), a Checkout/portal double answering with Stripe's documented
shapes (localstripe has no Checkout Sessions or Prices), signed webhook payloads, and an
app with billing on."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import stripe

from clearcutout.config import BillingSettings, CreditPackSettings, PlanSettings, Settings
from clearcutout.service.billing import payments
from tests.conftest import free_port, missing_service
from tests.support.jobs import JobsApp, job_settings, jobs_app

WEBHOOK_SECRET = "whsec_test_" + "c" * 32
STRIPE_KEY = "sk_test_clearcutout"


@dataclass(frozen=True)
class LocalStripe:
    """A running localstripe (``localstripe==1.15.10``) and a client for it."""

    url: str

    def client(self) -> stripe.StripeClient:
        return stripe.StripeClient(STRIPE_KEY, base_addresses={"api": self.url})


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    """localstripe on a free loopback port, for the whole run."""
    executable = Path(sys.executable).parent / "localstripe"
    if not executable.exists():
        missing_service("localstripe is not installed (pip install localstripe==1.15.10)")
    port = free_port()
    process = subprocess.Popen(
        [str(executable), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    missing_service("localstripe did not start")
                time.sleep(0.1)
        yield LocalStripe(url=f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class CheckoutDouble:
    """Answers Checkout Session and billing-portal Session creation as Stripe documents
    them (https://docs.stripe.com/api/checkout/sessions/object,
    https://docs.stripe.com/api/customer_portal/sessions/object); keeps what it made."""

    sessions: list[dict[str, Any]] = field(default_factory=list)
    portals: list[dict[str, Any]] = field(default_factory=list)

    def create_checkout_session(self, params: dict[str, Any]) -> dict[str, Any]:
        session_id = f"cs_test_{uuid.uuid4().hex}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params["mode"],
            "customer": params.get("customer"),
            "client_reference_id": params.get("client_reference_id"),
            "metadata": dict(params.get("metadata") or {}),
            "success_url": params["success_url"],
            "cancel_url": params["cancel_url"],
            "status": "open",
            "payment_status": "unpaid",
            "subscription": None,
            "amount_total": None,
            "currency": "eur",
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "line_items": params["line_items"],
        }
        self.sessions.append(session)
        return session

    def create_portal_session(self, params: dict[str, Any]) -> dict[str, Any]:
        portal_id = f"bps_{uuid.uuid4().hex[:24]}"
        portal = {
            "id": portal_id,
            "object": "billing_portal.session",
            "customer": params["customer"],
            "return_url": params.get("return_url"),
            "url": f"https://billing.stripe.com/p/session/test_{portal_id}",
        }
        self.portals.append(portal)
        return portal


@pytest.fixture
def checkout_double() -> Iterator[CheckoutDouble]:
    with payments.use_checkout_gateway(CheckoutDouble()) as double:
        assert isinstance(double, CheckoutDouble)
        yield double


def signed(event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> tuple[bytes, str]:
    """The payload and its ``Stripe-Signature`` header, made as Stripe documents it
    (HMAC-SHA256 of ``"{t}.{payload}"``)."""
    payload = json.dumps(event).encode()
    timestamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return payload, f"t={timestamp},v1={mac.hexdigest()}"


def event(kind: str, obj: dict[str, Any], *, created: int | None = None) -> dict[str, Any]:
    """A Stripe event envelope (https://docs.stripe.com/api/events/object)."""
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": kind,
        "created": created if created is not None else int(time.time()),
        "livemode": False,
        "data": {"object": obj},
    }


def billing_settings(data_dir: Path, stripe_url: str, **overrides: Any) -> Settings:
    """Billing on: Free (1 credit a month), Pro (100, Stripe price ``price_pro``), a pack."""
    billing = BillingSettings(
        enabled=True,
        plans={
            "free": PlanSettings(label="Free", monthly_credits=1, rate_limit_per_minute=50),
            "pro": PlanSettings(
                label="Pro",
                monthly_credits=100,
                rate_limit_per_minute=200,
                stripe_price_id="price_pro",
            ),
        },
        credit_packs={
            "small": CreditPackSettings(label="100 credits", credits=100, stripe_price_id="price_p")
        },
        stripe_secret_key=STRIPE_KEY,  # type: ignore[arg-type]
        stripe_webhook_secret=WEBHOOK_SECRET,  # type: ignore[arg-type]
        stripe_api_base=stripe_url,
    )
    values: dict[str, Any] = {"billing": billing, "executor": "none"}
    values.update(overrides)
    return job_settings(data_dir, **values)


@pytest.fixture
def billing_app(tmp_path: Path, localstripe: LocalStripe, database_url: str) -> Iterator[JobsApp]:
    """The app with billing on, on SQLite and then on the real PostgreSQL."""
    settings = billing_settings(tmp_path / "data", localstripe.url, database_url=database_url)
    yield from jobs_app(settings)
