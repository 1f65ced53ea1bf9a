"""Stripe webhook events: verified, applied once each, in whatever order they arrive.

* **Signatures**: the ``Stripe-Signature`` header is checked by the library's own code
  (``stripe.Webhook.construct_event``) against ``billing.stripe_webhook_secret``;
  anything else is refused before it is read.
* **Once**: the event id is inserted into ``billing_events`` in the same transaction as
  its effects (``ON CONFLICT DO NOTHING``): a retry, or a second delivery racing the
  first, finds the id and changes nothing.
* **Order**: Stripe does not promise it. Subscription state is applied only from an
  event newer (Stripe's ``created``) than the last one applied; credits granted by a
  checkout or an invoice are keyed to their event, so any order grants them once.
* **Who**: every object names the Stripe customer we created for the person
  (``billing_accounts.stripe_customer_id``); Checkout also carries our user id.
"""

from __future__ import annotations

import json
import logging
from typing import Any, cast

import stripe
from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite

from clearcutout.db.models import BillingAccount, BillingEvent, BillingInvoice, User
from clearcutout.errors import ConfigurationError, WebhookSignatureError
from clearcutout.service.billing import credits, emails, plans
from clearcutout.service.context import ServiceContext

__all__ = ["handle", "verify"]

log = logging.getLogger(__name__)

#: Subscription states in which the plan is the subscribed one; any other ends it.
_LIVE = frozenset({"active", "trialing", "past_due"})


def verify(ctx: ServiceContext, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event, if ``signature`` is Stripe's for ``payload`` under our secret."""
    secret = ctx.settings.billing.stripe_webhook_secret
    if secret is None:
        raise ConfigurationError("billing.stripe_webhook_secret is not set.")
    try:
        stripe.Webhook.construct_event(payload, signature or "", secret.get_secret_value())
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise WebhookSignatureError("The webhook signature does not verify.") from exc
    event: dict[str, Any] = json.loads(payload)
    return event


def _first_time(ctx: ServiceContext, event: dict[str, Any]) -> bool:
    table = cast(Table, BillingEvent.__table__)
    dialect = ctx.db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(table)
        .values(id=str(event["id"]), type=str(event.get("type", ""))[:64], received_at=ctx.now())
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(table.c.id)
    )
    return ctx.db.execute(statement).scalar() is not None


def _user_for(ctx: ServiceContext, obj: dict[str, Any]) -> User | None:
    user_id = obj.get("client_reference_id") or (obj.get("metadata") or {}).get("user_id")
    if user_id:
        user = ctx.db.get(User, str(user_id))
        if user is not None:
            return user
    customer = obj.get("customer")
    if customer:
        account = ctx.db.scalar(
            select(BillingAccount).where(BillingAccount.stripe_customer_id == str(customer))
        )
        if account is not None:
            return ctx.db.get(User, account.user_id)
    return None


def handle(ctx: ServiceContext, event: dict[str, Any]) -> bool:
    """Apply a verified event (in the caller's transaction). False if it was handled
    before or names no account of ours; unknown types are recorded and ignored."""
    if not _first_time(ctx, event):
        log.info("billing.webhook_duplicate type=%s", event.get("type"))
        return False
    kind = str(event.get("type", ""))
    obj: dict[str, Any] = event.get("data", {}).get("object", {})
    user = _user_for(ctx, obj)
    if user is None:
        log.warning("billing.webhook_no_account type=%s", kind)
        return False
    if kind == "checkout.session.completed":
        _checkout_completed(ctx, user, event, obj)
    elif kind in {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    }:
        _subscription_changed(ctx, user, event, obj, deleted=kind.endswith("deleted"))
    elif kind in {"invoice.paid", "invoice.payment_succeeded"}:
        _invoice_paid(ctx, user, event, obj)
    else:
        return False
    log.info("billing.webhook_applied type=%s", kind)
    return True


def _newer(account: BillingAccount, event: dict[str, Any]) -> bool:
    """Whether ``event`` is newer than the last subscription event applied (and note it)."""
    created = int(event.get("created") or 0)
    if account.stripe_event_at is not None and created < account.stripe_event_at:
        return False
    account.stripe_event_at = created
    return True


def _set_plan(ctx: ServiceContext, user: User, plan_name: str) -> None:
    if user.plan == plan_name:
        return
    user.plan = plan_name
    emails.queue_plan_changed(ctx, user, plan_label=plans.plan(ctx.settings, plan_name).label)


def _checkout_completed(
    ctx: ServiceContext, user: User, event: dict[str, Any], session: dict[str, Any]
) -> None:
    account = credits.locked_account(ctx, user.id)
    if session.get("customer") and not account.stripe_customer_id:
        account.stripe_customer_id = str(session["customer"])
    metadata = session.get("metadata") or {}
    if session.get("mode") == "payment":
        pack = ctx.settings.billing.credit_packs.get(str(metadata.get("pack", "")))
        if pack is None:
            log.warning("billing.unknown_pack")
            return
        credits.grant(ctx, user.id, pack.credits, kind="purchase", reference=str(event["id"]))
        if session.get("amount_total") is not None:
            emails.queue_receipt(
                ctx,
                user,
                what=pack.label,
                amount_cents=int(session["amount_total"]),
                currency=str(session.get("currency") or ""),
            )
        return
    plan_name = str(metadata.get("plan", ""))
    if plan_name not in ctx.settings.billing.plans:
        log.warning("billing.unknown_plan")
        return
    plan = plans.plan(ctx.settings, plan_name)
    if _newer(account, event):
        account.stripe_subscription_id = session.get("subscription") or None
        account.subscription_status = "active"
        account.period_start = ctx.now()
        _set_plan(ctx, user, plan_name)
    # The first period's credits, once (the event is applied once).
    credits.reset_subscription(ctx, account, plan.monthly_units, reference=str(event["id"]))


def _subscription_plan(ctx: ServiceContext, subscription: dict[str, Any]) -> str | None:
    items = (subscription.get("items") or {}).get("data") or []
    for item in items:
        price = (item.get("price") or {}).get("id") or (item.get("plan") or {}).get("id")
        found = plans.plan_for_price(ctx.settings, price)
        if found is not None:
            return found.name
    named = (subscription.get("metadata") or {}).get("plan")
    return str(named) if named in ctx.settings.billing.plans else None


def _subscription_changed(
    ctx: ServiceContext,
    user: User,
    event: dict[str, Any],
    subscription: dict[str, Any],
    *,
    deleted: bool,
) -> None:
    account = credits.locked_account(ctx, user.id)
    if not _newer(account, event):
        log.info("billing.webhook_stale type=%s", event.get("type"))
        return
    status = "canceled" if deleted else str(subscription.get("status") or "")
    account.subscription_status = status
    if status in _LIVE:
        account.stripe_subscription_id = str(subscription.get("id") or "") or None
        plan_name = _subscription_plan(ctx, subscription)
        if plan_name is not None:
            _set_plan(ctx, user, plan_name)
    else:
        # Ended: back to the default plan, renewed by the calendar month from now on.
        account.stripe_subscription_id = None
        _set_plan(ctx, user, ctx.settings.billing.default_plan)
    ctx.db.flush()


def _invoice_paid(
    ctx: ServiceContext, user: User, event: dict[str, Any], invoice: dict[str, Any]
) -> None:
    invoice_id = str(invoice.get("id") or "")
    if not invoice_id or ctx.db.get(BillingInvoice, invoice_id) is not None:
        return
    amount = int(invoice.get("amount_paid") or 0)
    currency = str(invoice.get("currency") or "")[:8]
    ctx.db.add(
        BillingInvoice(
            id=invoice_id,
            user_id=user.id,
            amount_paid=amount,
            currency=currency,
            created_at=ctx.now(),
        )
    )
    if invoice.get("billing_reason") == "subscription_cycle":
        # A renewal: the period's credits replace what is left of the last period's.
        account = credits.locked_account(ctx, user.id)
        account.period_start = ctx.now()
        plan = plans.plan(ctx.settings, user.plan)
        credits.reset_subscription(ctx, account, plan.monthly_units, reference=str(event["id"]))
    if amount:
        label = plans.plan(ctx.settings, user.plan).label
        emails.queue_receipt(ctx, user, what=label, amount_cents=amount, currency=currency)
    ctx.db.flush()
