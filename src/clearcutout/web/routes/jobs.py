"""Image jobs API (``/api/v1/jobs``): thin routes over ``service.jobs``.

Authenticated by ``X-Api-Key`` (scope ``images``) or the browser session (with the
``X-CSRF-Token`` header on state-changing requests). Uploads are read into memory with
the size limit enforced while reading, never spooled to a temporary file: no plaintext
image byte reaches the disk.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from clearcutout.db.models import User
from clearcutout.engine import CutoutOptions
from clearcutout.errors import (
    ClearCutoutError,
    FileTooLargeError,
    InputError,
    InvalidOptionError,
    MissingSourceError,
    MultipleSourcesError,
    UnknownParameterError,
)
from clearcutout.service import jobs
from clearcutout.web.boundary import api_principal, runtime, unit_of_work
from clearcutout.workers import Executor

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

_OPTION_FIELDS = {field.name: field for field in dataclasses.fields(CutoutOptions)}
_BOOL_OPTIONS = frozenset(
    name for name, field in _OPTION_FIELDS.items() if isinstance(field.default, bool)
)
_INT_OPTIONS = frozenset({"shadow_opacity"})
_CONTROL_FIELDS = frozenset({"model", "store"})
_IGNORED_FIELDS = frozenset({"csrf_token"})
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
# Multipart framing and the other fields, on top of the image itself.
_FORM_OVERHEAD = 256 * 1024


class ErrorOut(BaseModel):
    code: str
    title: str
    detail: str


class BoxOut(BaseModel):
    top: int
    left: int
    width: int
    height: int


class JobCreatedOut(BaseModel):
    id: str
    status: str
    status_url: str
    result_url: str
    original_url: str
    created_at: datetime
    expires_at: datetime
    region: str
    model: str


class JobOut(BaseModel):
    id: str
    status: str
    error: ErrorOut | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime
    seconds_until_expiry: int
    region: str
    model: str
    options: dict[str, Any]
    timings: dict[str, float] | None
    result_url: str
    original_url: str
    original_name: str | None
    foreground: BoxOut | None


class JobListOut(BaseModel):
    data: list[JobOut]
    page: int
    per_page: int
    total: int


# -- parsing --------------------------------------------------------------------------------


class _InMemoryMultiPartParser(MultiPartParser):
    """Starlette's parser, with file parts kept in memory (the body is already capped)."""

    spool_max_size = 1 << 40


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FileTooLargeError(_too_large(request))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise FileTooLargeError(_too_large(request))
    return bytes(body)


def _too_large(request: Request) -> str:
    return f"The upload is over the limit of {runtime(request).settings.max_upload_mb:g} MB."


@dataclasses.dataclass
class _Upload:
    data: bytes
    filename: str | None
    fields: dict[str, Any]


async def _parse_upload(request: Request) -> _Upload:
    settings = runtime(request).settings
    image_limit = int(settings.max_upload_mb * 1024 * 1024)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        # Base64 is 4/3 of the bytes.
        body = await _read_body(request, image_limit * 4 // 3 + _FORM_OVERHEAD)
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise InputError("The request body is not valid JSON.") from exc
        if not isinstance(payload, dict):
            raise InputError("The request body must be a JSON object.")
        fields = dict(payload)
        decoded = _decode_b64(fields.pop("image_file_b64", None))
        if "image_file" in fields:
            raise InputError("In JSON, send the image as image_file_b64 (base64).")
        if decoded is None:
            raise MissingSourceError("Send the image as image_file_b64.")
        return _Upload(data=decoded, filename=_opt_str(fields.pop("filename", None)), fields=fields)
    if content_type.startswith("multipart/form-data"):
        body = await _read_body(request, image_limit + _FORM_OVERHEAD)

        async def stream() -> AsyncGenerator[bytes, None]:
            yield body

        parser = _InMemoryMultiPartParser(
            request.headers, stream(), max_files=2, max_fields=64, max_part_size=64 * 1024
        )
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise InputError(f"The multipart body is malformed: {exc.message}") from exc
        fields = {}
        data: bytes | None = None
        filename: str | None = None
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name != "image_file":
                    raise UnknownParameterError(f"Unexpected file field {name!r}.")
                if data is not None:
                    raise MultipleSourcesError("Send one image_file per job.")
                data, filename = await value.read(), value.filename
                await value.close()
            elif name == "image_file":
                raise InputError("image_file must be a file part.")
            else:
                fields[name] = value
        return _form_upload(request, data, filename, fields)
    if content_type.startswith("application/x-www-form-urlencoded"):
        body = await _read_body(request, image_limit * 4 // 3 + _FORM_OVERHEAD)
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=64)
        except (UnicodeDecodeError, ValueError) as exc:
            raise InputError("The form body is malformed.") from exc
        return _form_upload(request, None, None, dict(pairs))
    raise InputError("Send multipart/form-data (image_file) or application/json (image_file_b64).")


def _form_upload(
    request: Request, data: bytes | None, filename: str | None, fields: dict[str, Any]
) -> _Upload:
    b64 = _decode_b64(fields.pop("image_file_b64", None))
    if data is not None and b64 is not None:
        raise MultipleSourcesError("Send either image_file or image_file_b64, not both.")
    data = data if data is not None else b64
    if data is None:
        raise MissingSourceError("Send the image as the multipart file image_file.")
    if len(data) > int(runtime(request).settings.max_upload_mb * 1024 * 1024):
        raise FileTooLargeError(_too_large(request))
    return _Upload(data=data, filename=filename, fields=fields)


def _decode_b64(value: object) -> bytes | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InputError("image_file_b64 must be a base64 string.")
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError("image_file_b64 is not valid base64.") from exc


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _parse_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidOptionError(f"{name} must be true or false.", code=f"invalid_{name}")


def _parse_options(fields: dict[str, Any]) -> tuple[CutoutOptions, str | None, bool]:
    """The engine options, the model and ``store`` from the request's fields."""
    values: dict[str, Any] = {}
    model: str | None = None
    store = True
    for name, raw in fields.items():
        if name in _IGNORED_FIELDS:
            continue
        if name == "model":
            model = str(raw).strip() or None if raw is not None else None
        elif name == "store":
            store = _parse_bool("store", raw)
        elif name not in _OPTION_FIELDS:
            raise UnknownParameterError(f"Unknown parameter {name!r}.")
        elif raw is None or raw == "":
            continue
        elif name in _BOOL_OPTIONS:
            values[name] = _parse_bool(name, raw)
        elif name in _INT_OPTIONS:
            try:
                values[name] = int(raw)
            except (TypeError, ValueError) as exc:
                raise InvalidOptionError(
                    f"{name} must be a whole number.", code=f"invalid_{name}"
                ) from exc
        else:
            values[name] = raw if isinstance(raw, str) else str(raw)
    return CutoutOptions(**values), model, store


# -- rendering ------------------------------------------------------------------------------


def _urls(job_id: str) -> dict[str, str]:
    base = f"{router.prefix}/{job_id}"
    return {"status_url": base, "result_url": f"{base}/result", "original_url": f"{base}/original"}


def _error_title(code: str) -> str:
    pending: list[type[ClearCutoutError]] = [ClearCutoutError]
    while pending:
        cls = pending.pop()
        if cls.code == code:
            return cls.title
        pending.extend(cls.__subclasses__())
    return "Processing failed"


def _job_out(info: jobs.JobInfo, now: datetime) -> JobOut:
    urls = _urls(info.id)
    error = None
    if info.status == jobs.JobStatus.FAILED and info.error_code:
        error = ErrorOut(
            code=info.error_code,
            title=_error_title(info.error_code),
            detail=info.error_message or "",
        )
    box = info.foreground
    return JobOut(
        id=info.id,
        status=info.status,
        error=error,
        created_at=info.created_at,
        started_at=info.started_at,
        finished_at=info.finished_at,
        expires_at=info.expires_at,
        seconds_until_expiry=info.seconds_until_expiry(now),
        region=info.region,
        model=info.model,
        options=info.options,
        timings=info.timings,
        result_url=urls["result_url"],
        original_url=urls["original_url"],
        original_name=info.original_name,
        foreground=(
            BoxOut(top=box.top, left=box.left, width=box.width, height=box.height)
            if box is not None
            else None
        ),
    )


def _image_response(processed: jobs.ProcessedImage, *, filename: str) -> Response:
    box = processed.foreground
    encoded = processed.image
    return Response(
        content=encoded.data,
        media_type=encoded.media_type,
        headers={
            "X-Width": str(processed.width),
            "X-Height": str(processed.height),
            "X-Foreground-Top": str(box.top),
            "X-Foreground-Left": str(box.left),
            "X-Foreground-Width": str(box.width),
            "X-Foreground-Height": str(box.height),
            "Content-Disposition": f'inline; filename="{filename}.{encoded.extension}"',
        },
    )


def _executor(request: Request) -> Executor:
    executor: Executor = request.app.state.executor
    return executor


# -- routes ---------------------------------------------------------------------------------

_OPTION_PROPERTIES: dict[str, Any] = {
    name: {"type": "boolean"} if name in _BOOL_OPTIONS else {"type": "string"}
    for name in _OPTION_FIELDS
}
_OPTION_PROPERTIES["shadow_opacity"] = {"type": "integer", "minimum": 0, "maximum": 100}
_CONTROL_PROPERTIES: dict[str, Any] = {
    "model": {"type": "string", "description": "Model name (default: the server's)."},
    "store": {
        "type": "boolean",
        "default": True,
        "description": "false: process now, answer with the image and keep nothing.",
    },
}
_CREATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image_file"],
                    "properties": {
                        "image_file": {"type": "string", "format": "binary"},
                        **_CONTROL_PROPERTIES,
                        **_OPTION_PROPERTIES,
                    },
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["image_file_b64"],
                    "properties": {
                        "image_file_b64": {"type": "string", "format": "byte"},
                        "filename": {"type": "string"},
                        **_CONTROL_PROPERTIES,
                        **_OPTION_PROPERTIES,
                    },
                }
            },
        },
    }
}


@router.post(
    "",
    status_code=202,
    response_model=JobCreatedOut,
    openapi_extra=_CREATE_BODY,
    responses={
        200: {
            "description": "store=false: the cutout itself; nothing is kept.",
            "content": {"image/png": {}, "image/webp": {}, "image/jpeg": {}},
        },
        202: {"description": "The job is queued."},
    },
)
async def create_job(request: Request) -> Response:
    """Queue a cutout of an uploaded image (multipart ``image_file`` or JSON base64)."""
    user = await run_in_threadpool(_authenticate, request)
    upload = await _parse_upload(request)
    options, model, store = _parse_options(upload.fields)
    if not store:
        processed = await run_in_threadpool(_process_now, request, user, upload, options, model)
        return _image_response(processed, filename="cutout")
    info = await run_in_threadpool(_submit, request, user, upload, options, model)
    # After the commit, never before: a worker must find the row.
    _executor(request).notify(info.id)
    urls = _urls(info.id)
    created = JobCreatedOut(
        id=info.id,
        status=info.status,
        created_at=info.created_at,
        expires_at=info.expires_at,
        region=info.region,
        model=info.model,
        **urls,
    )
    return JSONResponse(
        created.model_dump(mode="json"), status_code=202, headers={"Location": urls["status_url"]}
    )


def _authenticate(request: Request) -> User:
    with unit_of_work(request) as ctx:
        return api_principal(ctx, request, scope="images").user


def _submit(
    request: Request, user: User, upload: _Upload, options: CutoutOptions, model: str | None
) -> jobs.JobInfo:
    with unit_of_work(request) as ctx:
        return jobs.submit(
            ctx, user, upload.data, options, model=model, original_name=upload.filename
        )


def _process_now(
    request: Request, user: User, upload: _Upload, options: CutoutOptions, model: str | None
) -> jobs.ProcessedImage:
    with unit_of_work(request) as ctx:
        return jobs.process_ephemeral(ctx, user, upload.data, options, model=model)


@router.get("", response_model=JobListOut)
def list_jobs(
    request: Request,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=jobs.MAX_PER_PAGE)] = 20,
) -> JobListOut:
    """The caller's jobs, newest first."""
    with unit_of_work(request) as ctx:
        user = api_principal(ctx, request, scope="images").user
        found = jobs.list_jobs(ctx, user, page=page, per_page=per_page)
        now = ctx.now()
    return JobListOut(
        data=[_job_out(info, now) for info in found.items],
        page=found.page,
        per_page=found.per_page,
        total=found.total,
    )


@router.get("/{job_id}", response_model=JobOut)
def get_job(request: Request, job_id: str) -> JobOut:
    """A job's status, options, timings and expiry."""
    with unit_of_work(request) as ctx:
        user = api_principal(ctx, request, scope="images").user
        info = jobs.get_job(ctx, user, job_id)
        now = ctx.now()
    return _job_out(info, now)


@router.get(
    "/{job_id}/result",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}, "image/webp": {}, "image/jpeg": {}}},
        409: {"description": "Not done yet."},
        410: {"description": "Expired: the images were deleted."},
    },
)
def get_result(
    request: Request,
    job_id: str,
    image_format: Annotated[
        str | None, Query(alias="format", description="png, webp, jpg, zip or auto")
    ] = None,
    bg_color: Annotated[
        str | None, Query(description="Hex colour or colour name (default: the job's)")
    ] = None,
) -> Response:
    """The cutout, encoded as asked, without metadata."""
    with unit_of_work(request) as ctx:
        user = api_principal(ctx, request, scope="images").user
        processed = jobs.result(ctx, user, job_id, image_format=image_format, bg_color=bg_color)
    return _image_response(processed, filename=f"cutout-{job_id[:8]}")


@router.get("/{job_id}/original", response_class=Response)
def get_original(request: Request, job_id: str) -> Response:
    """The uploaded original, decrypted (for a before/after view)."""
    with unit_of_work(request) as ctx:
        user = api_principal(ctx, request, scope="images").user
        stored = jobs.original(ctx, user, job_id)
    return Response(content=stored.data, media_type=stored.media_type)


@router.delete("/{job_id}", status_code=204, response_class=Response)
def delete_job(request: Request, job_id: str) -> Response:
    """Delete the job and its images now."""
    with unit_of_work(request) as ctx:
        user = api_principal(ctx, request, scope="images").user
        jobs.delete_job(ctx, user, job_id)
    return Response(status_code=204)
