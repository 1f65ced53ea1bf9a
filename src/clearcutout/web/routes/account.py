"""The account page: profile, password, email, sessions, API keys, preferences, region."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from clearcutout.errors import ServiceError
from clearcutout.service import accounts
from clearcutout.service.accounts import apikeys, sessions
from clearcutout.service.billing import account as billing
from clearcutout.service.billing import plans
from clearcutout.service.context import ServiceContext
from clearcutout.service.privacy import residency
from clearcutout.web.boundary import FormText, Principal, runtime, session_principal, unit_of_work
from clearcutout.web.navigation import to_login
from clearcutout.web.notices import notice
from clearcutout.web.rendering import choose_language, error_text, render, set_preference_cookies
from clearcutout.web.security import SESSION_COOKIE

router = APIRouter(prefix="/account")


def _page_context(ctx: ServiceContext, principal: Principal) -> dict[str, Any]:
    return {
        "profile": accounts.profile(ctx, principal.user),
        "sessions": sessions.list_sessions(ctx, principal.user, current_id=principal.session_id),
        "api_keys": apikeys.list_api_keys(ctx, principal.user),
        "scopes": apikeys.SCOPES,
        "regions": {
            choice.name: choice
            for choice in residency.offered_regions(ctx.settings, principal.user.plan)
        },
        "location": residency.data_location(ctx.settings, principal.user),
        # Plan and credits left, with billing on (README, "Billing").
        "credits": billing.view(ctx, principal.user) if plans.enabled(ctx.settings) else None,
    }


@router.get("", response_class=HTMLResponse)
def account_page(request: Request, done: str | None = None) -> Response:
    """The signed-in person's account."""
    with unit_of_work(request) as ctx:
        principal = session_principal(ctx, request)
        if principal is None:
            return to_login(request)
        context = _page_context(ctx, principal)
    context["notice"] = notice("account", done)
    return render(request, "account.html", context, user=principal.user)


def _act(
    request: Request,
    action: Callable[[ServiceContext, Principal], dict[str, Any] | None],
    *,
    done: str,
) -> Response:
    """Run one account action; on a service error re-render the page with the message."""
    error: ServiceError | None = None
    extra: dict[str, Any] | None = None
    try:
        with unit_of_work(request) as ctx:
            principal = session_principal(ctx, request)
            if principal is None:
                return to_login(request)
            extra = action(ctx, principal)
    except ServiceError as exc:
        error = exc
    if error is None and extra is None:
        return RedirectResponse(f"/account?done={done}", status_code=303)
    with unit_of_work(request) as ctx:
        principal = session_principal(ctx, request)
        if principal is None:
            return to_login(request)
        context = _page_context(ctx, principal)
    if error is not None:
        lang = choose_language(request, principal.user)
        context |= {"error": error_text(error, lang), "error_field": getattr(error, "field", None)}
        status = error.http_status if error.http_status < 500 else 400
        return render(request, "account.html", context, user=principal.user, status_code=status)
    return render(request, "account.html", {**context, **(extra or {})}, user=principal.user)


@router.post("/name")
def change_name(request: Request, name: FormText = "") -> Response:
    """Change the display name."""

    def action(ctx: ServiceContext, principal: Principal) -> None:
        accounts.change_name(ctx, principal.user, name=name)

    return _act(request, action, done="name")


@router.post("/password")
def change_password(
    request: Request, current_password: FormText = "", new_password: FormText = ""
) -> Response:
    """Change the password; other sessions end."""

    def action(ctx: ServiceContext, principal: Principal) -> None:
        accounts.change_password(
            ctx,
            principal.user,
            current_password=current_password,
            new_password=new_password,
            keep_session_id=principal.session_id,
        )

    return _act(request, action, done="password")


@router.post("/email")
def change_email(request: Request, new_email: FormText = "", password: FormText = "") -> Response:
    """Ask to change the email address (confirmed from the new mailbox)."""

    def action(ctx: ServiceContext, principal: Principal) -> None:
        accounts.request_email_change(ctx, principal.user, new_email=new_email, password=password)

    return _act(request, action, done="email")


@router.post("/region")
def change_region(request: Request, region: FormText = "") -> Response:
    """Move the account and its stored images to another region (refused while jobs run)."""
    moves: list[residency.RegionMove | None] = []

    def action(ctx: ServiceContext, principal: Principal) -> None:
        moves.append(residency.move_to_region(ctx, principal.user, region=region))

    response = _act(request, action, done="region")
    if moves:  # committed: now the old region's copies go
        residency.finish_move(runtime(request).settings, moves[0])
    return response


@router.post("/preferences")
def change_preferences(
    request: Request, theme: FormText = "system", lang: FormText = "en"
) -> Response:
    """Save theme and language in the profile and mirror them in their cookies."""
    response = _act(
        request,
        lambda ctx, principal: accounts.set_preferences(
            ctx, principal.user, theme=theme, lang=lang
        ),
        done="preferences",
    )
    if response.status_code == 303 and response.headers.get("location", "").endswith("preferences"):
        set_preference_cookies(response, theme=theme, lang=lang, tls=request.url.scheme == "https")
    return response


@router.post("/sessions/revoke-all")
def revoke_all_sessions(request: Request) -> Response:
    """Sign out every other session."""

    def action(ctx: ServiceContext, principal: Principal) -> None:
        sessions.revoke_all_sessions(ctx, principal.user, except_id=principal.session_id)

    return _act(request, action, done="sessions")


@router.post("/sessions/{session_id}/revoke")
def revoke_session(request: Request, session_id: str) -> Response:
    """Sign out one session."""

    def action(ctx: ServiceContext, principal: Principal) -> None:
        sessions.revoke_session(ctx, principal.user, session_id)

    response = _act(request, action, done="session")
    return response


@router.post("/api-keys")
def create_api_key(
    request: Request, label: FormText = "", scopes: Annotated[list[str] | None, Form()] = None
) -> Response:
    """Create an API key and show it once."""

    def action(ctx: ServiceContext, principal: Principal) -> dict[str, Any]:
        info, raw = apikeys.create_api_key(ctx, principal.user, label=label, scopes=scopes or [])
        return {"new_key": raw, "new_key_info": info}

    return _act(request, action, done="apikey")


@router.post("/api-keys/{key_id}/revoke")
def revoke_api_key(request: Request, key_id: str) -> Response:
    """Revoke an API key."""

    def action(ctx: ServiceContext, principal: Principal) -> None:
        apikeys.revoke_api_key(ctx, principal.user, key_id)

    return _act(request, action, done="apikey_revoked")


__all__ = ["SESSION_COOKIE", "router"]
