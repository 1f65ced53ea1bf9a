"""Staff pages (privacy policy, "Access Controls"): privacy requests with their age,
account look-up, flagging a child's account. Everyone who is not staff gets a plain 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from clearcutout.db.models import User
from clearcutout.errors import ServiceError, ValidationError
from clearcutout.service import staff
from clearcutout.service.context import ServiceContext
from clearcutout.service.privacy import requests as privacy_requests
from clearcutout.web.boundary import session_principal, unit_of_work
from clearcutout.web.rendering import choose_language, error_text, render

router = APIRouter(prefix="/staff")

NOTICES = {
    "closed": "The request was marked as answered.",
    "deleted": "The account was deleted and its owner informed.",
}


def _staff(ctx: ServiceContext, request: Request) -> User:
    principal = session_principal(ctx, request)
    return staff.require_staff(principal.user if principal else None)


@router.get("/requests", response_class=HTMLResponse)
def requests_page(request: Request, done: str | None = None) -> Response:
    """Open privacy requests, oldest first, with their age."""
    with unit_of_work(request) as ctx:
        user = _staff(ctx, request)
        pending = privacy_requests.list_for_staff(ctx, user)
    return render(
        request,
        "staff_requests.html",
        {
            "requests": pending,
            "request_kinds": privacy_requests.KINDS,
            "processing_choices": privacy_requests.PROCESSING,
            "notice": NOTICES.get(done or ""),
        },
        user=user,
    )


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_page(request: Request, request_id: str) -> Response:
    """One request with its message and its author's contact (the access is logged)."""
    with unit_of_work(request) as ctx:
        user = _staff(ctx, request)
        opened = privacy_requests.open_for_staff(ctx, user, request_id)
    return render(
        request,
        "staff_request.html",
        {
            "opened": opened,
            "request_kinds": privacy_requests.KINDS,
            "processing_choices": privacy_requests.PROCESSING,
        },
        user=user,
    )


@router.post("/requests/{request_id}/close")
def close_request(request: Request, request_id: str) -> Response:
    """Mark a request answered."""
    with unit_of_work(request) as ctx:
        user = _staff(ctx, request)
        privacy_requests.close(ctx, user, request_id)
    return RedirectResponse("/staff/requests?done=closed", status_code=303)


@router.get("/accounts", response_class=HTMLResponse)
def accounts_page(request: Request) -> Response:
    """Look up an account by email (a reason is required and logged)."""
    with unit_of_work(request) as ctx:
        user = _staff(ctx, request)
    return render(request, "staff_accounts.html", {"values": {}}, user=user)


@router.post("/accounts/lookup", response_class=HTMLResponse)
def lookup_account(
    request: Request,
    email: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Show one account's facts; the access is logged with its reason."""
    values = {"email": email, "reason": reason}
    try:
        with unit_of_work(request) as ctx:
            user = _staff(ctx, request)
            facts = staff.look_up_account(ctx, user, email=email, reason=reason)
    except ServiceError as error:
        if error.http_status == 404:
            raise
        with unit_of_work(request) as ctx:
            user = _staff(ctx, request)
        return render(
            request,
            "staff_accounts.html",
            {
                "values": values,
                "error": error_text(error, choose_language(request, user)),
                "error_field": getattr(error, "field", None),
            },
            user=user,
            status_code=error.http_status if error.http_status < 500 else 400,
        )
    return render(request, "staff_accounts.html", {"values": values, "facts": facts}, user=user)


@router.post("/accounts/{user_id}/flag-child")
def flag_child(
    request: Request,
    user_id: str,
    reason: Annotated[str, Form()] = "",
    confirm: Annotated[str | None, Form()] = None,
) -> Response:
    """The account belongs to a child under the minimum age: delete it."""
    with unit_of_work(request) as ctx:
        user = _staff(ctx, request)
        if confirm != "yes":
            raise ValidationError("Tick the box to confirm the deletion.", field="confirm")
        staff.flag_child(ctx, user, user_id=user_id, reason=reason)
    return RedirectResponse("/staff/requests?done=deleted", status_code=303)
