"""Receipts and plan changes, in the person's language.

Billing category (``service.privacy.emailprefs.BILLING``): service messages the person
cannot unsubscribe from (privacy policy, "Communications"), so they carry no
unsubscribe link.
"""

from __future__ import annotations

from clearcutout.db.models import User
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra.userkeys import email_to_user

__all__ = ["queue_plan_changed", "queue_receipt"]


def _amount(cents: int, currency: str) -> str:
    return f"{cents / 100:.2f} {currency.upper()}"


def queue_receipt(
    ctx: ServiceContext, user: User, *, what: str, amount_cents: int, currency: str
) -> None:
    """A receipt for a payment (a subscription invoice or a credit pack)."""
    ctx.outbox.add(
        email_to_user(
            ctx,
            user,
            kind="billing_receipt",
            subject="Your ClearCutout receipt",
            paragraphs=[
                "Thank you for your payment of %(amount)s for %(what)s.",
                "Your invoices are available in the billing portal, reached from the "
                "Billing page of your account.",
            ],
            action_url=f"{ctx.settings.base_url}/account/billing",
            action_label="Open the Billing page",
            params={"amount": _amount(amount_cents, currency), "what": what},
        )
    )


def queue_plan_changed(ctx: ServiceContext, user: User, *, plan_label: str) -> None:
    """The person's plan changed (bought, changed in the portal, or ended)."""
    ctx.outbox.add(
        email_to_user(
            ctx,
            user,
            kind="billing_plan_changed",
            subject="Your ClearCutout plan has changed",
            paragraphs=[
                "Your plan is now %(plan)s.",
                "Your credits and limits are shown on the Billing page of your account.",
            ],
            action_url=f"{ctx.settings.base_url}/account/billing",
            action_label="Open the Billing page",
            params={"plan": plan_label},
        )
    )
