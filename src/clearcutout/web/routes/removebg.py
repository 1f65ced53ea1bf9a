"""remove.bg-compatible API: ``POST /v1.0/removebg`` and ``GET /v1.0/account``.

A client written for remove.bg works by changing only its base URL: same parameter
names and defaults, same bodies (multipart, JSON, form-urlencoded), same headers, same
error shape and status codes (400, 402, 403, 429). Authentication is ``X-Api-Key``
only. Processing is synchronous and ephemeral: nothing about the image is stored.

The body is read by :mod:`clearcutout.web.uploads` (capped, kept in memory: no spooled
temporary file can hold an image); the rest is :mod:`clearcutout.service.removebg`'s.
Each step runs in its own unit of work so a counted request stays counted when a later
step fails.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from clearcutout.engine.options import options_schema
from clearcutout.errors import (
    AuthenticationError,
    ClearCutoutError,
    InputError,
    PermissionDeniedError,
    ThrottledError,
)
from clearcutout.service import removebg
from clearcutout.web import uploads
from clearcutout.web.boundary import client_ip, runtime, unit_of_work
from clearcutout.web.errors import error_body

router = APIRouter(prefix="/v1.0", tags=["remove.bg compatible"])

#: remove.bg answers bad input with 400 whatever our own status for it (413 for a file
#: too large, …), 402 for credits, 403 for authentication and 429 for the rate limit
#: (README, "remove.bg-compatible API"); the first class that matches wins.
_STATUSES: Final[dict[type[ClearCutoutError], int]] = {
    ThrottledError: 429,
    removebg.InsufficientCreditsError: 402,
    AuthenticationError: 403,
    PermissionDeniedError: 403,
    removebg.ApiKeyError: 403,
    InputError: 400,
}


def _status(error: ClearCutoutError) -> int:
    """The status remove.bg gives ``error``; ours where remove.bg has none."""
    return next(
        (status for kind, status in _STATUSES.items() if isinstance(error, kind)),
        error.http_status,
    )


@dataclass(frozen=True)
class _Body:
    """The body as read before authentication; a reading error is reported after it."""

    body: uploads.RequestBody
    error: ClearCutoutError | None = None


def _parse(request: Request, body: uploads.RequestBody) -> removebg.RemoveBgRequest:
    image = uploads.image_source(
        body,
        upload_mb=runtime(request).settings.max_upload_mb,
        urls=True,
        bad_base64_code="failed_to_read_image",
    )
    background = uploads.background_source(body)
    return removebg.parse_request(
        body.fields,
        image_data=image.data,
        image_url=image.url,
        background_data=background.data if background else None,
        background_url=background.url if background else None,
    )


# -- responses ----------------------------------------------------------------------------


def _rate_headers(rate: removebg.RateLimit | None) -> dict[str, str]:
    if rate is None:
        return {}
    return {
        "X-RateLimit-Limit": str(rate.limit),
        "X-RateLimit-Remaining": str(rate.remaining),
        "X-RateLimit-Reset": str(rate.reset),
    }


def _error_response(error: ClearCutoutError, rate: removebg.RateLimit | None) -> Response:
    if isinstance(error, removebg.ApiKeyError | removebg.RateLimitedError):
        rate = error.rate
    headers = _rate_headers(rate)
    if isinstance(error, ThrottledError):
        headers["Retry-After"] = str(error.retry_after_s)
    headers["Cache-Control"] = "no-store"
    return JSONResponse(
        error_body(error.code, error.title, error.message),
        status_code=_status(error),
        headers=headers,
    )


def _result_response(
    result: removebg.RemoveBgResult, rate: removebg.RateLimit, *, as_json: bool
) -> Response:
    box = result.foreground
    headers = {
        "X-Type": result.type,
        "X-Width": str(result.width),
        "X-Height": str(result.height),
        "X-Credits-Charged": f"{result.credits:g}",
        "X-Foreground-Top": str(box.top),
        "X-Foreground-Left": str(box.left),
        "X-Foreground-Width": str(box.width),
        "X-Foreground-Height": str(box.height),
        "Cache-Control": "no-store",
        **_rate_headers(rate),
    }
    if as_json:
        data = {
            "result_b64": base64.b64encode(result.data).decode("ascii"),
            "foreground_top": box.top,
            "foreground_left": box.left,
            "foreground_width": box.width,
            "foreground_height": box.height,
        }
        return JSONResponse({"data": data}, headers=headers)
    return Response(result.data, media_type=result.media_type, headers=headers)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "").lower()


# -- the synchronous part (runs in the thread pool) ----------------------------------------


def _remove_background(request: Request, read: _Body) -> Response:
    settings = runtime(request).settings
    rate: removebg.RateLimit | None = None
    try:
        with unit_of_work(request) as ctx:
            admission = removebg.admit(
                ctx, api_key=request.headers.get("x-api-key"), client_ip=client_ip(request)
            )
        rate = admission.rate
        if read.error is not None:
            raise read.error
        parsed = _parse(request, read.body)
        with unit_of_work(request) as ctx:
            # Charged before processing, so simultaneous requests cannot overdraw.
            reference = removebg.reserve(ctx, admission, parsed.credits)
        started = time.perf_counter()
        try:
            result = removebg.run(parsed, settings=settings)
        except BaseException as failure:
            with unit_of_work(request) as ctx:
                removebg.release(ctx, admission, reference)
                if isinstance(failure, ClearCutoutError):
                    removebg.record_outcome(
                        ctx,
                        admission,
                        model=removebg.model_for(settings),
                        outcome="failed",
                        seconds=time.perf_counter() - started,
                    )
            raise
        with unit_of_work(request) as ctx:
            removebg.record_outcome(
                ctx, admission, model=result.model, outcome="done", seconds=result.seconds
            )
    except ClearCutoutError as exc:
        return _error_response(exc, rate)
    return _result_response(result, admission.rate, as_json=_wants_json(request))


_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "image_file": {"type": "string", "format": "binary"},
        "image_file_b64": {"type": "string"},
        "image_url": {"type": "string"},
        "type": {"type": "string", "default": "auto"},
        "bg_image_url": {"type": "string"},
        "bg_image_file": {"type": "string", "format": "binary"},
        **options_schema("removebg"),
    },
}
_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "content": {
            media_type: {"schema": _BODY_SCHEMA}
            for media_type in (
                "multipart/form-data",
                "application/json",
                "application/x-www-form-urlencoded",
            )
        }
    }
}


@router.post("/removebg", response_class=Response, openapi_extra=_BODY_DOC)
async def remove_background(request: Request) -> Response:
    """Remove the background of one image, as remove.bg's API does (nothing is stored)."""
    settings = runtime(request).settings
    try:
        read = _Body(await uploads.read_body(request, upload_mb=settings.max_upload_mb, images=2))
    except ClearCutoutError as exc:
        # Authentication and the rate limit come first; the body error is reported after.
        read = _Body(uploads.RequestBody(), error=exc)
    return await run_in_threadpool(_remove_background, request, read)


def _account(request: Request) -> Response:
    rate: removebg.RateLimit | None = None
    try:
        with unit_of_work(request) as ctx:
            admission = removebg.admit(
                ctx,
                api_key=request.headers.get("x-api-key"),
                client_ip=client_ip(request),
                account_request=True,
            )
            rate = admission.rate
            balance = removebg.account_balance(ctx, admission.user_id)
    except ClearCutoutError as exc:
        return _error_response(exc, rate)
    credits = {
        "total": balance.total,
        "subscription": balance.subscription,
        "payg": balance.payg,
        "enterprise": balance.enterprise,
    }
    attributes = {"credits": credits, "api": {"free_calls": balance.free_calls, "sizes": "all"}}
    return JSONResponse(
        {"data": {"attributes": attributes}},
        headers={"Cache-Control": "no-store", **_rate_headers(rate)},
    )


@router.get("/account", response_class=Response)
def get_account(request: Request) -> Response:
    """Credits left (plan and purchased), in remove.bg's shape."""
    return _account(request)
