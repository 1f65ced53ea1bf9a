"""Billing through the web app: running out of credits (API and UI), Stripe Checkout
and signed webhooks (once each, in any order), the Billing page, and no billing at all
when it is off."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from clearcutout.db.models import BillingAccount, BillingEvent, User
from clearcutout.service.billing import credits
from clearcutout.web import create_app
from tests.conftest import fast_settings
from tests.support.billing import CheckoutDouble, LocalStripe, billing_settings, event, signed
from tests.support.database import migrate
from tests.support.jobs import PASSWORD, Account, JobsApp, jobs_app, small_photo
from tests.support.service import run
from tests.web.conftest import csrf_from


def sign_in(client: TestClient, account: Account) -> str:
    """Log the client in; the CSRF token of its session, for forms and API calls."""
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": account.email, "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_from(client.get("/account").text)


def user_of(app: JobsApp, account: Account) -> User:
    found = run(app.services, lambda ctx: ctx.db.get(User, account.user_id))
    assert found is not None
    return found


def deliver(app: JobsApp, body: dict[str, object], secret: str | None = None) -> object:
    payload, header = signed(body) if secret is None else signed(body, secret)
    return app.client.post(
        "/webhooks/stripe",
        content=payload,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


def test_billing_off_means_no_pages_and_no_credit_limit(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path / "data", executor="none", default_model="u2netp")
    migrate(settings)
    assert settings.billing.enabled is False
    with TestClient(create_app(settings)) as client:
        assert client.get("/account/billing").status_code == 404
        assert client.post("/webhooks/stripe", content=b"{}").status_code == 404
        assert "/account/billing" not in client.get("/login").text


def test_a_free_user_runs_out_and_is_refused_through_the_api_and_the_ui(
    billing_app: JobsApp,
) -> None:
    app = billing_app
    account = app.account()
    photo = small_photo()
    # The Free plan's one credit pays one full-size job; the job API reports the window.
    first = app.client.post(
        "/api/v1/jobs", headers=account.headers, files={"image_file": ("a.jpg", photo)}
    )
    assert first.status_code == 202, first.text
    assert int(first.headers["X-RateLimit-Limit"]) == 50
    assert int(first.headers["X-RateLimit-Remaining"]) == 49
    refused = app.client.post(
        "/api/v1/jobs", headers=account.headers, files={"image_file": ("b.jpg", photo)}
    )
    assert refused.status_code == 402
    assert refused.json()["errors"][0]["code"] == "insufficient_credits"
    # The page's upload (session cookie + CSRF header) gets the message it shows.
    token = sign_in(app.client, account)
    from_ui = app.client.post(
        "/api/v1/jobs",
        headers={"X-CSRF-Token": token},
        files={"image_file": ("c.jpg", photo)},
    )
    assert from_ui.status_code == 402
    detail = from_ui.json()["errors"][0]["detail"]
    assert "out of credits" in detail and "Billing page" in detail
    app.client.cookies.set("lang", "de")  # the page's language, as the person chose it
    in_german = app.client.post(
        "/api/v1/jobs", headers={"X-CSRF-Token": token}, files={"image_file": ("d.jpg", photo)}
    )
    assert in_german.json()["errors"][0]["detail"].startswith("Deine Credits reichen nicht")
    app.client.cookies.delete("lang")
    page = app.client.get("/account/billing")
    assert page.status_code == 200
    assert 'id="billing-credits">0<' in page.text
    assert 'id="billing-plan">Free<' in page.text
    account_page = app.client.get("/account").text
    assert 'id="account-credits">0<' in account_page
    assert 'href="/account/billing"' in account_page
    # remove.bg's account endpoint agrees.
    balance = app.client.get("/v1.0/account", headers=account.headers).json()
    assert balance["data"]["attributes"]["credits"] == {
        "total": 0.0,
        "subscription": 0.0,
        "payg": 0.0,
        "enterprise": 0.0,
    }


def test_checkout_completed_twice_upgrades_once_and_a_bad_signature_is_refused(
    billing_app: JobsApp, checkout_double: CheckoutDouble, localstripe: LocalStripe
) -> None:
    app = billing_app
    account = app.account()
    token = sign_in(app.client, account)
    went = app.client.post(
        "/account/billing/checkout",
        data={"csrf_token": token, "plan": "pro"},
        follow_redirects=False,
    )
    assert went.status_code == 303
    session = checkout_double.sessions[-1]
    assert went.headers["location"] == session["url"]
    assert session["mode"] == "subscription"
    assert session["line_items"] == [{"price": "price_pro", "quantity": 1}]
    # The customer is real, in localstripe, and names only our user id.
    customer = localstripe.client().v1.customers.retrieve(session["customer"])
    assert customer.metadata["user_id"] == account.user_id
    stored = run(app.services, lambda ctx: ctx.db.get(BillingAccount, account.user_id))
    assert stored is not None and stored.stripe_customer_id == customer.id

    completed = event(
        "checkout.session.completed",
        {**session, "status": "complete", "payment_status": "paid", "subscription": "sub_1"},
    )
    forged = deliver(app, completed, secret="whsec_someone_else")
    assert forged.status_code == 400  # type: ignore[attr-defined]
    assert forged.json()["errors"][0]["code"] == "invalid_signature"  # type: ignore[attr-defined]
    assert user_of(app, account).plan == "free"

    first = deliver(app, completed)
    again = deliver(app, completed)  # Stripe retries; a duplicate changes nothing
    assert first.json() == {"received": True, "applied": True}  # type: ignore[attr-defined]
    assert again.json() == {"received": True, "applied": False}  # type: ignore[attr-defined]
    assert user_of(app, account).plan == "pro"
    left = run(app.services, lambda ctx: credits.balance(ctx, user_of(app, account)))
    assert left.subscription == 100
    grants = [
        line
        for line in run(app.services, lambda ctx: credits.ledger(ctx, account.user_id))
        if line.kind == "grant" and line.reference == completed["id"]
    ]
    assert len(grants) == 1
    events = run(app.services, lambda ctx: list(ctx.db.scalars(select(BillingEvent.id))))
    assert events.count(completed["id"]) == 1
    # The plan change is mailed (billing category: no unsubscribe link).
    outbox = app.settings.data_dir / "outbox"
    mails = [path.read_text() for path in outbox.glob("*")]
    changed = [text for text in mails if "Your ClearCutout plan has changed" in text]
    assert len(changed) == 1
    assert "List-Unsubscribe" not in changed[0]


def test_subscription_events_out_of_order_keep_the_newest_state(
    billing_app: JobsApp, checkout_double: CheckoutDouble
) -> None:
    app = billing_app
    account = app.account()
    token = sign_in(app.client, account)
    app.client.post("/account/billing/checkout", data={"csrf_token": token, "plan": "pro"})
    session = checkout_double.sessions[-1]
    customer = session["customer"]
    subscription = {
        "id": "sub_ooo",
        "object": "subscription",
        "customer": customer,
        "status": "active",
        "items": {"object": "list", "data": [{"price": {"id": "price_pro"}}]},
        "metadata": {},
    }
    created = event("customer.subscription.created", subscription, created=1_000)
    deleted = event(
        "customer.subscription.deleted", {**subscription, "status": "canceled"}, created=3_000
    )
    late_update = event("customer.subscription.updated", subscription, created=2_000)
    assert deliver(app, created).json()["applied"] is True  # type: ignore[attr-defined]
    assert user_of(app, account).plan == "pro"
    assert deliver(app, deleted).json()["applied"] is True  # type: ignore[attr-defined]
    assert user_of(app, account).plan == "free"
    # An older update arriving last does not bring the cancelled plan back.
    deliver(app, late_update)
    assert user_of(app, account).plan == "free"
    stored = run(app.services, lambda ctx: ctx.db.get(BillingAccount, account.user_id))
    assert stored is not None
    assert stored.stripe_subscription_id is None and stored.subscription_status == "canceled"


def test_a_credit_pack_adds_purchased_credits_and_mails_a_receipt_in_german(
    billing_app: JobsApp, checkout_double: CheckoutDouble
) -> None:
    app = billing_app
    account = app.account()

    def german(ctx: object) -> None:
        user = ctx.db.get(User, account.user_id)  # type: ignore[attr-defined]
        user.lang = "de"

    run(app.services, german)
    token = sign_in(app.client, account)
    portal = app.client.post(
        "/account/billing/portal", data={"csrf_token": token}, follow_redirects=False
    )
    assert portal.headers["location"] == checkout_double.portals[-1]["url"]
    app.client.post("/account/billing/checkout", data={"csrf_token": token, "pack": "small"})
    session = checkout_double.sessions[-1]
    assert session["mode"] == "payment"
    paid = event(
        "checkout.session.completed",
        {**session, "status": "complete", "amount_total": 900, "currency": "eur"},
    )
    assert deliver(app, paid).json()["applied"] is True  # type: ignore[attr-defined]
    left = run(app.services, lambda ctx: credits.balance(ctx, user_of(app, account)))
    assert left.payg == 100
    outbox = app.settings.data_dir / "outbox"
    receipts = [p.read_text() for p in outbox.glob("*") if "Quittung" in p.read_text()]
    assert len(receipts) == 1
    assert "9.00 EUR" in receipts[0]


def test_twenty_simultaneous_uploads_with_five_credits_left_charge_exactly_five(
    billing_app: JobsApp,
) -> None:
    app = billing_app
    account = app.account()
    run(
        app.services,
        lambda ctx: credits.grant(ctx, account.user_id, 4, kind="purchase", reference="seed"),
    )
    photo = small_photo()
    start = threading.Barrier(20)

    def upload(_index: int) -> int:
        start.wait()
        response = app.client.post(
            "/api/v1/jobs", headers=account.headers, files={"image_file": ("p.jpg", photo)}
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = sorted(pool.map(upload, range(20)))
    assert statuses == [202] * 5 + [402] * 15
    left = run(app.services, lambda ctx: credits.balance(ctx, user_of(app, account)))
    assert left.total == 0
    charges = [
        line
        for line in run(app.services, lambda ctx: credits.ledger(ctx, account.user_id))
        if line.kind == "charge"
    ]
    assert sum(line.credits for line in charges) == -5


def test_the_ui_and_both_apis_share_the_plans_window(
    tmp_path: Path, localstripe: LocalStripe
) -> None:
    settings = billing_settings(tmp_path / "data", localstripe.url)
    plans = dict(settings.billing.plans)
    plans["free"] = plans["free"].model_copy(update={"rate_limit_per_minute": 2})
    billing = settings.billing.model_copy(update={"plans": plans})
    for app in jobs_app(settings.model_copy(update={"billing": billing})):
        account = app.account()
        photo = small_photo()
        job = app.client.post(
            "/api/v1/jobs", headers=account.headers, files={"image_file": ("p.jpg", photo)}
        )
        assert job.headers["X-RateLimit-Remaining"] == "1"
        # remove.bg's API takes the last slot (the missing image is reported after).
        removebg = app.client.post("/v1.0/removebg", headers=account.headers)
        assert removebg.status_code == 400
        assert removebg.headers["X-RateLimit-Limit"] == "2"
        assert removebg.headers["X-RateLimit-Remaining"] == "0"
        token = sign_in(app.client, account)
        from_ui = app.client.post(
            "/api/v1/jobs", headers={"X-CSRF-Token": token}, files={"image_file": ("q.jpg", photo)}
        )
        assert from_ui.status_code == 429
        assert from_ui.headers["X-RateLimit-Remaining"] == "0"
        assert int(from_ui.headers["Retry-After"]) >= 1


def test_a_job_that_fails_for_good_is_refunded(billing_app: JobsApp) -> None:
    from clearcutout.errors import UnsupportedImageError
    from clearcutout.service import jobs

    app = billing_app
    account = app.account()
    created = app.submit(account, small_photo())
    user = user_of(app, account)
    assert run(app.services, lambda ctx: credits.balance(ctx, user)).total == 0
    assert run(app.services, lambda ctx: jobs.claim(ctx, created["id"], lease_owner="w1"))
    failed = run(
        app.services,
        lambda ctx: jobs.fail(
            ctx,
            jobs.HeldRun(created["id"], "w1", region="eu", model="u2netp", seconds=0.1),
            UnsupportedImageError("bad"),
        ),
    )
    assert failed
    assert run(app.services, lambda ctx: credits.balance(ctx, user)).total == 1
    kinds = [line.kind for line in run(app.services, lambda ctx: credits.ledger(ctx, user.id))]
    assert sorted(kinds) == ["charge", "grant", "refund"]


def test_a_paid_renewal_invoice_renews_the_plan_credits_and_is_kept(
    billing_app: JobsApp, checkout_double: CheckoutDouble
) -> None:
    from clearcutout.db.models import BillingInvoice

    app = billing_app
    account = app.account()
    token = sign_in(app.client, account)
    app.client.post("/account/billing/checkout", data={"csrf_token": token, "plan": "pro"})
    session = checkout_double.sessions[-1]
    deliver(app, event("checkout.session.completed", {**session, "subscription": "sub_r"}))
    user = user_of(app, account)
    run(app.services, lambda ctx: credits.charge(ctx, user, 1.0, reference="used"))
    assert run(app.services, lambda ctx: credits.balance(ctx, user)).subscription == 99
    invoice = {
        "id": "in_renewal_1",
        "object": "invoice",
        "customer": session["customer"],
        "subscription": "sub_r",
        "amount_paid": 1900,
        "currency": "eur",
        "billing_reason": "subscription_cycle",
    }
    renewal = event("invoice.paid", invoice)
    assert deliver(app, renewal).json()["applied"] is True  # type: ignore[attr-defined]
    assert deliver(app, renewal).json()["applied"] is False  # type: ignore[attr-defined]
    assert run(app.services, lambda ctx: credits.balance(ctx, user)).subscription == 100
    kept = run(app.services, lambda ctx: ctx.db.get(BillingInvoice, "in_renewal_1"))
    assert kept is not None and (kept.amount_paid, kept.currency) == (1900, "eur")
    receipts = [
        p.read_text()
        for p in (app.settings.data_dir / "outbox").glob("*")
        if "Your ClearCutout receipt" in p.read_text()
    ]
    assert len(receipts) == 1 and "19.00 EUR" in receipts[0]


def test_the_return_from_checkout_says_its_notice_once(billing_app: JobsApp) -> None:
    account = billing_app.account()
    sign_in(billing_app.client, account)
    page = billing_app.client.get("/account/billing", params={"done": "cancelled"})
    assert page.status_code == 200
    assert page.text.count("The checkout was cancelled; nothing was charged.") == 1
