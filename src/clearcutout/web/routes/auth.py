"""Sign-up, email verification, login, logout and password reset pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from clearcutout.errors import ServiceError
from clearcutout.service import accounts
from clearcutout.service.accounts import sessions
from clearcutout.service.context import ServiceContext
from clearcutout.service.privacy import policy, residency
from clearcutout.service.privacy.policy import current_version
from clearcutout.web.boundary import FormText, client_ip, runtime, unit_of_work
from clearcutout.web.navigation import after_login, safe_next, with_next
from clearcutout.web.rendering import choose_language, error_text, render, set_preference_cookies
from clearcutout.web.security import (
    SESSION_COOKIE,
    csrf_cookie_header,
    new_csrf_token,
)

router = APIRouter()


def _tls(request: Request) -> bool:
    return request.url.scheme == "https"


def _form_error(
    request: Request, template: str, error: ServiceError, context: dict[str, Any]
) -> Response:
    status = error.http_status if error.http_status < 500 else 400
    response = render(
        request,
        template,
        {
            **context,
            "error": error_text(error, choose_language(request, None)),
            "error_field": getattr(error, "field", None),
        },
        status_code=status,
    )
    retry_after = getattr(error, "retry_after_s", None)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _signup_context(request: Request, values: dict[str, Any]) -> dict[str, Any]:
    settings = runtime(request).settings
    with unit_of_work(request) as ctx:
        policy = current_version(ctx)
    return {
        # New accounts are on the free plan: regions limited to other plans are not offered.
        "regions": {
            choice.name: choice
            for choice in residency.offered_regions(settings, residency.DEFAULT_PLAN)
        },
        "policy": policy,
        "values": values,
        "minimum_age": settings.minimum_age_years,
        "default_region": settings.default_region,
    }


def _follow_link(
    request: Request,
    check: Callable[[ServiceContext], object],
    template: str,
    context: dict[str, Any],
) -> Response:
    """A link from one of our emails: ``template`` when ``check`` accepts its token, else
    the one page that says the link is no longer valid."""
    try:
        with unit_of_work(request) as ctx:
            check(ctx)
    except ServiceError as error:
        return _form_error(request, "message.html", error, {"kind": "verify_failed"})
    return render(request, template, context)


@router.get("/signup", response_class=HTMLResponse)
def signup_form(request: Request) -> Response:
    """The sign-up form."""
    return render(request, "signup.html", _signup_context(request, {}))


@router.post("/signup", response_class=HTMLResponse)
def signup_submit(
    request: Request,
    email: FormText = "",
    name: FormText = "",
    password: FormText = "",
    region: FormText = "",
    accept_policy: Annotated[str | None, Form()] = None,
    age: Annotated[str | None, Form()] = None,
    ref: Annotated[str | None, Form()] = None,
) -> Response:
    """Create an account; under the minimum age nothing is stored."""
    lang = choose_language(request, None)
    form = accounts.SignUp(
        email=email,
        name=name,
        password=password,
        region=region,
        accepted_policy_version=accept_policy,
        at_least_minimum_age={"adult": True, "child": False}.get(age or ""),
        lang=lang,
        referral_code=ref,
    )
    try:
        with unit_of_work(request) as ctx:
            accounts.sign_up(ctx, form, client_ip=client_ip(request))
    except ServiceError as error:
        keep = {} if error.code == "age_requirement" else {"email": email, "name": name}
        values = {**keep, "region": region, "ref": accounts.clean_referral_code(ref) or ""}
        return _form_error(request, "signup.html", error, _signup_context(request, values))
    return render(request, "message.html", {"kind": "signup_done"})


@router.get("/verify-email", response_class=HTMLResponse)
def verify(request: Request, token: str = "") -> Response:
    """Confirm an email address from the emailed link."""
    return _follow_link(
        request, lambda ctx: accounts.verify_email(ctx, token), "message.html", {"kind": "verified"}
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request, next_path: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    """The login form; ``next`` (a page of this site) is where it leads afterwards."""
    return render(request, "login.html", {"values": {}, "next": safe_next(next_path)})


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    email: FormText = "",
    password: FormText = "",
    next_path: Annotated[str | None, Form(alias="next")] = None,
) -> Response:
    """Sign in: a new session (the old one, if any, is ended), fresh CSRF token; then the
    upload page, or the page that asked for the login."""
    try:
        with unit_of_work(request) as ctx:
            user = accounts.authenticate(
                ctx, email=email, password=password, client_ip=client_ip(request)
            )
            sessions.end_session(ctx, request.cookies.get(SESSION_COOKIE))
            token = sessions.create_session(
                ctx, user, client_label=sessions.describe_client(request.headers.get("user-agent"))
            )
            theme, lang = user.theme, user.lang
            # A significant policy change (or none accepted yet) is asked first.
            must_accept = policy.pending_acceptance(ctx, user) is not None
    except ServiceError as error:
        context = {"values": {"email": email}, "next": safe_next(next_path)}
        return _form_error(request, "login.html", error, context)
    tls = _tls(request)
    target = with_next("/privacy/accept", next_path) if must_accept else after_login(next_path)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=runtime(request).settings.session_absolute_days * 86400,
        path="/",
        httponly=True,
        secure=tls,
        samesite="lax",
    )
    response.headers.append(
        "Set-Cookie",
        csrf_cookie_header(new_csrf_token(runtime(request).keyring, session=token), tls=tls),
    )
    set_preference_cookies(response, theme=theme, lang=lang, tls=tls)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    """Sign out: the server-side session ends and the cookie is removed."""
    with unit_of_work(request) as ctx:
        sessions.end_session(ctx, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, secure=_tls(request))
    return response


@router.get("/password-reset", response_class=HTMLResponse)
def reset_request_form(request: Request) -> Response:
    """Ask for a password-reset link."""
    return render(request, "reset_request.html", {"values": {}})


@router.post("/password-reset", response_class=HTMLResponse)
def reset_request_submit(request: Request, email: FormText = "") -> Response:
    """Send a reset link if the address has an account; the answer is the same if not."""
    try:
        with unit_of_work(request) as ctx:
            accounts.request_password_reset(ctx, email=email, client_ip=client_ip(request))
    except ServiceError as error:
        return _form_error(request, "reset_request.html", error, {"values": {"email": email}})
    return render(request, "message.html", {"kind": "reset_sent"})


@router.get("/password-reset/confirm", response_class=HTMLResponse)
def reset_form(request: Request, token: str = "") -> Response:
    """Choose a new password from the emailed link."""
    return _follow_link(
        request,
        lambda ctx: accounts.check_reset_token(ctx, token),
        "reset_form.html",
        {"token": token},
    )


@router.post("/password-reset/confirm", response_class=HTMLResponse)
def reset_submit(request: Request, token: FormText = "", password: FormText = "") -> Response:
    """Set the new password; every session of the account ends."""
    try:
        with unit_of_work(request) as ctx:
            accounts.reset_password(ctx, token=token, new_password=password)
    except ServiceError as error:
        return _form_error(request, "reset_form.html", error, {"token": token})
    return render(request, "message.html", {"kind": "reset_done"})
