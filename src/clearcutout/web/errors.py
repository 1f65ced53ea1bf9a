"""The one place errors become responses: JSON ``{"errors": [...]}`` for the API, a page
for browsers. Every ``ClearCutoutError`` carries its status, code and message."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from clearcutout.errors import (
    ClearCutoutError,
    InsufficientCreditsError,
    RateLimitedError,
    ServiceError,
    ThrottledError,
)
from clearcutout.web.rendering import choose_language, error_text, render, translator
from clearcutout.web.security import SESSION_COOKIE

log = logging.getLogger(__name__)

_API_PREFIXES = ("/api/", "/v1.0/", "/webhooks/")


def wants_json(request: Request) -> bool:
    if request.url.path.startswith(_API_PREFIXES):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_body(code: str, title: str, detail: str) -> dict[str, list[dict[str, str]]]:
    return {"errors": [{"code": code, "title": title, "detail": detail}]}


def _respond(request: Request, *, status: int, code: str, title: str, detail: str) -> Response:
    if wants_json(request):
        return JSONResponse(error_body(code, title, detail), status_code=status)
    _ = translator(choose_language(request, None))
    return render(
        request,
        "error.html",
        {"title": _(title), "detail": detail, "status": status},
        status_code=status,
    )


def _from_the_page(request: Request) -> bool:
    """A browser page calling the API with its session (not an API client's key)."""
    return SESSION_COOKIE in request.cookies and "x-api-key" not in request.headers


async def handle_clearcutout_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ClearCutoutError)
    if exc.http_status >= 500:
        log.error("request.failed code=%s path=%s", exc.code, request.url.path)
    detail = exc.message
    if isinstance(exc, ServiceError) and not wants_json(request):
        detail = error_text(exc, choose_language(request, None))
    elif isinstance(exc, InsufficientCreditsError) and _from_the_page(request):
        # The upload page shows this message as it is (README, "Billing").
        detail = error_text(exc, choose_language(request, None))
    response = _respond(
        request, status=exc.http_status, code=exc.code, title=exc.title, detail=detail
    )
    if isinstance(exc, ThrottledError):
        response.headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, RateLimitedError):  # the plan's window (README, "Billing")
        response.headers["X-RateLimit-Limit"] = str(exc.rate.limit)
        response.headers["X-RateLimit-Remaining"] = str(exc.rate.remaining)
        response.headers["X-RateLimit-Reset"] = str(exc.rate.reset)
    return response


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{location}: {error.get('msg', 'invalid')}")
    return _respond(
        request,
        status=400,
        code="invalid_input",
        title="Invalid input",
        detail="; ".join(problems) or "The request is malformed.",
    )


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
    return response


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ClearCutoutError, handle_clearcutout_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
