"""Image jobs API (``/api/v1/jobs``): thin routes over ``service.jobs``.

Authenticated by ``X-Api-Key`` (scope ``images``) or the browser session (with the
``X-CSRF-Token`` header on state-changing requests). Bodies are read by
:mod:`clearcutout.web.uploads` (into memory, the size limit enforced while reading, never
spooled to a temporary file: no plaintext image byte reaches the disk); options by
:mod:`clearcutout.engine.options`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from clearcutout.db.models import User, new_id
from clearcutout.engine import CutoutOptions
from clearcutout.engine.options import (
    OPTION_NAMES,
    options_from_fields,
    parse_bool,
    parse_text,
)
from clearcutout.errors import (
    IdempotencyKeyError,
    RateLimit,
    UnknownParameterError,
)
from clearcutout.service import jobs
from clearcutout.service.billing import credits, ratelimit
from clearcutout.service.jobs import idempotency
from clearcutout.web import uploads
from clearcutout.web.boundary import api_principal, runtime, unit_of_work
from clearcutout.web.errors import rate_headers
from clearcutout.web.job_answers import (
    CREATE_BODY,
    JOBS_PATH,
    JobCreatedOut,
    JobListOut,
    JobOut,
    content_disposition,
    image_response,
    job_out,
    job_urls,
)
from clearcutout.web.openapi import object_schema, required_body
from clearcutout.workers import Executor

router = APIRouter(prefix=JOBS_PATH, tags=["jobs"])

#: Fields besides the options: the image, the model and ``store``, the name of a base64
#: image, and the browser form's CSRF field (checked from the header, ignored here).
_SOURCE_FIELDS: Final = frozenset({"image_file", "image_file_b64"})
_CONTROL_FIELDS: Final = frozenset({"model", "store", "filename"})
_IGNORED_FIELDS: Final = frozenset({"csrf_token"})


# -- parsing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _JobRequest:
    data: bytes
    filename: str | None
    options: CutoutOptions
    model: str | None
    store: bool
    fingerprint: str


async def _parse_job(request: Request) -> _JobRequest:
    """The image, the engine options, the model and ``store`` from the request's body."""
    upload_mb = runtime(request).settings.max_upload_mb
    body = await uploads.read_body(request, upload_mb=upload_mb, images=1)
    for name in body.files:
        if name != "image_file":
            raise UnknownParameterError(f"Unexpected file field {name!r}.")
    image = uploads.image_source(
        body, upload_mb=upload_mb, urls=False, bad_base64_code="invalid_input"
    )
    assert image.data is not None  # no URL source here
    for name in body.fields:
        if name not in OPTION_NAMES | _SOURCE_FIELDS | _CONTROL_FIELDS | _IGNORED_FIELDS:
            raise UnknownParameterError(f"Unknown parameter {name!r}.")
    model = body.fields.get("model")
    store = body.fields.get("store")
    return _JobRequest(
        data=image.data,
        filename=image.filename,
        options=options_from_fields(body.fields),
        model=(parse_text("model", model) if model is not None else "") or None,
        store=parse_bool("store", store) if store is not None else True,
        fingerprint=idempotency.request_hash(
            image.data,
            {name: value for name, value in body.fields.items() if name not in _IGNORED_FIELDS},
        ),
    )


def _executor(request: Request) -> Executor:
    executor: Executor = request.app.state.executor
    return executor


# -- routes ---------------------------------------------------------------------------------


@router.post(
    "",
    status_code=202,
    response_model=JobCreatedOut,
    openapi_extra=CREATE_BODY,
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
    user, rate = await run_in_threadpool(_authenticate, request)
    headers = rate_headers(rate)
    job = await _parse_job(request)
    if not job.store:
        processed = await run_in_threadpool(_process_now, request, user, job)
        response = image_response(
            processed, filename=jobs.download_name(job.filename, processed.image.extension)
        )
        response.headers.update(headers)
        return response
    key = request.headers.get("idempotency-key")
    info, replayed = await run_in_threadpool(_submit, request, user, job, key)
    if not replayed:
        # After the commit, never before: a worker must find the row.
        await run_in_threadpool(_executor(request).notify, info.id)
    urls = job_urls(info.id)
    created = JobCreatedOut(
        id=info.id,
        status=info.status,
        created_at=info.created_at,
        expires_at=info.expires_at,
        region=info.region,
        model=info.model,
        **urls,
    )
    headers["Location"] = urls["status_url"]
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(created.model_dump(mode="json"), status_code=202, headers=headers)


def _authenticate(request: Request) -> tuple[User, RateLimit | None]:
    """Who is asking, and their slot in the plan's rate-limit window (billing on)."""
    with unit_of_work(request) as ctx:
        user = api_principal(ctx, request, scope="images").user
        return user, ratelimit.take_account_slot(ctx, user)


def _submit(
    request: Request, user: User, job: _JobRequest, key: str | None
) -> tuple[jobs.JobInfo, bool]:
    """The new job, or with an ``Idempotency-Key`` seen before the job it created; and
    whether it is that earlier one."""
    try:
        with unit_of_work(request) as ctx:
            if key is not None:
                earlier = idempotency.replayed_job(
                    ctx, user, scope="jobs", key=key, fingerprint=job.fingerprint
                )
                if earlier is not None:
                    return jobs.get_job(ctx, user, earlier), True
            info = jobs.submit(
                ctx, user, job.data, job.options, model=job.model, original_name=job.filename
            )
            if key is not None:
                idempotency.remember(
                    ctx, user.id, scope="jobs", key=key, fingerprint=job.fingerprint, job_id=info.id
                )
            return info, False
    except IntegrityError:
        if key is None:
            raise
    # A concurrent request with the same key won: answer with its job.
    with unit_of_work(request) as ctx:
        earlier = idempotency.replayed_job(
            ctx, user, scope="jobs", key=key, fingerprint=job.fingerprint
        )
        if earlier is None:
            raise IdempotencyKeyError("This Idempotency-Key is in use by another request.")
        return jobs.get_job(ctx, user, earlier), True


def _process_now(request: Request, user: User, job: _JobRequest) -> jobs.ProcessedImage:
    # Charged before processing (so simultaneous requests cannot overdraw) and refunded
    # if the image fails; the charge is not held locked while the image is processed.
    reference = f"ephemeral:{new_id()}"
    with unit_of_work(request) as ctx:
        credits.charge(ctx, user, credits.credits_for_size(job.options.size), reference=reference)
    try:
        with unit_of_work(request) as ctx:
            return jobs.process_ephemeral(ctx, user, job.data, job.options, model=job.model)
    except BaseException:
        with unit_of_work(request) as ctx:
            credits.refund(ctx, user.id, reference=reference)
        raise


@router.get("", response_model=JobListOut)
def list_jobs(
    request: Request,
    page: Annotated[int, Query(ge=1, le=jobs.MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=jobs.MAX_PER_PAGE)] = 20,
) -> JobListOut:
    """The caller's jobs, newest first."""
    with unit_of_work(request) as ctx:
        user = api_principal(ctx, request, scope="images").user
        found = jobs.list_jobs(ctx, user, page=page, per_page=per_page)
        now = ctx.now()
    return JobListOut(
        data=[job_out(info, now) for info in found.items],
        page=found.page,
        per_page=found.per_page,
        total=found.total,
    )


@router.get(
    "/archive",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "The ZIP archive."}},
)
def download_archive(
    request: Request,
    ids: Annotated[
        str | None,
        Query(description="Comma-separated job ids (default: every finished job, newest first)"),
    ] = None,
    image_format: Annotated[
        str,
        Query(
            alias="format",
            description="png, webp, jpg or auto",
            json_schema_extra={"enum": ["png", "webp", "jpg", "auto"]},
        ),
    ] = "png",
) -> Response:
    """\"Download all\": finished cutouts as one ZIP, each named after its photo; jobs not
    (or no longer) finished are left out."""
    job_ids = [part.strip() for part in ids.split(",") if part.strip()] if ids else None
    with unit_of_work(request) as ctx:
        user = api_principal(ctx, request, scope="images").user
        built = jobs.archive(ctx, user, job_ids, image_format=image_format)
    return Response(
        built.data,
        media_type="application/zip",
        headers={
            "Content-Disposition": content_disposition("attachment", "cutouts.zip"),
            "Cache-Control": "no-store",
        },
    )


@router.get("/{job_id}", response_model=JobOut)
def get_job(request: Request, job_id: str) -> JobOut:
    """A job's status, options, timings and expiry."""
    with unit_of_work(request) as ctx:
        user = api_principal(ctx, request, scope="images").user
        info = jobs.get_job(ctx, user, job_id)
        now = ctx.now()
        waiting = info.status == jobs.JobStatus.QUEUED and ctx.settings.executor == "celery"
        stranded = waiting and jobs.alive_regions(ctx).get(info.region, 0) == 0
    out = job_out(info, now)
    if stranded:
        out.status_detail = (
            f"No worker of region {info.region} is running; the job waits until one starts."
        )
    return out


@router.get(
    "/{job_id}/result",
    response_class=Response,
    responses={
        # ``format=zip``: the colour image and the mask, as remove.bg's zip.
        200: {
            "content": {
                "image/png": {},
                "image/webp": {},
                "image/jpeg": {},
                "application/zip": {},
            }
        },
        409: {"description": "Not done yet."},
        410: {"description": "Expired: the images were deleted."},
    },
)
def get_result(
    request: Request,
    job_id: str,
    image_format: Annotated[
        str | None,
        Query(
            alias="format",
            description="png, webp, jpg, zip or auto",
            json_schema_extra={"enum": ["png", "webp", "jpg", "zip", "auto"]},
        ),
    ] = None,
    bg_color: Annotated[
        str | None, Query(description="Hex colour or colour name (default: the job's)")
    ] = None,
) -> Response:
    """The cutout, encoded as asked, without metadata."""
    with unit_of_work(request) as ctx:
        user = api_principal(ctx, request, scope="images").user
        named = jobs.named_result(ctx, user, job_id, image_format=image_format, bg_color=bg_color)
    return image_response(named.processed, filename=named.filename)


@router.post(
    "/{job_id}/result",
    response_class=Response,
    openapi_extra=required_body(
        {
            "multipart/form-data": object_schema(
                ["bg_image_file"],
                {
                    "bg_image_file": {"type": "string", "format": "binary"},
                    "format": {"type": "string", "enum": ["png", "webp", "jpg"]},
                },
            )
        }
    ),
    responses={200: {"content": {"image/png": {}, "image/webp": {}, "image/jpeg": {}}}},
)
async def compose_result(request: Request, job_id: str) -> Response:
    """The cutout on a background photo (``bg_image_file``), made now; the photo is used
    for this answer only and never stored."""
    # Who is asking before the upload is read and decoded: without a key or session the
    # answer is 401, and no stranger's photo is parsed (as for ``POST /api/v1/jobs``).
    await run_in_threadpool(_signed_in, request)
    upload_mb = runtime(request).settings.max_upload_mb
    body = await uploads.read_body(request, upload_mb=upload_mb, images=1)
    background = body.files.get("bg_image_file")
    if background is None or set(body.files) != {"bg_image_file"}:
        raise UnknownParameterError("Send the background photo as the file bg_image_file.")
    image_format = body.fields.get("format")
    return await run_in_threadpool(
        _composed_result,
        request,
        job_id,
        background.data,
        parse_text("format", image_format) if image_format is not None else None,
    )


def _signed_in(request: Request) -> None:
    with unit_of_work(request) as ctx:
        api_principal(ctx, request, scope="images")


def _composed_result(
    request: Request, job_id: str, background: bytes, image_format: str | None
) -> Response:
    with unit_of_work(request) as ctx:
        user = api_principal(ctx, request, scope="images").user
        named = jobs.named_result(
            ctx, user, job_id, image_format=image_format, background=background
        )
    return image_response(named.processed, filename=named.filename)


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


@router.post("/{job_id}/retry", status_code=202, response_model=JobOut)
def retry_job(request: Request, job_id: str) -> Response:
    """Queue a failed job again (its original is still stored): fresh attempts."""
    with unit_of_work(request) as ctx:
        user = api_principal(ctx, request, scope="images").user
        job = jobs.retry_job(ctx, user, job_id)
        info = jobs.job_info(ctx, job)
        now = ctx.now()
    _executor(request).notify(info.id)
    out = job_out(info, now)
    return JSONResponse(
        out.model_dump(mode="json"),
        status_code=202,
        headers={"Location": job_urls(job_id)["status_url"]},
    )
