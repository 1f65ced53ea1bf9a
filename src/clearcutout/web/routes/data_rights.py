"""Download my data, delete my account (privacy policy, "Access & Portability",
"Correction & Deletion"): the Privacy page's forms, the emailed download link, and
``GET /api/v1/account/export``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from clearcutout.errors import ServiceError
from clearcutout.service.privacy import erasure, export
from clearcutout.web.boundary import FormText, api_principal, session_principal, unit_of_work
from clearcutout.web.rendering import choose_language, error_text, render
from clearcutout.web.routes.privacy import _privacy_context as privacy_context
from clearcutout.web.security import SESSION_COOKIE

router = APIRouter()

_ZIP = "application/zip"


def _zip_response(data: bytes, *, filename: str) -> Response:
    return Response(
        content=data,
        media_type=_ZIP,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _wake_housekeeping(request: Request) -> None:
    housekeeper = getattr(request.app.state, "housekeeper", None)
    if housekeeper is not None:
        housekeeper.wake()


@router.post("/account/privacy/export")
def request_export(request: Request) -> Response:
    """Ask for a copy of your data; it is prepared in the background and emailed."""
    with unit_of_work(request) as ctx:
        principal = session_principal(ctx, request)
        if principal is None:
            return RedirectResponse("/login", status_code=303)
        export.request_export(ctx, principal.user)
    _wake_housekeeping(request)  # after the commit, so the builder sees the row
    return RedirectResponse("/account/privacy?done=export#data-export", status_code=303)


@router.get("/account/privacy/export/{export_id}")
def download_export(request: Request, export_id: str) -> Response:
    """The emailed link: the ZIP, for the signed-in owner only, until it expires."""
    with unit_of_work(request) as ctx:
        principal = session_principal(ctx, request)
        if principal is None:
            return RedirectResponse("/login", status_code=303)
        data = export.download(ctx, principal.user, export_id)
    return _zip_response(data, filename=f"clearcutout-data-{export_id[:8]}.zip")


@router.post("/account/privacy/delete", response_class=HTMLResponse)
def delete_account(request: Request, password: FormText = "") -> Response:
    """Delete the account and everything stored with it (the password is asked again)."""
    try:
        with unit_of_work(request) as ctx:
            principal = session_principal(ctx, request)
            if principal is None:
                return RedirectResponse("/login", status_code=303)
            erasure.delete_own_account(ctx, principal.user, password=password)
    except ServiceError as error:
        return _privacy_page_with_error(request, error)
    response = render(request, "account_deleted.html", {})
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, secure=request.url.scheme == "https"
    )
    return response


def _privacy_page_with_error(request: Request, error: ServiceError) -> Response:
    """The Privacy page again, with the message; the account is untouched."""
    with unit_of_work(request) as ctx:
        principal = session_principal(ctx, request)
        if principal is None:
            return RedirectResponse("/login", status_code=303)
        context = privacy_context(ctx, principal)
    context |= {
        "error": error_text(error, choose_language(request, principal.user)),
        "error_field": getattr(error, "field", None),
    }
    status = error.http_status if error.http_status < 500 else 400
    return render(request, "account_privacy.html", context, user=principal.user, status_code=status)


@router.get(
    "/api/v1/account/export",
    tags=["account"],
    response_class=Response,
    responses={200: {"content": {_ZIP: {}}, "description": "The ZIP archive of your data."}},
)
def api_export(request: Request) -> Response:
    """All your data as a ZIP archive, built now (scope ``account``)."""
    with unit_of_work(request) as ctx:
        principal = api_principal(ctx, request, scope="account")
        data = export.build_zip(ctx, principal.user)
    return _zip_response(data, filename="clearcutout-data.zip")


__all__ = ["router"]
