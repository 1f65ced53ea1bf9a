"""Page rendering: language and theme choice, template globals, cookies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_date, format_datetime
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from clearcutout.db.models import User
from clearcutout.errors import ServiceError
from clearcutout.service.accounts import THEMES, clean_referral_code
from clearcutout.service.infra.i18n import (
    LANGUAGE_NAMES,
    SUPPORTED_LANGUAGES,
    gettext_for,
    negotiate_language,
    normalise_language,
)
from clearcutout.web.boundary import runtime
from clearcutout.web.integrations import enabled, scripts_for
from clearcutout.web.security import LANG_COOKIE, ONE_YEAR_S, THEME_COOKIE

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def choose_language(request: Request, user: User | None) -> str:
    """The person's preference (profile, else cookie), else ``Accept-Language``."""
    if user is not None and user.lang in SUPPORTED_LANGUAGES:
        return user.lang
    cookie = normalise_language(request.cookies.get(LANG_COOKIE))
    if cookie:
        return cookie
    default = runtime(request).settings.default_language
    return negotiate_language(request.headers.get("accept-language"), default=default)


def choose_theme(request: Request, user: User | None) -> str:
    if user is not None and user.theme in THEMES:
        return user.theme
    cookie = request.cookies.get(THEME_COOKIE)
    return cookie if cookie in THEMES else "system"


def translator(lang: str) -> Callable[[str], str]:
    return gettext_for(lang).gettext


def error_text(error: ServiceError, lang: str) -> str:
    """A service error's message in ``lang``."""
    text = translator(lang)(error.template)
    return text % error.params if error.params else text


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    user: User | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    lang = choose_language(request, user)
    _ = translator(lang)

    def when(value: datetime | date | None) -> str:
        if value is None:
            return _("never")
        if isinstance(value, datetime):
            return format_datetime(value, format="medium", locale=lang)
        return format_date(value, format="long", locale=lang)

    settings = runtime(request).settings
    ref = clean_referral_code(request.query_params.get("ref"))
    values: dict[str, Any] = {
        "_": _,
        "lang": lang,
        "theme": choose_theme(request, user),
        "languages": LANGUAGE_NAMES,
        "themes": THEMES,
        "csrf_token": request.state.csrf_token,
        "signed_in": user is not None,
        "when": when,
        "path": request.url.path,
        "is_staff": bool(user is not None and (user.is_staff or user.staff_role)),
        "is_admin": bool(user is not None and user.staff_role == "admin"),
        "timedelta": timedelta,
        # No billing page at all unless billing is on (README, "Billing").
        "billing_enabled": settings.billing.enabled,
        # Optional integrations (none unless configured; privacy policy, "Cookies &
        # Tracking"), and the first-party referral code carried from any page into
        # sign-up (no cookie).
        "third_party_scripts": scripts_for(enabled(settings.integrations), request.headers),
        "ref": ref,
        "signup_href": f"/signup?{urlencode({'ref': ref})}" if ref else "/signup",
    }
    values.update(context or {})
    return templates.TemplateResponse(request, template, values, status_code=status_code)


def set_preference_cookies(response: Response, *, theme: str, lang: str, tls: bool) -> None:
    """Mirror the preferences in their cookies (readable: they carry no secret)."""
    for name, value in ((THEME_COOKIE, theme), (LANG_COOKIE, lang)):
        response.set_cookie(
            name, value, max_age=ONE_YEAR_S, path="/", secure=tls, httponly=False, samesite="lax"
        )
