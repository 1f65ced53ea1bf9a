"""Billing as the person sees it (the Billing page), takes it away (the data export)
and leaves it (account deletion)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update

from clearcutout.db.models import BillingAccount, BillingInvoice, CreditEntry, User
from clearcutout.service.billing import credits, payments, plans
from clearcutout.service.context import ServiceContext

__all__ = ["BillingView", "export_rows", "forget_account", "view"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BillingView:
    """The Billing page: plan, balance, recent ledger entries, what can be bought."""

    plan: plans.Plan
    balance: credits.Balance
    ledger: list[credits.LedgerLine]
    plans: list[plans.Plan]
    packs: dict[str, Any]
    subscribed: bool


def view(ctx: ServiceContext, user: User) -> BillingView:
    left = credits.balance(ctx, user)
    account = credits.locked_account(ctx, user.id)
    return BillingView(
        plan=plans.plan(ctx.settings, user.plan),
        balance=left,
        ledger=credits.ledger(ctx, user.id, limit=50),
        plans=plans.plans(ctx.settings),
        packs=dict(ctx.settings.billing.credit_packs),
        subscribed=account.stripe_subscription_id is not None,
    )


def export_rows(ctx: ServiceContext, user_id: str) -> dict[str, Any]:
    """The person's billing data for "Download my data": balances, Stripe ids, the whole
    ledger (oldest first) and their invoices (ids and amounts)."""
    account = ctx.db.get(BillingAccount, user_id)
    ledger = list(reversed(credits.ledger(ctx, user_id)))
    invoices = ctx.db.scalars(
        select(BillingInvoice)
        .where(BillingInvoice.user_id == user_id)
        .order_by(BillingInvoice.created_at)
    )
    return {
        "subscription_credits": (account.subscription_units / 100) if account else 0.0,
        "payg_credits": (account.payg_units / 100) if account else 0.0,
        "stripe_customer_id": account.stripe_customer_id if account else None,
        "stripe_subscription_id": account.stripe_subscription_id if account else None,
        "ledger": [
            {
                "created_at": line.created_at.isoformat(),
                "kind": line.kind,
                "bucket": line.bucket,
                "credits": line.credits,
                "reference": line.reference,
            }
            for line in ledger
        ],
        "invoices": [
            {
                "id": invoice.id,
                "amount_paid": invoice.amount_paid,
                "currency": invoice.currency,
                "created_at": invoice.created_at.isoformat(),
            }
            for invoice in invoices
        ],
    }


def forget_account(ctx: ServiceContext, user_id: str) -> None:
    """Account deletion: cancel the Stripe subscription now, delete the balances and the
    ledger, and keep only what tax law requires — each paid invoice's Stripe id, amount
    and currency, no longer linked to anyone (README, "Billing")."""
    account = ctx.db.get(BillingAccount, user_id)
    if account is not None and account.stripe_subscription_id:
        payments.cancel_subscription(ctx, account.stripe_subscription_id)
        log.info("billing.subscription_cancelled reason=account_deleted")
    ctx.db.execute(
        update(BillingInvoice).where(BillingInvoice.user_id == user_id).values(user_id=None)
    )
    ctx.db.execute(delete(CreditEntry).where(CreditEntry.user_id == user_id))
    ctx.db.execute(delete(BillingAccount).where(BillingAccount.user_id == user_id))
