"""The one adapter to Stripe, through Stripe's official ``stripe`` library.

Customers, subscriptions and invoices go through :func:`client` (a
``stripe.StripeClient``; ``billing.stripe_api_base`` points it at a Stripe-compatible
test server). Checkout Sessions and customer-portal sessions go through a
:class:`CheckoutGateway`: :class:`StripeCheckout` in production; tests install one that
answers with Stripe's documented response shapes (:func:`use_checkout_gateway`), as no
local Stripe server implements these two APIs.

What we send Stripe: our user id (as metadata and ``client_reference_id``) and the price.
What we keep: the customer and subscription ids. Card numbers are typed into Stripe's
own pages and never pass through us (privacy policy, "Payments").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

import stripe

from clearcutout.config import Settings
from clearcutout.db.models import User
from clearcutout.errors import NotFoundError, PaymentProviderError, ValidationError
from clearcutout.service.billing import credits, plans
from clearcutout.service.context import ServiceContext

__all__ = [
    "CheckoutGateway",
    "StripeCheckout",
    "cancel_subscription",
    "checkout_gateway",
    "client",
    "ensure_customer",
    "portal_url",
    "start_checkout",
    "use_checkout_gateway",
]

log = logging.getLogger(__name__)


def client(settings: Settings) -> stripe.StripeClient:
    """A Stripe client with the configured secret key (and test API base, if any)."""
    key = settings.billing.stripe_secret_key
    if key is None:
        raise PaymentProviderError("Payments are not configured (billing.stripe_secret_key).")
    base = settings.billing.stripe_api_base
    return stripe.StripeClient(
        key.get_secret_value(),
        base_addresses={"api": base} if base else {},
        max_network_retries=2,
    )


class CheckoutGateway(Protocol):
    """Stripe's Checkout Session and billing-portal Session APIs (``create`` each)."""

    def create_checkout_session(self, params: dict[str, Any]) -> Mapping[str, Any]: ...

    def create_portal_session(self, params: dict[str, Any]) -> Mapping[str, Any]: ...


class StripeCheckout:
    """The production gateway: the library's ``checkout.sessions`` and
    ``billing_portal.sessions`` services."""

    def __init__(self, stripe_client: stripe.StripeClient) -> None:
        self._client = stripe_client

    def create_checkout_session(self, params: dict[str, Any]) -> Mapping[str, Any]:
        session = self._client.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]
        return {"id": session.id, "url": session.url}

    def create_portal_session(self, params: dict[str, Any]) -> Mapping[str, Any]:
        portal = self._client.v1.billing_portal.sessions.create(params=params)  # type: ignore[arg-type]
        return {"id": portal.id, "url": portal.url}


_installed: list[CheckoutGateway] = []


def checkout_gateway(settings: Settings) -> CheckoutGateway:
    """The gateway tests installed, else Stripe's own."""
    return _installed[-1] if _installed else StripeCheckout(client(settings))


@contextmanager
def use_checkout_gateway(gateway: CheckoutGateway) -> Iterator[CheckoutGateway]:
    """Answer Checkout and portal calls with ``gateway`` (tests: a double that answers
    with Stripe's documented shapes) while the block runs."""
    _installed.append(gateway)
    try:
        yield gateway
    finally:
        _installed.remove(gateway)


def _calling(what: str) -> PaymentProviderError:
    return PaymentProviderError(f"The payment provider could not {what}. Please try again.")


def ensure_customer(ctx: ServiceContext, user: User) -> str:
    """The person's Stripe customer id, created on first use (metadata: our user id
    only; Stripe's Checkout asks for the rest itself)."""
    account = credits.locked_account(ctx, user.id)
    if account.stripe_customer_id:
        return account.stripe_customer_id
    try:
        customer = client(ctx.settings).v1.customers.create(
            params={"metadata": {"user_id": user.id}}
        )
    except stripe.StripeError as exc:
        raise _calling("create your customer record") from exc
    account.stripe_customer_id = customer.id
    ctx.db.flush()
    return customer.id


def start_checkout(
    ctx: ServiceContext,
    user: User,
    *,
    plan: str | None = None,
    pack: str | None = None,
    success_url: str,
    cancel_url: str,
) -> str:
    """A Stripe Checkout page for a subscription to ``plan`` or one credit ``pack``;
    returns its URL."""
    if not plans.enabled(ctx.settings):
        raise NotFoundError("Billing is not enabled on this server.")
    metadata = {"user_id": user.id}
    if plan is not None:
        settings = ctx.settings.billing.plans.get(plan)
        if settings is None or settings.stripe_price_id is None:
            raise ValidationError("This plan cannot be bought.", field="plan")
        price, mode = settings.stripe_price_id, "subscription"
        metadata["plan"] = plan
    else:
        bought = ctx.settings.billing.credit_packs.get(pack or "")
        if bought is None:
            raise ValidationError("This credit pack cannot be bought.", field="pack")
        price, mode = bought.stripe_price_id, "payment"
        metadata["pack"] = pack or ""
    params: dict[str, Any] = {
        "mode": mode,
        "customer": ensure_customer(ctx, user),
        "client_reference_id": user.id,
        "line_items": [{"price": price, "quantity": 1}],
        "metadata": metadata,
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if mode == "subscription":
        params["subscription_data"] = {"metadata": metadata}
    try:
        session = checkout_gateway(ctx.settings).create_checkout_session(params)
    except stripe.StripeError as exc:
        raise _calling("start the checkout") from exc
    return str(session["url"])


def portal_url(ctx: ServiceContext, user: User, *, return_url: str) -> str:
    """Stripe's customer portal (cards, invoices, cancelling) for the person."""
    if not plans.enabled(ctx.settings):
        raise NotFoundError("Billing is not enabled on this server.")
    params = {"customer": ensure_customer(ctx, user), "return_url": return_url}
    try:
        session = checkout_gateway(ctx.settings).create_portal_session(params)
    except stripe.StripeError as exc:
        raise _calling("open the billing portal") from exc
    return str(session["url"])


def cancel_subscription(ctx: ServiceContext, subscription_id: str) -> None:
    """Cancel a subscription now (account deletion); one already gone is fine."""
    try:
        client(ctx.settings).v1.subscriptions.cancel(subscription_id)
    except stripe.InvalidRequestError as exc:
        if exc.http_status != 404:
            raise _calling("cancel your subscription") from exc
        log.info("billing.subscription_already_gone")
    except stripe.StripeError as exc:
        raise _calling("cancel your subscription") from exc
