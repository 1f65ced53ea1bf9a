"""remove.bg-compatible API: ``POST /v1.0/removebg`` and ``GET /v1.0/account``.

A client written for remove.bg works by changing only its base URL: same parameter
names and defaults, same bodies (multipart, JSON, form-urlencoded), same headers, same
error shape and status codes (400, 402, 403, 429). Authentication is ``X-Api-Key``
only. Processing is synchronous and ephemeral: nothing about the image is stored.

The route reads the body itself (capped, kept in memory: no spooled temporary file can
hold an image) and leaves the rest to :mod:`clearcutout.service.removebg`; each step
runs in its own unit of work so a counted request stays counted when a later step fails.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from clearcutout.errors import (
    AuthenticationError,
    ClearCutoutError,
    FileTooLargeError,
    InputError,
    InvalidBodyError,
    PermissionDeniedError,
    ThrottledError,
)
from clearcutout.service import removebg
from clearcutout.web.boundary import client_ip, runtime, unit_of_work
from clearcutout.web.errors import error_body

router = APIRouter(prefix="/v1.0", tags=["remove.bg compatible"])

_OVERHEAD: Final = 256 * 1024  # form fields and multipart framing besides the images
_MAX_FIELDS: Final = 64


class _MemoryMultiPartParser(MultiPartParser):
    """Starlette's parser with file parts kept in memory (the body is capped already)."""

    spool_max_size = 1 << 40


@dataclass
class _Body:
    fields: dict[str, object] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    error: ClearCutoutError | None = None


def _too_large(limit_mb: float) -> FileTooLargeError:
    error = FileTooLargeError(f"The request is larger than the upload limit of {limit_mb:g} MB.")
    error.http_status = 400
    return error


async def _read(request: Request, limit: int, limit_mb: float) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit_mb)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit_mb)
    return bytes(body)


async def _parse_body(request: Request) -> _Body:
    """Fields and files of any of remove.bg's three body kinds."""
    settings = runtime(request).settings
    image_limit = int(settings.max_upload_mb * 1024 * 1024)
    b64_limit = image_limit * 4 // 3 + 4
    content_type = request.headers.get("content-type", "").lower()
    parsed = _Body()
    if content_type.startswith("multipart/form-data"):
        # An image and a background image, either as a file or as base64 text.
        body = await _read(request, 2 * b64_limit + _OVERHEAD, settings.max_upload_mb)

        async def stream() -> AsyncGenerator[bytes, None]:
            yield body

        parser = _MemoryMultiPartParser(
            request.headers,
            stream(),
            max_files=4,
            max_fields=_MAX_FIELDS,
            max_part_size=b64_limit + 1024,
        )
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise InvalidBodyError(f"The multipart body is malformed: {exc.message}") from exc
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                await value.close()
                if len(data) > image_limit:
                    raise _too_large(settings.max_upload_mb)
                parsed.files.setdefault(name, data)
            else:
                parsed.fields.setdefault(name, value)
        return parsed
    body = await _read(request, b64_limit + _OVERHEAD, settings.max_upload_mb)
    if content_type.startswith("application/json"):
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError as exc:
            raise InvalidBodyError("The request body is not valid JSON.") from exc
        if not isinstance(payload, dict):
            raise InvalidBodyError("The request body must be a JSON object.")
        parsed.fields.update(payload)
        return parsed
    if content_type.startswith("application/x-www-form-urlencoded") or not body:
        try:
            pairs = parse_qsl(
                body.decode("utf-8"), keep_blank_values=True, max_num_fields=_MAX_FIELDS
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidBodyError("The form body is malformed.") from exc
        for name, value in pairs:
            parsed.fields.setdefault(name, value)
        return parsed
    raise InvalidBodyError(
        "Send multipart/form-data, application/json or application/x-www-form-urlencoded."
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


def _status(error: ClearCutoutError) -> int:
    """remove.bg's statuses: 400 bad input, 402 credits, 403 authentication, 429 rate."""
    if isinstance(error, ThrottledError):
        return 429
    if isinstance(error, removebg.InsufficientCreditsError):
        return 402
    if isinstance(error, AuthenticationError | PermissionDeniedError | removebg.ApiKeyError):
        return 403
    if isinstance(error, InputError):
        return 400
    return error.http_status


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


def _remove_background(request: Request, body: _Body) -> Response:
    settings = runtime(request).settings
    rate: removebg.RateLimit | None = None
    try:
        with unit_of_work(request) as ctx:
            admission = removebg.admit(
                ctx, api_key=request.headers.get("x-api-key"), client_ip=client_ip(request)
            )
        rate = admission.rate
        if body.error is not None:
            raise body.error
        parsed = removebg.parse_request(body.fields, body.files)
        with unit_of_work(request) as ctx:
            removebg.ensure_credits(ctx, admission.user_id, parsed.credits)
        started = time.perf_counter()
        try:
            result = removebg.run(parsed, settings=settings)
        except ClearCutoutError:
            with unit_of_work(request) as ctx:
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
                ctx,
                admission,
                model=result.model,
                outcome="done",
                seconds=result.seconds,
                credits=result.credits,
            )
    except ClearCutoutError as exc:
        return _error_response(exc, rate)
    return _result_response(result, admission.rate, as_json=_wants_json(request))


_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "content": {
            media_type: {
                "schema": {
                    "type": "object",
                    "properties": {
                        "image_file": {"type": "string", "format": "binary"},
                        "image_file_b64": {"type": "string"},
                        "image_url": {"type": "string"},
                        "size": {"type": "string", "default": "preview"},
                        "type": {"type": "string", "default": "auto"},
                        "format": {"type": "string", "default": "auto"},
                        "roi": {"type": "string"},
                        "crop": {"type": "boolean"},
                        "crop_margin": {"type": "string"},
                        "scale": {"type": "string"},
                        "position": {"type": "string"},
                        "channels": {"type": "string", "default": "rgba"},
                        "bg_color": {"type": "string"},
                        "bg_image_url": {"type": "string"},
                        "bg_image_file": {"type": "string", "format": "binary"},
                        "shadow_type": {"type": "string"},
                        "shadow_opacity": {"type": "string"},
                        "semitransparency": {"type": "boolean"},
                    },
                }
            }
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
    try:
        body = await _parse_body(request)
    except ClearCutoutError as exc:
        # Authentication and the rate limit come first; the body error is reported after.
        body = _Body(error=exc)
    return await run_in_threadpool(_remove_background, request, body)


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
    """Credits left this month, in remove.bg's shape."""
    return _account(request)
