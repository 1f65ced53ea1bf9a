"""Staff pages (privacy policy, "Access Controls"): the second factor, privacy requests
with their age and deadline, and reasoned access to a customer's account, jobs and one
image; the admin area is ``web/routes/admin.py``.

Every route checks the role on the server (``staff_member``): anyone without it gets a
plain 404, and a staff session without its second factor is sent to enrol or to the
prompt (``SecondFactorRequiredError``, turned into a redirect by ``web/errors.py``). The
admin area shares this access check and the list and form helpers.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from clearcutout.db.models import AuthSession, User
from clearcutout.errors import (
    NotFoundError,
    SecondFactorRequiredError,
    ServiceError,
    ValidationError,
)
from clearcutout.service import staff
from clearcutout.service.context import ServiceContext
from clearcutout.service.privacy import requests as privacy_requests
from clearcutout.service.staff import admin, roles, totp
from clearcutout.web.boundary import FormText, client_ip, session_principal, unit_of_work
from clearcutout.web.notices import notice
from clearcutout.web.rendering import choose_language, error_text, render

router = APIRouter(prefix="/staff")


def _signed_in(ctx: ServiceContext, request: Request, minimum: str) -> tuple[User, AuthSession]:
    """The signed-in staff member with at least ``minimum`` (404 for anyone else)."""
    principal = session_principal(ctx, request)
    user = roles.require_role(principal.user if principal else None, minimum)
    assert principal is not None and principal.session_id is not None
    session = ctx.db.get(AuthSession, principal.session_id)
    assert session is not None
    return user, session


def staff_member(ctx: ServiceContext, request: Request, minimum: str = roles.SUPPORT) -> User:
    """The staff member, after the role check and this session's second factor."""
    user, session = _signed_in(ctx, request, minimum)
    totp.require_second_factor(user, session)
    return user


def listing(
    request: Request,
    template: str,
    page: Callable[[ServiceContext, User], dict[str, Any]],
    *,
    done: str | None,
    minimum: str = roles.SUPPORT,
) -> Response:
    """A staff list page, read in one unit of work, with the notice of the action that
    led back to it (``done``)."""
    with unit_of_work(request) as ctx:
        user = staff_member(ctx, request, minimum)
        context = page(ctx, user)
    return render(request, template, {**context, "notice": notice("staff", done)}, user=user)


def form_error(
    request: Request,
    template: str,
    error: ServiceError,
    context: dict[str, Any],
    *,
    minimum: str = roles.SUPPORT,
    extra: Callable[[ServiceContext], dict[str, Any]] | None = None,
) -> Response:
    """Show a refused form again with the message beside its field (a 404 stays one);
    ``extra`` reads what the page needs besides the form."""
    if isinstance(error, NotFoundError | SecondFactorRequiredError):
        raise error
    with unit_of_work(request) as ctx:
        user = staff_member(ctx, request, minimum)
        if extra is not None:
            context = {**context, **extra(ctx)}
    return render(
        request,
        template,
        {
            **context,
            "error": error_text(error, choose_language(request, user)),
            "error_field": getattr(error, "field", None),
        },
        user=user,
        status_code=error.http_status if error.http_status < 500 else 400,
    )


_Looked = TypeVar("_Looked")
_Looked_co = TypeVar("_Looked_co", covariant=True)


class _Look(Protocol[_Looked_co]):
    """One of ``service.staff``'s logged looks, its subject and reason already given."""

    def __call__(self, ctx: ServiceContext, staff: User, *, source: str) -> _Looked_co: ...


def _reasoned_page(
    request: Request,
    template: str,
    look: _Look[_Looked],
    *,
    shown: Callable[[_Looked], dict[str, Any]],
    refused: dict[str, Any],
    no_store: bool = False,
) -> Response:
    """Run one logged look at a customer's data (from the client's address) and show
    ``template`` with what ``shown`` makes of it (``no_store``: never cached); a refused
    look shows the page again with ``refused`` and its message."""
    try:
        with unit_of_work(request) as ctx:
            user = staff_member(ctx, request)
            looked = look(ctx, user, source=client_ip(request) or "")
    except ServiceError as error:
        return form_error(request, template, error, refused)
    response = render(request, template, shown(looked), user=user)
    if no_store:
        response.headers["Cache-Control"] = "no-store"
    return response


# -- the second factor ---------------------------------------------------------------------


@router.get("/2fa/enrol", response_class=HTMLResponse)
def enrol_page(request: Request) -> Response:
    """Set up TOTP: a new secret to type (or scan) into an authenticator app."""
    with unit_of_work(request) as ctx:
        user, _session = _signed_in(ctx, request, roles.SUPPORT)
        if user.totp_enabled_at is not None:
            return RedirectResponse(totp.VERIFY_PATH, status_code=303)
        enrolment = totp.start_enrolment(ctx, user)
    return render(request, "staff_2fa_enrol.html", {"enrolment": enrolment}, user=user)


@router.post("/2fa/enrol", response_class=HTMLResponse)
def enrol(request: Request, code: FormText = "") -> Response:
    """Confirm the first code; show the recovery codes once."""
    try:
        with unit_of_work(request) as ctx:
            user, session = _signed_in(ctx, request, roles.SUPPORT)
            codes = totp.confirm_enrolment(
                ctx, user, session, code=code, source=client_ip(request) or ""
            )
    except ValidationError as error:
        with unit_of_work(request) as ctx:
            user, _session = _signed_in(ctx, request, roles.SUPPORT)
            totp.count_failure(ctx, user)
            enrolment = totp.enrolment(ctx, user)
        return render(
            request,
            "staff_2fa_enrol.html",
            {
                "enrolment": enrolment,
                "error": error_text(error, choose_language(request, user)),
                "error_field": "code",
            },
            user=user,
            status_code=400,
        )
    return render(request, "staff_2fa_codes.html", {"codes": codes}, user=user)


@router.get("/2fa", response_class=HTMLResponse)
def second_factor_page(request: Request) -> Response:
    with unit_of_work(request) as ctx:
        user, _session = _signed_in(ctx, request, roles.SUPPORT)
        if user.totp_enabled_at is None:
            return RedirectResponse(totp.ENROL_PATH, status_code=303)
    return render(request, "staff_2fa.html", {}, user=user)


@router.post("/2fa", response_class=HTMLResponse)
def second_factor(request: Request, code: FormText = "") -> Response:
    """A TOTP code or a recovery code opens the staff pages for this session."""
    try:
        with unit_of_work(request) as ctx:
            user, session = _signed_in(ctx, request, roles.SUPPORT)
            totp.verify(ctx, user, session, code=code, source=client_ip(request) or "")
    except ValidationError as error:
        with unit_of_work(request) as ctx:
            user, _session = _signed_in(ctx, request, roles.SUPPORT)
            totp.count_failure(ctx, user)
        return render(
            request,
            "staff_2fa.html",
            {"error": error_text(error, choose_language(request, user)), "error_field": "code"},
            user=user,
            status_code=400,
        )
    return RedirectResponse("/staff/requests", status_code=303)


# -- privacy requests ----------------------------------------------------------------------


@router.get("/requests", response_class=HTMLResponse)
def requests_page(request: Request, done: str | None = None) -> Response:
    """Open privacy requests, oldest first, with their age and deadline."""
    return listing(
        request,
        "staff_requests.html",
        lambda ctx, user: {
            "requests": privacy_requests.list_for_staff(ctx, user),
            "request_kinds": privacy_requests.KINDS,
            "processing_choices": privacy_requests.PROCESSING,
            "deadline_days": admin.REQUEST_DEADLINE_DAYS,
            "is_admin": roles.has_role(user, roles.ADMIN),
        },
        done=done,
    )


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_page(request: Request, request_id: str) -> Response:
    """One request with its message and its author's contact (the access is logged)."""
    with unit_of_work(request) as ctx:
        user = staff_member(ctx, request)
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
        user = staff_member(ctx, request)
        privacy_requests.close(ctx, user, request_id)
    return RedirectResponse("/staff/requests?done=closed", status_code=303)


# -- reasoned access to a customer's data ----------------------------------------------------


@router.get("/accounts", response_class=HTMLResponse)
def accounts_page(request: Request) -> Response:
    """Look up an account by email (a reason is required and logged)."""
    with unit_of_work(request) as ctx:
        user = staff_member(ctx, request)
    return render(request, "staff_accounts.html", {"values": {}}, user=user)


@router.post("/accounts/lookup", response_class=HTMLResponse)
def lookup_account(request: Request, email: FormText = "", reason: FormText = "") -> Response:
    """Show one account's facts; the access is logged with its reason."""
    values = {"email": email, "reason": reason}
    return _reasoned_page(
        request,
        "staff_accounts.html",
        partial(staff.look_up_account, email=email, reason=reason),
        shown=lambda facts: {"values": values, "facts": facts},
        refused={"values": values},
    )


@router.post("/accounts/{user_id}/jobs", response_class=HTMLResponse)
def account_jobs(request: Request, user_id: str, reason: FormText = "") -> Response:
    """One person's job metadata (no file names, no images); logged with its reason."""
    whose = {"subject_id": user_id}
    return _reasoned_page(
        request,
        "staff_jobs.html",
        partial(staff.view_jobs, user_id=user_id, reason=reason),
        shown=lambda jobs: {**whose, "jobs": jobs},
        refused={**whose, "jobs": None},
    )


@router.post("/jobs/{job_id}/image", response_class=HTMLResponse)
def job_image(request: Request, job_id: str, reason: FormText = "") -> Response:
    """One uploaded image, decrypted for this one view (inline, never cached)."""
    return _reasoned_page(
        request,
        "staff_image.html",
        partial(staff.view_image, job_id=job_id, reason=reason),
        shown=lambda viewed: {"image_url": _data_url(viewed), "job_id": viewed.job_id},
        refused={"image_url": None},
        no_store=True,
    )


def _data_url(viewed: staff.ViewedImage) -> str:
    return f"data:{viewed.media_type};base64,{base64.b64encode(viewed.data).decode()}"


@router.post("/accounts/{user_id}/flag-child")
def flag_child(
    request: Request,
    user_id: str,
    reason: FormText = "",
    confirm: Annotated[str | None, Form()] = None,
) -> Response:
    """The account belongs to a child under the minimum age: delete it."""
    with unit_of_work(request) as ctx:
        user = staff_member(ctx, request)
        if confirm != "yes":
            raise ValidationError("Tick the box to confirm the deletion.", field="confirm")
        staff.flag_child(ctx, user, user_id=user_id, reason=reason, source=client_ip(request) or "")
    return RedirectResponse("/staff/requests?done=deleted", status_code=303)
