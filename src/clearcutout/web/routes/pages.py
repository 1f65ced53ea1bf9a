"""Public pages: home, privacy policy, cookie notice, preferences switch, favicon, health."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from clearcutout.db.models import User
from clearcutout.errors import ValidationError
from clearcutout.service import accounts
from clearcutout.service.infra.i18n import normalise_language
from clearcutout.service.privacy import policy
from clearcutout.web.boundary import runtime, session_principal, unit_of_work
from clearcutout.web.integrations import enabled
from clearcutout.web.navigation import safe_next
from clearcutout.web.rendering import (
    choose_language,
    choose_theme,
    render,
    set_preference_cookies,
)

router = APIRouter()

_FAVICON = Path(__file__).parents[1] / "static" / "favicon.ico"


def _user(request: Request) -> User | None:
    with unit_of_work(request) as ctx:
        principal = session_principal(ctx, request)
        return principal.user if principal else None


def connection_security(request: Request) -> Literal["tls13", "https", "plain"]:
    """What the home page may truly say about encryption in transit, for this deployment.

    ``tls13``: this server terminated TLS itself (``serve --tls-cert``: TLS 1.3 only; with
    proxy headers ignored, the scheme is "https" in no other case). ``https``: plain HTTP
    here, but the public address (``base_url``) is HTTPS, so a front end encrypts.
    ``plain``: nothing encrypts the connection (``make run`` on a laptop).
    """
    if request.url.scheme == "https":
        return "tls13"
    if runtime(request).settings.base_url.startswith("https://"):
        return "https"
    return "plain"


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    """What ClearCutout does."""
    return render(
        request, "home.html", {"connection": connection_security(request)}, user=_user(request)
    )


@router.get("/privacy", response_class=HTMLResponse)
def privacy(request: Request) -> Response:
    """The privacy policy in force, with its "last updated" date and earlier versions."""
    with unit_of_work(request) as ctx:
        principal = session_principal(ctx, request)
        versions = policy.versions(ctx)
    return render(
        request,
        "privacy.html",
        {"policy": versions[0], "versions": versions, "current": versions[0]},
        user=principal.user if principal else None,
    )


@router.get("/cookies", response_class=HTMLResponse)
def cookies(request: Request) -> Response:
    """The cookie notice: exactly the cookies and integrations this installation uses."""
    integrations = enabled(runtime(request).settings.integrations)
    return render(request, "cookies.html", {"integrations": integrations}, user=_user(request))


@router.post("/preferences")
def preferences(
    request: Request,
    theme: Annotated[str | None, Form()] = None,
    lang: Annotated[str | None, Form()] = None,
    next_path: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    """Change theme and language: in the profile when signed in, always in the cookies."""
    if lang is not None and normalise_language(lang) is None:
        raise ValidationError("Choose a valid language.", field="lang")
    if theme is not None and theme not in accounts.THEMES:
        raise ValidationError("Choose a valid theme.", field="theme")
    with unit_of_work(request) as ctx:
        principal = session_principal(ctx, request)
        user = principal.user if principal else None
        if user is not None:
            accounts.set_preferences(ctx, user, theme=theme, lang=lang)
        chosen_theme = theme or choose_theme(request, user)
        chosen_lang = lang or choose_language(request, user)
    target = safe_next(next_path) or "/"
    response = RedirectResponse(target, status_code=303)
    set_preference_cookies(
        response, theme=chosen_theme, lang=chosen_lang, tls=request.url.scheme == "https"
    )
    return response


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    """Where browsers look for the icon by default (pages also link the SVG one)."""
    return FileResponse(
        _FAVICON, media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"}
    )


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}
