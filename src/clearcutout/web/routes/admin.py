"""The staff admin area (privacy policy, "Access Controls"): people and roles, incidents
and their notices, the access log, alerts and usage charts. Every page needs the admin
role and this session's second factor (``staff_member``, as on the other staff pages).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from clearcutout.db.models import User
from clearcutout.errors import ServiceError, ValidationError
from clearcutout.service import staff
from clearcutout.service.context import ServiceContext
from clearcutout.service.staff import accesslog, admin, incidents, monitoring, roles
from clearcutout.web.boundary import FormText, client_ip, runtime, unit_of_work
from clearcutout.web.charts import bar_chart
from clearcutout.web.rendering import render
from clearcutout.web.routes.staff import form_error, listing, staff_member

router = APIRouter(prefix="/staff")


@router.get("/admin", response_class=HTMLResponse)
def admin_home(request: Request) -> Response:
    with unit_of_work(request) as ctx:
        user = staff_member(ctx, request, roles.ADMIN)
        alerts = [a for a in monitoring.list_alerts(ctx, limit=20) if not a.acknowledged]
    return render(request, "staff_admin.html", {"open_alerts": alerts}, user=user)


@router.get("/admin/users", response_class=HTMLResponse)
def admin_users(request: Request, done: str | None = None) -> Response:
    """Staff accounts with role, number, second factor and lock state."""
    return listing(
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
            user = staff_member(ctx, request, roles.ADMIN)
            facts = staff.look_up_account(
                ctx, user, email=email, reason=reason, source=client_ip(request) or ""
            )
            members = admin.staff_members(ctx)
    except ServiceError as error:
        return form_error(
            request,
            "staff_users.html",
            error,
            {"values": values},
            minimum=roles.ADMIN,
            extra=lambda ctx: {"members": admin.staff_members(ctx)},
        )
    return render(
        request,
        "staff_users.html",
        {"members": members, "values": values, "facts": facts},
        user=user,
    )


def _change_account(
    request: Request, change: Callable[[ServiceContext, User], object], done: str
) -> Response:
    """Apply an admin's change to one account (``change(ctx, admin)``), then show the
    staff list with its outcome."""
    with unit_of_work(request) as ctx:
        user = staff_member(ctx, request, roles.ADMIN)
        change(ctx, user)
    return RedirectResponse(f"/staff/admin/users?done={done}", status_code=303)


@router.post("/admin/users/{user_id}/role")
def admin_set_role(
    request: Request, user_id: str, role: FormText = "", reason: FormText = ""
) -> Response:
    """Grant ``support``/``admin`` or take the role away (``user``); logged."""
    source = client_ip(request) or ""
    change = partial(roles.change_role, user_id=user_id, role=role, reason=reason, source=source)
    return _change_account(request, change, "role")


@router.post("/admin/users/{user_id}/lock")
def admin_lock(
    request: Request, user_id: str, reason: FormText = "", locked: FormText = "yes"
) -> Response:
    """Lock the account (``locked=yes``) or unlock it; logged."""
    lock, source = locked == "yes", client_ip(request) or ""
    change = partial(roles.set_locked, user_id=user_id, locked=lock, reason=reason, source=source)
    return _change_account(request, change, "locked" if lock else "unlocked")


@router.get("/admin/incidents", response_class=HTMLResponse)
def admin_incidents(request: Request, done: str | None = None) -> Response:
    """Incidents with their deadline, delivery and time left (or overdue)."""
    return listing(
        request,
        "staff_incidents.html",
        lambda ctx, _user: {**_incident_list(ctx), "values": {}},
        done=done,
        minimum=roles.ADMIN,
    )


def _incident_list(ctx: ServiceContext) -> dict[str, Any]:
    """The incidents page besides its form: the incidents, and the regions to choose."""
    return {"incidents": incidents.list_incidents(ctx), "regions": ctx.settings.regions}


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
            user = staff_member(ctx, request, roles.ADMIN)
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
        return form_error(
            request,
            "staff_incidents.html",
            error,
            {"values": values},
            minimum=roles.ADMIN,
            extra=_incident_list,
        )
    from clearcutout.workers.tasks import send_breach_notices

    send_breach_notices(runtime(request), incident_id)
    return RedirectResponse(f"/staff/admin/incidents/{incident_id}", status_code=303)


@router.get("/admin/incidents/{incident_id}", response_class=HTMLResponse)
def admin_incident(request: Request, incident_id: str) -> Response:
    with unit_of_work(request) as ctx:
        user = staff_member(ctx, request, roles.ADMIN)
        info = incidents.get_incident(ctx, incident_id)
        people = incidents.recipients(ctx, incident_id)
    return render(
        request, "staff_incident.html", {"incident": info, "recipients": people}, user=user
    )


# The access log's filters, as typed into its form and shown back there.
_LOG_FILTERS = ("actor", "subject", "action", "since", "until")


def _log_filter(typed: dict[str, str]) -> admin.LogFilter:
    """What the typed filters ask for; with a malformed date, the whole log."""
    try:
        since, until = _iso(typed["since"], "since"), _iso(typed["until"], "until")
    except ValidationError:
        return admin.LogFilter()
    return admin.LogFilter(
        actor=typed["actor"].strip() or None,
        subject=typed["subject"].strip() or None,
        action=typed["action"].strip() or None,
        since=since,
        until=until,
    )


@router.get("/admin/log", response_class=HTMLResponse)
def admin_log(request: Request) -> Response:
    """The access log, newest first, with filters; and whether its chain is whole."""
    typed = {name: request.query_params.get(name, "") for name in _LOG_FILTERS}
    with unit_of_work(request) as ctx:
        user = staff_member(ctx, request, roles.ADMIN)
        entries = admin.access_log(ctx, user, _log_filter(typed))
        verified = accesslog.verify(ctx)
    context = {"entries": entries, "values": typed, "verified": verified}
    return render(request, "staff_log.html", context, user=user)


@router.get("/admin/alerts", response_class=HTMLResponse)
def admin_alerts(request: Request, done: str | None = None) -> Response:
    return listing(
        request,
        "staff_alerts.html",
        lambda ctx, _user: {"alerts": monitoring.list_alerts(ctx), "rules": monitoring.RULES},
        done=done,
        minimum=roles.ADMIN,
    )


@router.post("/admin/alerts/{alert_id}/ack")
def admin_ack_alert(request: Request, alert_id: str) -> Response:
    with unit_of_work(request) as ctx:
        user = staff_member(ctx, request, roles.ADMIN)
        monitoring.acknowledge(ctx, user, alert_id)
    return RedirectResponse("/staff/admin/alerts?done=acknowledged", status_code=303)


@router.get("/admin/stats", response_class=HTMLResponse)
def admin_stats(request: Request) -> Response:
    """Anonymous usage statistics as server-drawn SVG charts."""
    with unit_of_work(request) as ctx:
        user = staff_member(ctx, request, roles.ADMIN)
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
