"""The one place errors become responses: JSON ``{"errors": [...]}`` for the API, a page
for browsers. Every ``ClearCutoutError`` carries its status, code and message.

A transient fault (storage or database unavailable) answers 503 with ``Retry-After``. A
database error that escaped a unit of work, and any other unexpected exception, still
answers in the same shape (never a bare ``500 text/plain``), without its details.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SqlTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from clearcutout.errors import (
    BusyError,
    ClearCutoutError,
    InsufficientCreditsError,
    RateLimit,
    RateLimitedError,
    SecondFactorRequiredError,
    ServiceError,
    ThrottledError,
)
from clearcutout.service.context import database_unavailable
from clearcutout.web.error_messages import error_message
from clearcutout.web.rendering import choose_language, error_text, render, translator
from clearcutout.web.security import SESSION_COOKIE

log = logging.getLogger(__name__)

_API_PREFIXES = ("/api/", "/v1.0/", "/webhooks/")
MALFORMED = "The request is malformed."


def wants_json(request: Request) -> bool:
    if request.url.path.startswith(_API_PREFIXES):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def rate_headers(rate: RateLimit | None) -> dict[str, str]:
    """The ``X-RateLimit-*`` headers of the plan's window (README, "Billing"); none
    without one."""
    if rate is None:
        return {}
    return {
        "X-RateLimit-Limit": str(rate.limit),
        "X-RateLimit-Remaining": str(rate.remaining),
        "X-RateLimit-Reset": str(rate.reset),
    }


def error_body(code: str, title: str, detail: str) -> dict[str, list[dict[str, str]]]:
    return {"errors": [{"code": code, "title": title, "detail": detail}]}


def _respond(request: Request, *, status: int, code: str, title: str, detail: str) -> Response:
    if wants_json(request):
        return JSONResponse(error_body(code, title, detail), status_code=status)
    _ = translator(choose_language(request, None))
    return render(
        request,
        "error.html",
        # A detail that is a catalogue sentence ("Not found") is shown translated too.
        {"title": _(title), "detail": _(detail), "status": status},
        status_code=status,
    )


def _from_the_page(request: Request) -> bool:
    """A browser page calling the API with its session (not an API client's key)."""
    return SESSION_COOKIE in request.cookies and "x-api-key" not in request.headers


async def handle_clearcutout_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ClearCutoutError)
    if isinstance(exc, SecondFactorRequiredError) and not wants_json(request):
        # A staff page before this session's second factor: to enrolment or the prompt.
        return RedirectResponse(exc.location, status_code=303)
    if exc.http_status >= 500:
        log.error("request.failed code=%s path=%s", exc.code, request.url.path)
    detail = exc.message
    if isinstance(exc, ServiceError) and not wants_json(request):
        detail = error_text(exc, choose_language(request, None))
    elif isinstance(exc, InsufficientCreditsError) and _from_the_page(request):
        # The upload page shows this message as it is (README, "Billing").
        detail = error_text(exc, choose_language(request, None))
    elif not wants_json(request):
        detail = error_message(exc.code, exc.message, choose_language(request, None))
    response = _respond(
        request, status=exc.http_status, code=exc.code, title=exc.title, detail=detail
    )
    if isinstance(exc, ThrottledError | BusyError) or exc.transient:
        response.headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, RateLimitedError):  # the plan's window (README, "Billing")
        response.headers.update(rate_headers(exc.rate))
    return response


async def handle_database_error(request: Request, exc: Exception) -> Response:
    return await handle_clearcutout_error(request, database_unavailable(exc))


async def handle_unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("request.crashed path=%s reason=%s", request.url.path, type(exc).__name__)
    return _respond(
        request,
        status=500,
        code="internal_error",
        title="Internal error",
        detail="Something went wrong on our side.",
    )


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{location}: {error.get('msg', 'invalid')}")
    detail = "; ".join(problems) or MALFORMED
    return _respond(
        request,
        status=400,
        code="invalid_input",
        title="Invalid input",
        # A page shows one sentence in the reader's language, not pydantic's English.
        detail=detail if wants_json(request) else MALFORMED,
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path (RFC 9110 §15.5.6: a 405 lists them
    all). Starlette's own ``Allow`` names only the first route that matched the path,
    though ``GET /jobs/{id}`` and ``DELETE /jobs/{id}`` are separate routes."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
               for route in routes)
    ]  # fmt: skip


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed"}
    title = titles.get(exc.status_code, "Error")
    codes = {404: "not_found", 405: "method_not_allowed"}
    response = _respond(
        request,
        status=exc.status_code,
        code=codes.get(exc.status_code, "error"),
        title=title,
        detail=str(exc.detail) if exc.status_code not in titles else title,
    )
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(allowed_methods(request)) or str(
            (exc.headers or {}).get("Allow", "")
        )
    return response


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ClearCutoutError, handle_clearcutout_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    for kind in (OperationalError, InterfaceError, DisconnectionError, SqlTimeoutError):
        app.add_exception_handler(kind, handle_database_error)
    app.add_exception_handler(Exception, handle_unexpected_error)
