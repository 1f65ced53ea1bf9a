"""Staff pages (privacy policy, "Access Controls"): the second factor, privacy requests
with their age and deadline, reasoned access to a customer's account, jobs and one image,
and the admin area (people and roles, incidents, the access log, alerts, usage charts).

Every route checks the role on the server (``_staff``): anyone without it gets a plain
404, and a staff session without its second factor is sent to enrol or to the prompt
(``SecondFactorRequiredError``, turned into a redirect by ``web/errors.py``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

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
from clearcutout.service.staff import accesslog, admin, incidents, monitoring, roles, totp
from clearcutout.web.boundary import FormText, client_ip, runtime, session_principal, unit_of_work
from clearcutout.web.charts import bar_chart
from clearcutout.web.rendering import choose_language, error_text, render

router = APIRouter(prefix="/staff")

NOTICES = {
    "closed": "The request was marked as answered.",
    "deleted": "The account was deleted and its owner informed.",
    "role": "The role was changed.",
    "locked": "The account was locked.",
    "unlocked": "The account was unlocked.",
    "incident": "The incident was recorded and the notices were sent.",
    "acknowledged": "The alert was marked as seen.",
}


def _signed_in(ctx: ServiceContext, request: Request, minimum: str) -> tuple[User, AuthSession]:
    """The signed-in staff member with at least ``minimum`` (404 for anyone else)."""
    principal = session_principal(ctx, request)
    user = roles.require_role(principal.user if principal else None, minimum)
    assert principal is not None and principal.session_id is not None
    session = ctx.db.get(AuthSession, principal.session_id)
    assert session is not None
    return user, session


def _staff(ctx: ServiceContext, request: Request, minimum: str = roles.SUPPORT) -> User:
    """The staff member, after the role check and this session's second factor."""
    user, session = _signed_in(ctx, request, minimum)
    totp.require_second_factor(user, session)
    return user


def _listing(
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
        user = _staff(ctx, request, minimum)
        context = page(ctx, user)
    return render(request, template, {**context, "notice": NOTICES.get(done or "")}, user=user)


def _form_error(
    request: Request,
    template: str,
    context: dict[str, Any],
    error: ServiceError,
    minimum: str = roles.SUPPORT,
) -> Response:
    """Show a refused form again with the message beside its field (a 404 stays one)."""
    if isinstance(error, NotFoundError | SecondFactorRequiredError):
        raise error
    with unit_of_work(request) as ctx:
        user = _staff(ctx, request, minimum)
        context = {**context, **_extra(ctx, template)}
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
            user = _staff(ctx, request)
            looked = look(ctx, user, source=client_ip(request) or "")
    except ServiceError as error:
        return _form_error(request, template, refused, error)
    response = render(request, template, shown(looked), user=user)
    if no_store:
        response.headers["Cache-Control"] = "no-store"
    return response


def _extra(ctx: ServiceContext, template: str) -> dict[str, Any]:
    """What a page needs besides the form when it is shown again."""
    if template == "staff_incidents.html":
        return {"incidents": incidents.list_incidents(ctx), "regions": ctx.settings.regions}
    return {}


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
    return _listing(
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


# -- reasoned access to a customer's data ----------------------------------------------------


@router.get("/accounts", response_class=HTMLResponse)
def accounts_page(request: Request) -> Response:
    """Look up an account by email (a reason is required and logged)."""
    with unit_of_work(request) as ctx:
        user = _staff(ctx, request)
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
    return _reasoned_page(
        request,
        "staff_jobs.html",
        partial(staff.view_jobs, user_id=user_id, reason=reason),
        shown=lambda jobs: {"jobs": jobs, "subject_id": user_id},
        refused={"jobs": None, "subject_id": user_id},
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
        user = _staff(ctx, request)
        if confirm != "yes":
            raise ValidationError("Tick the box to confirm the deletion.", field="confirm")
        staff.flag_child(ctx, user, user_id=user_id, reason=reason, source=client_ip(request) or "")
    return RedirectResponse("/staff/requests?done=deleted", status_code=303)


# -- the admin area ------------------------------------------------------------------------


@router.get("/admin", response_class=HTMLResponse)
def admin_home(request: Request) -> Response:
    with unit_of_work(request) as ctx:
        user = _staff(ctx, request, roles.ADMIN)
        alerts = [a for a in monitoring.list_alerts(ctx, limit=20) if not a.acknowledged]
    return render(request, "staff_admin.html", {"open_alerts": alerts}, user=user)


@router.get("/admin/users", response_class=HTMLResponse)
def admin_users(request: Request, done: str | None = None) -> Response:
    """Staff accounts with role, number, second factor and lock state."""
    return _listing(
        request,
        "staff_users.html",
        lambda ctx, _user: {"members": admin.staff_members(ctx), "values": {}},
        done=done,
        minimum=roles.ADMIN,
    )


@router.post("/admin/users/find", response_class=HTMLResponse)
def admin_find_user(request: Request, email: FormText = "", reason: FormText = "") -> Response:
    """Find an account by email through the blind index (a look: logged, with reason)."""
    values = {"email": email, "reason": reason}
    try:
        with unit_of_work(request) as ctx:
            user = _staff(ctx, request, roles.ADMIN)
            facts = staff.look_up_account(
                ctx, user, email=email, reason=reason, source=client_ip(request) or ""
            )
            members = admin.staff_members(ctx)
    except ServiceError as error:
        with unit_of_work(request) as ctx:
            members = admin.staff_members(ctx)
        return _form_error(
            request,
            "staff_users.html",
            {"members": members, "values": values},
            error,
            roles.ADMIN,
        )
    return render(
        request,
        "staff_users.html",
        {"members": members, "values": values, "facts": facts},
        user=user,
    )


@router.post("/admin/users/{user_id}/role")
def admin_set_role(
    request: Request, user_id: str, role: FormText = "", reason: FormText = ""
) -> Response:
    """Grant ``support``/``admin`` or take the role away (``user``); logged."""
    with unit_of_work(request) as ctx:
        user = _staff(ctx, request, roles.ADMIN)
        accesslog.clean_reason(reason)
        target = ctx.db.get(User, user_id)
        if target is None:
            raise NotFoundError("No such account.")
        roles.set_role(
            ctx,
            actor=user,
            user=target,
            role=None if role == "user" else role,
            reason=reason,
            source=client_ip(request) or "",
        )
    return RedirectResponse("/staff/admin/users?done=role", status_code=303)


@router.post("/admin/users/{user_id}/lock")
def admin_lock(
    request: Request, user_id: str, reason: FormText = "", locked: FormText = "yes"
) -> Response:
    with unit_of_work(request) as ctx:
        user = _staff(ctx, request, roles.ADMIN)
        roles.set_locked(
            ctx,
            user,
            user_id=user_id,
            locked=locked == "yes",
            reason=reason,
            source=client_ip(request) or "",
        )
    done = "locked" if locked == "yes" else "unlocked"
    return RedirectResponse(f"/staff/admin/users?done={done}", status_code=303)


@router.get("/admin/incidents", response_class=HTMLResponse)
def admin_incidents(request: Request, done: str | None = None) -> Response:
    """Incidents with their deadline, delivery and time left (or overdue)."""
    return _listing(
        request,
        "staff_incidents.html",
        lambda ctx, _user: {**_extra(ctx, "staff_incidents.html"), "values": {}},
        done=done,
        minimum=roles.ADMIN,
    )


def _iso(value: str, field: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError("Use a date and time like 2026-11-30T14:00.", field=field) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _IncidentForm(BaseModel):
    """The incident form as typed: the incident, and whom its notices go to."""

    title: str = ""
    description: str = ""
    detected_at: str = ""
    # Who is affected: listed addresses, or everyone of a region / plan / sign-up period.
    emails: str = ""
    region: str = ""
    plan: str = ""
    start: str = ""
    end: str = ""


@router.post("/admin/incidents", response_class=HTMLResponse)
def admin_record_incident(request: Request, form: Annotated[_IncidentForm, Form()]) -> Response:
    """Record an incident and send the notices (each person's delivery is recorded)."""
    try:
        with unit_of_work(request) as ctx:
            user = _staff(ctx, request, roles.ADMIN)
            detected = _iso(form.detected_at, "detected_at")
            if detected is None:
                raise ValidationError("Say when the incident was detected.", field="detected_at")
            selection = incidents.Selection(
                emails=tuple(e for e in form.emails.replace(",", " ").split() if e),
                region=form.region or None,
                plan=form.plan or None,
                start=_iso(form.start, "start"),
                end=_iso(form.end, "end"),
            )
            incident = incidents.record_incident(
                ctx,
                user,
                title=form.title,
                description=form.description,
                detected_at=detected,
                selection=selection,
                source=client_ip(request) or "",
            )
            incident_id = incident.id
    except ServiceError as error:
        values = form.model_dump()
        return _form_error(request, "staff_incidents.html", {"values": values}, error, roles.ADMIN)
    from clearcutout.workers.tasks import send_breach_notices

    send_breach_notices(runtime(request), incident_id)
    return RedirectResponse(f"/staff/admin/incidents/{incident_id}", status_code=303)


@router.get("/admin/incidents/{incident_id}", response_class=HTMLResponse)
def admin_incident(request: Request, incident_id: str) -> Response:
    with unit_of_work(request) as ctx:
        user = _staff(ctx, request, roles.ADMIN)
        info = incidents.get_incident(ctx, incident_id)
        people = incidents.recipients(ctx, incident_id)
    return render(
        request, "staff_incident.html", {"incident": info, "recipients": people}, user=user
    )


@router.get("/admin/log", response_class=HTMLResponse)
def admin_log(
    request: Request,
    actor: str = "",
    subject: str = "",
    action: str = "",
    since: str = "",
    until: str = "",
) -> Response:
    """The access log, newest first, with filters; and whether its chain is whole."""
    values = {"actor": actor, "subject": subject, "action": action, "since": since, "until": until}
    with unit_of_work(request) as ctx:
        user = _staff(ctx, request, roles.ADMIN)
        try:
            filters = admin.LogFilter(
                actor=actor.strip() or None,
                subject=subject.strip() or None,
                action=action.strip() or None,
                since=_iso(since, "since"),
                until=_iso(until, "until"),
            )
        except ValidationError:
            filters = admin.LogFilter()
        entries = admin.access_log(ctx, user, filters)
        verified = accesslog.verify(ctx)
    return render(
        request,
        "staff_log.html",
        {"entries": entries, "values": values, "verified": verified},
        user=user,
    )


@router.get("/admin/alerts", response_class=HTMLResponse)
def admin_alerts(request: Request, done: str | None = None) -> Response:
    return _listing(
        request,
        "staff_alerts.html",
        lambda ctx, _user: {"alerts": monitoring.list_alerts(ctx), "rules": monitoring.RULES},
        done=done,
        minimum=roles.ADMIN,
    )


@router.post("/admin/alerts/{alert_id}/ack")
def admin_ack_alert(request: Request, alert_id: str) -> Response:
    with unit_of_work(request) as ctx:
        user = _staff(ctx, request, roles.ADMIN)
        monitoring.acknowledge(ctx, user, alert_id)
    return RedirectResponse("/staff/admin/alerts?done=acknowledged", status_code=303)


@router.get("/admin/stats", response_class=HTMLResponse)
def admin_stats(request: Request) -> Response:
    """Anonymous usage statistics as server-drawn SVG charts."""
    with unit_of_work(request) as ctx:
        user = _staff(ctx, request, roles.ADMIN)
        figures = admin.usage_figures(ctx)
    labels = [f"{d.day:%m-%d}" for d in figures.days]
    charts = {
        "images": bar_chart(labels, [d.images for d in figures.days], title="Images per day"),
        "success": bar_chart(
            labels,
            [round(100 * d.success_rate, 1) for d in figures.days],
            title="Success rate per day",
            unit=" %",
        ),
    }
    return render(request, "staff_stats.html", {"figures": figures, "charts": charts}, user=user)
