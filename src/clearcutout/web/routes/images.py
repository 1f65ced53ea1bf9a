"""The images UI: the upload page (``/app``) and the history (``/app/history``).

The pages are thin: the upload page's script talks to the jobs API (``/api/v1/jobs``)
with the session cookie and the CSRF header; the history is rendered here from
``service.jobs``, with thumbnails served to their owner's session only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from babel.dates import format_timedelta
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from clearcutout.errors import AuthenticationError
from clearcutout.service import jobs
from clearcutout.service.jobs.thumbnails import thumbnail
from clearcutout.web.boundary import session_principal, unit_of_work
from clearcutout.web.error_messages import error_message, error_messages
from clearcutout.web.navigation import to_login
from clearcutout.web.rendering import choose_language, render

router = APIRouter(prefix="/app", include_in_schema=False)

HISTORY_PAGE_SIZE = 50

# What the upload page accepts, per format the engine reads (``engine.decode``; a test keeps
# the two lists equal): media types, and the file name endings of files that a browser
# reports without a type (HEIC, often).
BROWSER_FILE_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "JPEG": (("image/jpeg", "image/pjpeg"), (".jpg", ".jpeg", ".jfif")),
    "MPO": (("image/mpo",), (".mpo",)),
    "PNG": (("image/png", "image/apng"), (".png",)),
    "WEBP": (("image/webp",), (".webp",)),
    "TIFF": (("image/tiff",), (".tif", ".tiff")),
    "BMP": (("image/bmp", "image/x-ms-bmp"), (".bmp",)),
    "GIF": (("image/gif",), (".gif",)),
    "HEIF": (
        ("image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence"),
        (".heic", ".heif", ".hif"),
    ),
    "AVIF": (("image/avif",), (".avif",)),
}


@dataclass(frozen=True)
class HistoryRow:
    """One job as the history table shows it."""

    id: str
    name: str | None
    status: str
    created_at: object
    expires_at: object
    time_left: str
    seconds_left: int
    error: str | None
    # A failed job still within retention keeps its original: its owner may retry it.
    retryable: bool = False
    # The PNG download's name: the photo's own, ``dog.jpg`` → ``dog.png``.
    download_name: str = "cutout.png"


def _time_left(seconds: int, lang: str) -> str:
    """ "in 29 days", "in 5 hours", "in 12 minutes" (localised); never weeks or months.

    Babel picks the largest unit whose value reaches ``threshold``; passing the value in
    the wanted unit as the threshold makes exactly that unit win.
    """
    for unit_seconds in (86400, 3600, 60):
        value = round(seconds / unit_seconds)
        if seconds >= 2 * unit_seconds or unit_seconds == 60:
            return format_timedelta(
                timedelta(seconds=max(value, 1) * unit_seconds),
                threshold=max(value, 1),
                add_direction=True,
                locale=lang,
            )
    raise AssertionError("unreachable")


@router.get("", response_class=HTMLResponse)
def upload_page(request: Request) -> Response:
    """Upload photos and get their cutouts."""
    with unit_of_work(request) as ctx:
        principal = session_principal(ctx, request)
        if principal is None:
            return to_login(request)
        limit_mb = ctx.settings.max_upload_mb
        retention_days = ctx.settings.retention_days
        default_quality = ctx.settings.default_quality
    lang = choose_language(request, principal.user)
    media_types = [kind for types, _ in BROWSER_FILE_TYPES.values() for kind in types]
    endings = [ending for _, endings in BROWSER_FILE_TYPES.values() for ending in endings]
    return render(
        request,
        "images_upload.html",
        {
            "limit_mb": f"{limit_mb:g}",
            # The browser refuses a larger file before sending it; the server checks again.
            "limit_bytes": int(limit_mb * 1024 * 1024),
            "media_types": media_types,
            "endings": endings,
            "retention_days": retention_days,
            "error_messages": error_messages(lang),
            "default_quality": default_quality,
        },
        user=principal.user,
    )


@router.get("/history", response_class=HTMLResponse)
def history_page(request: Request, page: int = 1) -> Response:
    """Every image of the signed-in person, its status and the time until deletion."""
    with unit_of_work(request) as ctx:
        principal = session_principal(ctx, request)
        if principal is None:
            return to_login(request)
        page = min(max(1, page), jobs.MAX_PAGE)
        found = jobs.list_jobs(ctx, principal.user, page=page, per_page=HISTORY_PAGE_SIZE)
        now = ctx.now()
    lang = choose_language(request, principal.user)
    rows = []
    for info in found.items:
        seconds = info.seconds_until_expiry(now)
        expired = info.status == jobs.JobStatus.EXPIRED or seconds == 0
        rows.append(
            HistoryRow(
                id=info.id,
                name=info.original_name,
                status=jobs.JobStatus.EXPIRED.value if expired else info.status,
                created_at=info.created_at,
                expires_at=info.expires_at,
                time_left=_time_left(seconds, lang),
                seconds_left=seconds,
                error=error_message(info.error_code, info.error_message, lang)
                if info.error_code or info.error_message
                else None,
                retryable=info.status == jobs.JobStatus.FAILED and not expired,
                download_name=jobs.download_name(info.original_name, "png"),
            )
        )
    pages = max(1, -(-found.total // found.per_page))
    return render(
        request,
        "images_history.html",
        {"rows": rows, "page": found.page, "pages": pages, "total": found.total},
        user=principal.user,
    )


@router.get("/history/{job_id}/thumbnail", response_class=Response)
def history_thumbnail(request: Request, job_id: str) -> Response:
    """A small preview of a finished cutout, for the signed-in owner only."""
    with unit_of_work(request) as ctx:
        principal = session_principal(ctx, request)
        if principal is None:
            raise AuthenticationError("Sign in to see your images.")
        image = thumbnail(ctx, principal.user, job_id)
    return Response(content=image.data, media_type=image.media_type)
