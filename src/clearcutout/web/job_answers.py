"""What the image jobs API (``web/routes/jobs.py``) answers: the JSON shapes of a job (the
OpenAPI response models) made from ``service.jobs``' ``JobInfo``, an image with its size
and foreground headers, and the OpenAPI declaration of the create body (read by
:mod:`clearcutout.web.uploads`, so FastAPI cannot infer it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

from fastapi.responses import Response
from pydantic import BaseModel

from clearcutout.engine.options import options_schema
from clearcutout.errors import ClearCutoutError
from clearcutout.service import jobs
from clearcutout.web.openapi import object_schema, required_body

#: Where the jobs API lives; a job's own URLs are under it.
JOBS_PATH: Final = "/api/v1/jobs"


# -- a job as JSON --------------------------------------------------------------------------


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
    # Why a queued job is not moving, when we know (scale-out: no worker of its region).
    status_detail: str | None = None
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


def job_urls(job_id: str) -> dict[str, str]:
    base = f"{JOBS_PATH}/{job_id}"
    return {"status_url": base, "result_url": f"{base}/result", "original_url": f"{base}/original"}


def _error_title(code: str) -> str:
    pending: list[type[ClearCutoutError]] = [ClearCutoutError]
    while pending:
        cls = pending.pop()
        if cls.code == code:
            return cls.title
        pending.extend(cls.__subclasses__())
    return "Processing failed"


def job_out(info: jobs.JobInfo, now: datetime) -> JobOut:
    urls = job_urls(info.id)
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


# -- an image -------------------------------------------------------------------------------


def content_disposition(kind: str, filename: str) -> str:
    """``Content-Disposition`` with the name as is (RFC 6266 ``filename*``, UTF-8) and an
    ASCII stand-in for old clients; header values must be Latin-1."""
    fallback = filename.encode("ascii", "replace").decode("ascii").replace('"', "'")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def image_response(processed: jobs.ProcessedImage, *, filename: str) -> Response:
    """``filename`` is the whole name (extension included)."""
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
            "Content-Disposition": content_disposition("inline", filename),
        },
    )


# -- the create body ------------------------------------------------------------------------

_OPTION_PROPERTIES: Final = options_schema()
_CONTROL_PROPERTIES: dict[str, Any] = {
    "model": {"type": "string", "description": "Model name (default: the server's)."},
    "store": {
        "type": "boolean",
        "default": True,
        "description": "false: process now, answer with the image and keep nothing.",
    },
}
CREATE_BODY: dict[str, Any] = required_body(
    {
        "multipart/form-data": object_schema(
            ["image_file"],
            {
                "image_file": {"type": "string", "format": "binary"},
                **_CONTROL_PROPERTIES,
                **_OPTION_PROPERTIES,
            },
        ),
        "application/json": object_schema(
            ["image_file_b64"],
            {
                "image_file_b64": {"type": "string", "format": "byte"},
                "filename": {"type": "string"},
                **_CONTROL_PROPERTIES,
                **_OPTION_PROPERTIES,
            },
        ),
    }
)
