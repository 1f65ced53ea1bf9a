"""The Privacy page of the account, one-click unsubscribe, policy versions and the
policy acceptance asked at login (privacy policy, "Your Rights & Choices")."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from clearcutout.errors import ServiceError
from clearcutout.service.context import ServiceContext
from clearcutout.service.privacy import consent, emailprefs, export, policy, residency
from clearcutout.service.privacy import requests as privacy_requests
from clearcutout.service.staff import accesslog
from clearcutout.web.boundary import FormText, Principal, session_principal, unit_of_work
from clearcutout.web.navigation import after_login, safe_next, to_login
from clearcutout.web.notices import notice
from clearcutout.web.rendering import choose_language, error_text, render

router = APIRouter()

# What each logged staff action means to the person whose data it was.
ACCESS_LABELS = {
    "view_account": "Viewed your account details",
    "view_jobs": "Viewed your list of images (no pictures)",
    "view_image": "Viewed one of your images",
    "read_privacy_request": "Read your privacy request",
    "flag_child_delete": "Deleted the account as a child's",
    "role_change": "Changed your staff role",
    "lock_account": "Locked your account",
    "unlock_account": "Unlocked your account",
}


def _privacy_context(ctx: ServiceContext, principal: Principal) -> dict[str, Any]:
    user = principal.user
    return {
        "email_preferences": emailprefs.preferences(ctx, user),
        "mandatory_categories": emailprefs.MANDATORY,
        "category_labels": emailprefs.CATEGORY_LABELS,
        "request_kinds": privacy_requests.KINDS,
        "processing_choices": privacy_requests.PROCESSING,
        "requests": privacy_requests.list_own(ctx, user),
        "history": consent.history(ctx, user),
        "acceptance": policy.latest_acceptance(ctx, user),
        "current_policy": policy.current_version(ctx),
        "pending_policy": policy.pending_acceptance(ctx, user),
        "max_message": privacy_requests.MAX_MESSAGE,
        "exports": export.list_exports(ctx, user),
        "export_link_hours": ctx.settings.export_link_hours,
        "location": residency.data_location(ctx.settings, user),
        # Privacy policy, "Access Controls": every staff access, as role + staff number.
        "staff_accesses": accesslog.entries_about(ctx, user.id),
        "access_labels": ACCESS_LABELS,
    }


@router.get("/account/privacy", response_class=HTMLResponse)
def privacy_page(request: Request, done: str | None = None) -> Response:
    """Email preferences, objections and questions, consent history (and, later, export
    and deletion)."""
    with unit_of_work(request) as ctx:
        principal = session_principal(ctx, request)
        if principal is None:
            return to_login(request)
        context = _privacy_context(ctx, principal)
    return render(
        request,
        "account_privacy.html",
        {**context, "notice": notice("privacy", done)},
        user=principal.user,
    )


def _privacy_action(
    request: Request, action: Callable[[ServiceContext, Principal], None], *, done: str
) -> Response:
    """Run one Privacy-page action; on a service error show the page with the message."""
    try:
        with unit_of_work(request) as ctx:
            principal = session_principal(ctx, request)
            if principal is None:
                return to_login(request)
            action(ctx, principal)
    except ServiceError as error:
        with unit_of_work(request) as ctx:
            principal = session_principal(ctx, request)
            if principal is None:
                return to_login(request)
            context = _privacy_context(ctx, principal)
        context |= {
            "error": error_text(error, choose_language(request, principal.user)),
            "error_field": getattr(error, "field", None),
        }
        status = error.http_status if error.http_status < 500 else 400
        return render(
            request, "account_privacy.html", context, user=principal.user, status_code=status
        )
    return RedirectResponse(f"/account/privacy?done={done}", status_code=303)


@router.post("/account/privacy/email")
def save_email_preferences(
    request: Request, subscribe: Annotated[list[str] | None, Form()] = None
) -> Response:
    """Save which optional emails the person receives (checked boxes = subscribed)."""
    chosen = set(subscribe or [])

    def action(ctx: ServiceContext, principal: Principal) -> None:
        emailprefs.set_preferences(
            ctx,
            principal.user,
            {category: category in chosen for category in emailprefs.OPTIONAL},
            source="privacy_page",
        )

    return _privacy_action(request, action, done="email")


@router.post("/account/privacy/requests")
def submit_request(
    request: Request,
    kind: FormText = "",
    processing: Annotated[str | None, Form()] = None,
    message: FormText = "",
) -> Response:
    """Object to a kind of processing, or ask a privacy question."""

    def action(ctx: ServiceContext, principal: Principal) -> None:
        privacy_requests.submit(
            ctx, principal.user, kind=kind, processing=processing or None, message=message
        )

    return _privacy_action(request, action, done="request")


# ----------------------------------------------------------------------------- policy


@router.get("/privacy/versions/{version_id}", response_class=HTMLResponse)
def policy_version(request: Request, version_id: str) -> Response:
    """One version of the privacy policy, current or earlier."""
    with unit_of_work(request) as ctx:
        principal = session_principal(ctx, request)
        shown = policy.get_version(ctx, version_id)
        all_versions = policy.versions(ctx)
    return render(
        request,
        "privacy.html",
        {"policy": shown, "versions": all_versions, "current": all_versions[0]},
        user=principal.user if principal else None,
    )


@router.get("/privacy/accept", response_class=HTMLResponse)
def accept_form(
    request: Request, next_path: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    """Asked at login: accept the privacy policy in force (after a significant change)."""
    with unit_of_work(request) as ctx:
        principal = session_principal(ctx, request)
        if principal is None:
            return to_login(request)
        pending = policy.pending_acceptance(ctx, principal.user)
        accepted_before = policy.latest_acceptance(ctx, principal.user) is not None
    if pending is None:
        return RedirectResponse(after_login(next_path), status_code=303)
    return render(
        request,
        "policy_accept.html",
        {"policy": pending, "accepted_before": accepted_before, "next": safe_next(next_path)},
        user=principal.user,
    )


@router.post("/privacy/accept")
def accept_submit(
    request: Request,
    version: FormText = "",
    next_path: Annotated[str | None, Form(alias="next")] = None,
) -> Response:
    """Record the acceptance (consent history), then go on to the page the login was for,
    or to the Privacy page that confirms it."""
    with unit_of_work(request) as ctx:
        principal = session_principal(ctx, request)
        if principal is None:
            return to_login(request)
        policy.accept(ctx, principal.user, version_id=version, source="login_prompt")
    return RedirectResponse(safe_next(next_path) or "/account/privacy?done=policy", status_code=303)


# ----------------------------------------------------------------------------- unsubscribe


@router.get("/unsubscribe", response_class=HTMLResponse)
def unsubscribe_confirm(request: Request, token: str = "") -> Response:
    """Ask to confirm: link scanners fetch links, so a GET never unsubscribes."""
    return _unsubscribe_page(request, "confirm", token, emailprefs.check_token)


@router.post("/unsubscribe", response_class=HTMLResponse)
def unsubscribe_one_click(
    request: Request, token: str = "", form_token: Annotated[str | None, Form(alias="token")] = None
) -> Response:
    """RFC 8058 one-click unsubscribe (also the confirmation page's button); no login."""
    return _unsubscribe_page(
        request,
        "done",
        token or form_token or "",
        partial(emailprefs.unsubscribe, source="unsubscribe_link"),
    )


def _unsubscribe_page(
    request: Request,
    state: str,
    token: str,
    act: Callable[[ServiceContext, str], emailprefs.Unsubscription],
) -> Response:
    """Check or use the link's token, then show the page for ``state`` (or why it failed)."""
    try:
        with unit_of_work(request) as ctx:
            category = act(ctx, token).category
    except ServiceError as error:
        return _unsubscribe_failed(request, error)
    return render(
        request,
        "unsubscribe.html",
        {
            "state": state,
            "token": token,
            "category": category,
            "category_labels": emailprefs.CATEGORY_LABELS,
        },
    )


def _unsubscribe_failed(request: Request, error: ServiceError) -> Response:
    return render(
        request,
        "unsubscribe.html",
        {"state": "failed", "error": error_text(error, choose_language(request, None))},
        status_code=error.http_status if error.http_status < 500 else 400,
    )
