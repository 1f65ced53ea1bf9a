"""remove.bg-compatible API: ``POST /v1.0/removebg`` and ``GET /v1.0/account``.

A client written for remove.bg works by changing only its base URL: same parameter
names and defaults, same bodies (multipart, JSON, form-urlencoded), same headers, same
error shape and status codes (400, 402, 403, 429). Authentication is ``X-Api-Key``
only. Processing is synchronous and ephemeral: nothing about the image is stored.

The body is read by :mod:`clearcutout.web.uploads` (capped, kept in memory: no spooled
temporary file can hold an image); the rest is :mod:`clearcutout.service.removebg`'s.
Each step runs in its own unit of work so a counted request stays counted when a later
step fails. The key is checked and the request counted before a byte of the body is
read: an anonymous caller cannot make the server receive and hold two images' worth of
body per request.
"""

from __future__ import annotations

import base64
import time
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from clearcutout.engine.options import options_schema
from clearcutout.errors import (
    AuthenticationError,
    BusyError,
    ClearCutoutError,
    InputError,
    PermissionDeniedError,
    ThrottledError,
)
from clearcutout.service import removebg
from clearcutout.service.jobs import idempotency
from clearcutout.web import uploads
from clearcutout.web.boundary import client_ip, runtime, unit_of_work
from clearcutout.web.errors import error_body, rate_headers
from clearcutout.web.negotiation import prefers_json
from clearcutout.web.openapi import required_body

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


def _error_response(error: ClearCutoutError, rate: removebg.RateLimit | None) -> Response:
    if isinstance(error, removebg.ApiKeyError | removebg.RateLimitedError):
        rate = error.rate
    headers = rate_headers(rate)
    if isinstance(error, ThrottledError | BusyError) or error.transient:
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
        **rate_headers(rate),
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


def _wants_json(request: Request, media_type: str) -> bool:
    """JSON only when the client prefers it to the image (``web.negotiation``)."""
    return prefers_json(request.headers.get("accept"), media_type)


# -- the synchronous parts (run in the thread pool) ---------------------------------------


def _admit(request: Request) -> removebg.Admission:
    """Authenticate ``X-Api-Key`` and count the request, before its body is read: a
    caller without a valid key must not make us receive and hold up to two images."""
    with unit_of_work(request) as ctx:
        return removebg.admit(
            ctx, api_key=request.headers.get("x-api-key"), client_ip=client_ip(request)
        )


def _remove_background(
    request: Request, admission: removebg.Admission, body: uploads.RequestBody
) -> Response:
    settings = runtime(request).settings
    try:
        parsed = _parse(request, body)
        key = request.headers.get("idempotency-key")
        fingerprint = _fingerprint(body, parsed)
        with unit_of_work(request) as ctx:
            # A repeated Idempotency-Key: the same answer again, not a second charge.
            replayed = key is not None and idempotency.find(
                ctx, admission.user_id, scope="removebg", key=key, fingerprint=fingerprint
            )
            # Charged before processing, so simultaneous requests cannot overdraw.
            reference = None if replayed else removebg.reserve(ctx, admission, parsed.credits)
        started = time.perf_counter()
        try:
            result = removebg.run(parsed, settings=settings, region=admission.region)
        except BaseException as failure:
            with unit_of_work(request) as ctx:
                if reference is not None:
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
        if reference is not None:
            replayed = _record_done(request, admission, result, key, fingerprint, reference)
    except ClearCutoutError as exc:
        return _error_response(exc, admission.rate)
    as_json = _wants_json(request, result.media_type)
    response = _result_response(result, admission.rate, as_json=as_json)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _record_done(
    request: Request,
    admission: removebg.Admission,
    result: removebg.RemoveBgResult,
    key: str | None,
    fingerprint: str,
    reference: str,
) -> bool:
    """Count the finished image and remember its key; whether a concurrent request with
    the same key was first (then this one's charge is given back: one charge per key)."""
    try:
        with unit_of_work(request) as ctx:
            removebg.record_outcome(
                ctx, admission, model=result.model, outcome="done", seconds=result.seconds
            )
            if key is not None:
                idempotency.remember(
                    ctx, admission.user_id, scope="removebg", key=key, fingerprint=fingerprint
                )
        return False
    except IntegrityError:
        with unit_of_work(request) as ctx:
            removebg.release(ctx, admission, reference)
        return True


def _fingerprint(body: uploads.RequestBody, parsed: removebg.RemoveBgRequest) -> str:
    """What makes two calls the same call: the images (or their URLs) and every field."""
    data = b"\x00".join(
        part or b""
        for part in (
            parsed.image_data,
            (parsed.image_url or "").encode(),
            parsed.background_data,
            (parsed.background_url or "").encode(),
        )
    )
    fields = {name: value for name, value in body.fields.items() if not name.endswith("_b64")}
    return idempotency.request_hash(data, fields)


_SOURCES: Final = ("image_file", "image_file_b64", "image_url")
_ONE_SOURCE = (
    "Exactly one image source: `image_file` (multipart only), `image_file_b64` or "
    "`image_url`; none is `missing_source`, more than one `multiple_sources` (400). "
    "At most one background: `bg_color`, `bg_image_url` or `bg_image_file` (multipart only)."
)


def _body_schema(media_type: str) -> dict[str, Any]:
    """The fields remove.bg documents, as one content type carries them (files only in
    multipart); ``oneOf`` states the exactly-one-image-source rule."""
    files = media_type == "multipart/form-data"
    properties: dict[str, Any] = {
        "image_file": {"type": "string", "format": "binary", "description": "The photo."},
        "image_file_b64": {"type": "string", "description": "The photo, base64-encoded."},
        "image_url": {"type": "string", "format": "uri", "description": "The photo's URL."},
        "type": {
            "type": "string",
            "enum": list(removebg.TYPES),
            "default": "auto",
            "description": "The kind of subject (answered in `X-Type`).",
        },
        "bg_image_url": {"type": "string", "format": "uri", "description": "Background URL."},
        "bg_image_file": {"type": "string", "format": "binary", "description": "Background."},
        **options_schema("removebg"),
    }
    if not files:
        del properties["image_file"], properties["bg_image_file"]
    sources = [name for name in _SOURCES if name in properties]
    return {
        "type": "object",
        "description": _ONE_SOURCE,
        "properties": properties,
        "oneOf": [{"required": [name]} for name in sources],
    }


_INT_HEADER: Final = {"schema": {"type": "integer"}}
_RATE_HEADERS: Final = {
    "X-RateLimit-Limit": {"description": "Requests allowed per minute.", **_INT_HEADER},
    "X-RateLimit-Remaining": {"description": "Requests left this minute.", **_INT_HEADER},
    "X-RateLimit-Reset": {"description": "When the window resets (Unix time).", **_INT_HEADER},
}
_RESULT_HEADERS: Final = {
    "X-Type": {
        "description": "The kind of subject found.",
        "schema": {"type": "string", "enum": [*removebg.TYPES[1:], "other"]},
    },
    "X-Width": {"description": "Width of the result in pixels.", **_INT_HEADER},
    "X-Height": {"description": "Height of the result in pixels.", **_INT_HEADER},
    "X-Credits-Charged": {"description": "Credits charged.", "schema": {"type": "number"}},
    "X-Foreground-Top": {"description": "Subject box: top, in pixels.", **_INT_HEADER},
    "X-Foreground-Left": {"description": "Subject box: left, in pixels.", **_INT_HEADER},
    "X-Foreground-Width": {"description": "Subject box: width, in pixels.", **_INT_HEADER},
    "X-Foreground-Height": {"description": "Subject box: height, in pixels.", **_INT_HEADER},
    **_RATE_HEADERS,
}
_JSON_RESULT: Final = {
    "type": "object",
    "properties": {
        "data": {
            "type": "object",
            "properties": {
                "result_b64": {"type": "string", "description": "The image, base64-encoded."},
                "foreground_top": {"type": "integer"},
                "foreground_left": {"type": "integer"},
                "foreground_width": {"type": "integer"},
                "foreground_height": {"type": "integer"},
            },
        }
    },
}
_BODY_DOC: dict[str, Any] = {
    "description": "Remove the background of one image, as remove.bg's API does (nothing "
    "is stored). " + _ONE_SOURCE,
    **required_body(
        {
            media_type: {"schema": _body_schema(media_type)}
            for media_type in (
                "multipart/form-data",
                "application/json",
                "application/x-www-form-urlencoded",
            )
        }
    ),
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The cutout in the format asked for (`format`); JSON with the image "
        "base64-encoded only when the client prefers `application/json` in `Accept` to "
        "the image (q-values honoured; `*/*` or `image/*` as high gets the image).",
        "headers": _RESULT_HEADERS,
        "content": {
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            "image/webp": {"schema": {"type": "string", "format": "binary"}},
            "application/zip": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": _JSON_RESULT},
        },
    },
}


@router.post("/removebg", response_class=Response, openapi_extra=_BODY_DOC, responses=_RESPONSES)
async def remove_background(request: Request) -> Response:
    """Remove the background of one image, as remove.bg's API does (nothing is stored)."""
    settings = runtime(request).settings
    try:
        admission = await run_in_threadpool(_admit, request)
    except ClearCutoutError as exc:
        # Answered without reading the body; Uvicorn drops the connection's unread rest.
        return _error_response(exc, None)
    try:
        body = await uploads.read_body(request, upload_mb=settings.max_upload_mb, images=2)
    except ClearCutoutError as exc:
        return _error_response(exc, admission.rate)
    return await run_in_threadpool(_remove_background, request, admission, body)


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
        headers={"Cache-Control": "no-store", **rate_headers(rate)},
    )


@router.get("/account", response_class=Response)
def get_account(request: Request) -> Response:
    """Credits left (plan and purchased), in remove.bg's shape."""
    return _account(request)
