"""Leaving and taking away: account deletion cancels the Stripe subscription (in a real
localstripe) and keeps only invoice ids and amounts; the data export holds the ledger;
and no card number, CVC or expiry ever lands in our database."""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from typing import Any

from sqlalchemy import func, select

from clearcutout.db.models import (
    Base,
    BillingAccount,
    BillingInvoice,
    CreditEntry,
    User,
)
from clearcutout.service.billing import credits
from clearcutout.service.privacy import export
from tests.support.billing import CheckoutDouble, LocalStripe, event, signed
from tests.support.jobs import PASSWORD, Account, JobsApp
from tests.support.service import run
from tests.web.conftest import csrf_from

CARD = "4242424242424242"


def sign_in(app: JobsApp, account: Account) -> str:
    token = csrf_from(app.client.get("/login").text)
    response = app.client.post(
        "/login",
        data={"csrf_token": token, "email": account.email, "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_from(app.client.get("/account").text)


def deliver(app: JobsApp, body: dict[str, Any]) -> dict[str, Any]:
    payload, header = signed(body)
    response = app.client.post(
        "/webhooks/stripe", content=payload, headers={"Stripe-Signature": header}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def subscribed_customer(
    app: JobsApp, account: Account, double: CheckoutDouble, localstripe: LocalStripe
) -> tuple[str, str]:
    """Checkout for Pro, then a real subscription in localstripe, paid with a test card
    typed into "Stripe" (never into us); returns (customer id, subscription id)."""
    token = sign_in(app, account)
    app.client.post("/account/billing/checkout", data={"csrf_token": token, "plan": "pro"})
    customer = double.sessions[-1]["customer"]
    stripe = localstripe.client()
    card = stripe.v1.tokens.create(
        params={"card": {"number": CARD, "exp_month": 12, "exp_year": 2031, "cvc": "123"}}
    )
    stripe.v1.customers.payment_sources.create(customer, params={"source": card.id})
    product = stripe.v1.products.create(params={"name": "Pro"})
    plan = stripe.v1.plans.create(
        params={
            "id": f"plan_{uuid.uuid4().hex[:10]}",
            "amount": 900,
            "currency": "eur",
            "interval": "month",
            "product": product.id,
        }
    )
    subscription = stripe.v1.subscriptions.create(
        params={"customer": customer, "items": [{"plan": plan.id}]}
    )
    created = event(
        "customer.subscription.created",
        {
            "id": subscription.id,
            "object": "subscription",
            "customer": customer,
            "status": "active",
            "items": {"data": [{"price": {"id": "price_pro"}}]},
        },
    )
    assert deliver(app, created)["applied"] is True
    invoices = stripe.v1.invoices.list(params={"customer": customer}).data
    invoice_id = invoices[0].id if invoices else f"in_{uuid.uuid4().hex[:14]}"
    paid = event(
        "invoice.paid",
        {
            "id": invoice_id,
            "object": "invoice",
            "customer": customer,
            "amount_paid": 900,
            "currency": "eur",
            "billing_reason": "subscription_create",
        },
    )
    assert deliver(app, paid)["applied"] is True
    return customer, subscription.id


def test_deletion_cancels_the_subscription_and_keeps_only_invoice_ids_and_amounts(
    billing_app: JobsApp, checkout_double: CheckoutDouble, localstripe: LocalStripe
) -> None:
    app = billing_app
    account = app.account()
    _customer, subscription_id = subscribed_customer(app, account, checkout_double, localstripe)
    user = run(app.services, lambda ctx: ctx.db.get(User, account.user_id))
    assert user is not None and user.plan == "pro"
    run(app.services, lambda ctx: credits.grant(ctx, user.id, 5, kind="purchase", reference="x"))

    page = app.client.get("/account/privacy")
    deleted = app.client.post(
        "/account/privacy/delete",
        data={"csrf_token": csrf_from(page.text), "password": PASSWORD},
    )
    assert deleted.status_code == 200

    assert localstripe.client().v1.subscriptions.retrieve(subscription_id).status == "canceled"

    def left(ctx: Any) -> tuple[int, int, list[tuple[str | None, int, str]]]:
        ledger = ctx.db.scalar(
            select(func.count())
            .select_from(CreditEntry)
            .where(CreditEntry.user_id == account.user_id)
        )
        balances = ctx.db.scalar(select(func.count()).select_from(BillingAccount))
        invoices = [
            (row.user_id, row.amount_paid, row.currency)
            for row in ctx.db.scalars(select(BillingInvoice))
        ]
        return ledger, balances, invoices

    ledger, balances, invoices = run(app.services, left)
    assert (ledger, balances) == (0, 0)
    assert invoices == [(None, 900, "eur")]


def test_the_export_holds_the_ledger(billing_app: JobsApp, checkout_double: CheckoutDouble) -> None:
    app = billing_app
    account = app.account()
    user = run(app.services, lambda ctx: ctx.db.get(User, account.user_id))
    assert user is not None
    run(app.services, lambda ctx: credits.charge(ctx, user, 0.25, reference="job-a"))
    run(app.services, lambda ctx: credits.refund(ctx, user.id, reference="job-a"))
    archive = run(app.services, lambda ctx: export.build_zip(ctx, user))
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        billing = json.loads(opened.read("billing.json"))
    kinds = [(line["kind"], line["credits"]) for line in billing["ledger"]]
    assert kinds == [("grant", 1.0), ("charge", -0.25), ("refund", 0.25)]
    assert billing["subscription_credits"] == 1.0


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


CARD_LIKE = re.compile(r"(?<!\d)\d{13,19}(?!\d)")
CARD_WORDS = re.compile(rb"cvc|cvv|exp_month|exp_year|card_number|4242", re.IGNORECASE)
#: Values we draw at random (row ids, API-key prefixes): any digits may turn up in them
#: (a UUID's hex holds "4242" or a Luhn-valid run now and then), and nothing a person
#: types or Stripe sends is stored there.
RANDOM_TOKEN = re.compile(r"[0-9a-f]{32}|cck_[0-9a-f]{8}")


def test_no_card_number_cvc_or_expiry_reaches_our_database(
    billing_app: JobsApp, checkout_double: CheckoutDouble, localstripe: LocalStripe
) -> None:
    app = billing_app
    account = app.account()
    subscribed_customer(app, account, checkout_double, localstripe)
    # A pack bought too, so that every billing table has rows.
    token = csrf_from(app.client.get("/account").text)
    app.client.post("/account/billing/checkout", data={"csrf_token": token, "pack": "small"})
    session = checkout_double.sessions[-1]
    deliver(app, event("checkout.session.completed", {**session, "amount_total": 900}))

    def scan(ctx: Any) -> tuple[set[str], list[str]]:
        found: list[str] = []
        seen: set[str] = set()
        for table in Base.metadata.sorted_tables:
            for row in ctx.db.execute(table.select()):
                seen.add(table.name)
                for column, value in row._mapping.items():
                    if isinstance(value, str) and RANDOM_TOKEN.fullmatch(value):
                        continue
                    # Sealed columns are ciphertext: only a card-like digit run could
                    # show there by chance (~10^-13); words are looked for in the rest.
                    binary = isinstance(value, bytes)
                    raw = value if binary else str(value).encode()
                    text = raw.decode("latin-1")
                    if (not binary and CARD_WORDS.search(raw)) or any(
                        _luhn(match) for match in CARD_LIKE.findall(text)
                    ):
                        found.append(f"{table.name}.{column}")
        return seen, found

    seen, found = run(app.services, scan)
    billing_tables = {"billing_accounts", "billing_events", "billing_invoices", "credit_ledger"}
    assert billing_tables <= seen  # the scan read every billing table, with rows
    assert found == []
