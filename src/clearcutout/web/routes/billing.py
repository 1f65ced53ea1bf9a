"""The Billing page (plan, credits, ledger; Stripe Checkout and portal) and the Stripe
webhook. Absent (404) while billing is off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from clearcutout.db.models import User
from clearcutout.errors import NotFoundError
from clearcutout.service.billing import account, payments, plans, webhooks
from clearcutout.service.context import ServiceContext
from clearcutout.web.boundary import runtime, session_principal, unit_of_work
from clearcutout.web.navigation import to_login
from clearcutout.web.notices import notice
from clearcutout.web.rendering import render

router = APIRouter(tags=["billing"])


def _require_enabled(request: Request) -> None:
    if not plans.enabled(runtime(request).settings):
        raise NotFoundError("Billing is not enabled on this server.")


def _to_stripe(
    request: Request, stripe_url: Callable[[ServiceContext, User, str], str]
) -> Response:
    """Redirect the signed-in person to the Stripe page ``stripe_url`` gives (it gets the
    server's base URL for the way back); the sign-in page for anyone else."""
    _require_enabled(request)
    base = runtime(request).settings.base_url
    with unit_of_work(request) as ctx:
        principal = session_principal(ctx, request)
        if principal is None:
            return to_login(request)
        url = stripe_url(ctx, principal.user, base)
    return RedirectResponse(url, status_code=303)


@router.get("/account/billing", response_class=HTMLResponse)
def billing_page(request: Request, done: str | None = None) -> Response:
    """Plan, credits left, recent ledger entries, and what can be bought."""
    _require_enabled(request)
    with unit_of_work(request) as ctx:
        principal = session_principal(ctx, request)
        if principal is None:
            return to_login(request)
        view = account.view(ctx, principal.user)
    return render(
        request,
        "billing.html",
        {"billing": view, "notice": notice("billing", done)},
        user=principal.user,
    )


@router.post("/account/billing/checkout")
def checkout(
    request: Request,
    plan: Annotated[str | None, Form()] = None,
    pack: Annotated[str | None, Form()] = None,
) -> Response:
    """Go to Stripe Checkout for a plan's subscription or a credit pack."""
    return _to_stripe(
        request,
        lambda ctx, user, base: payments.start_checkout(
            ctx,
            user,
            plan=plan or None,
            pack=None if plan else pack,
            success_url=f"{base}/account/billing?done=paid",
            cancel_url=f"{base}/account/billing?done=cancelled",
        ),
    )


@router.post("/account/billing/portal")
def portal(request: Request) -> Response:
    """Go to Stripe's customer portal (cards, invoices, plan changes, cancelling)."""
    return _to_stripe(
        request,
        lambda ctx, user, base: payments.portal_url(
            ctx, user, return_url=f"{base}/account/billing"
        ),
    )


def _apply(request: Request, payload: bytes, signature: str | None) -> bool:
    with unit_of_work(request) as ctx:
        event = webhooks.verify(ctx, payload, signature)
        return webhooks.handle(ctx, event)


@router.post("/webhooks/stripe")
async def stripe_webhook(request: Request) -> Response:
    """Stripe's events, verified by signature; each applied once (README, "Billing")."""
    _require_enabled(request)
    payload = await request.body()
    applied = await run_in_threadpool(
        _apply, request, payload, request.headers.get("stripe-signature")
    )
    return JSONResponse({"received": True, "applied": applied})
