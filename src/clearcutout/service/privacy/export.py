"""Access and portability: "Download my data" as a ZIP archive.

The privacy policy: "You have the right to access your personal data and request a copy
in a portable format" ("Your Rights & Choices", "Access & Portability").

The archive holds, in portable formats:

* ``account.json`` – the account as the person gave it (email, name, region, plan…);
* ``preferences.json`` – theme, language and email preferences;
* ``jobs.json`` – every job's metadata (also expired ones, whose images are gone);
* ``images/<job id>/original.<ext>`` and ``images/<job id>/result.png`` – the images
  still retained, decrypted;
* ``access_log.json`` – every logged staff access to this person's data;
* ``consent_history.json`` – policy acceptances and email-preference changes;
* ``privacy_requests.json``, ``api_keys.json``, ``sessions.json`` – the rest we hold;
* ``billing.json`` – the credits ledger, balances, Stripe ids and invoices;
* ``README.txt`` – what each file is.

From the web, an archive is built in the background (a ``data_exports`` row, built by
``workers.tasks.build_exports`` from the housekeeping thread), stored sealed under
the person's prefix in their region, and announced by email with a link that expires
after ``export_link_hours`` and opens only for the signed-in owner. The API
(``GET /api/v1/account/export``) builds the same archive synchronously (:func:`build_zip`).
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from PIL import Image, UnidentifiedImageError
from sqlalchemy import CursorResult, select, update

from clearcutout.db.models import DataExport, Job, User
from clearcutout.errors import (
    ExportExpiredError,
    ExportNotReadyError,
    NotFoundError,
    ObjectNotFoundError,
)
from clearcutout.service import accounts, jobs
from clearcutout.service.accounts import apikeys, sessions
from clearcutout.service.billing import account as billing
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import objects
from clearcutout.service.infra.mail import render_email
from clearcutout.service.infra.records import record_from
from clearcutout.service.privacy import consent, emailprefs, residency
from clearcutout.service.privacy import requests as privacy_requests
from clearcutout.service.staff import accesslog

log = logging.getLogger(__name__)

__all__ = [
    "EXPORT_FILES",
    "ExportInfo",
    "build_export",
    "build_zip",
    "count_failure",
    "download",
    "export_link",
    "list_exports",
    "request_export",
    "waiting_exports",
]

PENDING = "pending"
READY = "ready"
FAILED = "failed"
_MAX_ATTEMPTS = 3

# The JSON files every archive has (images come on top).
EXPORT_FILES = (
    "README.txt",
    "account.json",
    "preferences.json",
    "jobs.json",
    "access_log.json",
    "consent_history.json",
    "privacy_requests.json",
    "api_keys.json",
    "sessions.json",
    "billing.json",
)

_README = """\
Your ClearCutout data, exported on {date}.

account.json            your account: email, name, data region, plan, dates
preferences.json        theme, language and which optional emails you receive
jobs.json               every image job we hold, with its options and dates
images/<job>/           the images we still store (originals and cutouts), decrypted;
                        images are deleted {days} days after upload
access_log.json         every time our staff accessed your data, and why
consent_history.json    privacy-policy acceptances and email-preference changes
privacy_requests.json   objections and questions you sent us
api_keys.json           your API keys (names and prefixes; the secrets are never stored)
sessions.json           the browsers signed in to your account
billing.json            your credits ledger, balances, Stripe ids and invoice amounts
"""


@dataclass(frozen=True)
class ExportInfo:
    id: str
    status: str
    created_at: datetime
    ready_at: datetime | None
    expires_at: datetime
    size_bytes: int | None


def _info(row: DataExport) -> ExportInfo:
    return record_from(ExportInfo, row)


def export_object_key(user_id: str, export_id: str) -> str:
    return f"{objects.user_prefix(user_id)}exports/{export_id}.zip"


def export_link(ctx: ServiceContext, export_id: str) -> str:
    return f"{ctx.settings.base_url.rstrip('/')}/account/privacy/export/{export_id}"


# -- building the archive -------------------------------------------------------------------


def _json(value: Any) -> bytes:
    def default(item: Any) -> Any:
        if isinstance(item, datetime | date):
            return item.isoformat()
        if isinstance(item, timedelta):
            return item.total_seconds()
        raise TypeError(f"not JSON serialisable: {type(item).__name__}")

    return json.dumps(value, default=default, indent=2, ensure_ascii=False).encode("utf-8")


def _extension(data: bytes) -> str:
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = (image.format or "").lower()
    except (UnidentifiedImageError, OSError):
        return "bin"
    return {"jpeg": "jpg", "tiff": "tif"}.get(fmt, fmt or "bin")


def _job_entries(ctx: ServiceContext, user: User) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    rows = ctx.db.scalars(
        select(Job).where(Job.user_id == user.id).order_by(Job.created_at, Job.id)
    ).all()
    metadata: list[dict[str, Any]] = []
    images: dict[str, bytes] = {}
    for row in rows:
        info = jobs.get_job(ctx, user, row.id)
        files: list[str] = []
        entry: dict[str, Any] = {
            "id": info.id,
            "status": info.status,
            "region": info.region,
            "model": info.model,
            "options": info.options,
            "original_name": info.original_name,
            "created_at": info.created_at,
            "started_at": info.started_at,
            "finished_at": info.finished_at,
            "expires_at": info.expires_at,
            "width": info.width,
            "height": info.height,
            "error_code": info.error_code,
            "files": files,
        }
        retained = row.status != jobs.JobStatus.EXPIRED and row.expires_at > ctx.now()
        for name, key in (("original", row.original_key), ("result", row.result_key)):
            if not retained or key is None:
                continue
            try:
                data = objects.get_object(ctx, owner_id=user.id, region=row.region, object_key=key)
            except ObjectNotFoundError:
                continue
            path = f"images/{row.id}/{name}.{_extension(data)}"
            images[path] = data
            files.append(path)
        metadata.append(entry)
    return metadata, images


def build_zip(ctx: ServiceContext, user: User) -> bytes:
    """The whole archive for ``user``, in memory (images are stored already compressed)."""
    profile = accounts.profile(ctx, user)
    jobs_meta, images = _job_entries(ctx, user)
    region = ctx.settings.regions.get(user.region)
    files: dict[str, bytes] = {
        "README.txt": _README.format(
            date=ctx.now().date().isoformat(), days=ctx.settings.retention_days
        ).encode("utf-8"),
        "account.json": _json(
            {
                **asdict(profile),
                "region_label": region.label if region else user.region,
                "plan": user.plan,
                "email_verified_at": user.email_verified_at,
                "age_confirmed_at": user.age_confirmed_at,
                "password_changed_at": user.password_changed_at,
                "referral_code": user.referral_code,
            }
        ),
        "preferences.json": _json(
            {
                "theme": user.theme,
                "lang": user.lang,
                "email": emailprefs.preferences(ctx, user),
            }
        ),
        "jobs.json": _json(jobs_meta),
        "access_log.json": _json([asdict(e) for e in accesslog.entries_about(ctx, user.id)]),
        "consent_history.json": _json([asdict(e) for e in consent.history(ctx, user)]),
        "privacy_requests.json": _json([asdict(r) for r in privacy_requests.list_own(ctx, user)]),
        "api_keys.json": _json([asdict(k) for k in apikeys.list_api_keys(ctx, user)]),
        "sessions.json": _json(
            [asdict(s) for s in sessions.list_sessions(ctx, user, current_id=None)]
        ),
        "billing.json": _json(billing.export_rows(ctx, user.id)),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
        for name, data in images.items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED)
    log.info("export.built user_id=%s jobs=%d images=%d", user.id, len(jobs_meta), len(images))
    return buffer.getvalue()


# -- the background export ------------------------------------------------------------------


def request_export(ctx: ServiceContext, user: User) -> ExportInfo:
    """Queue an archive for ``user`` (one waiting at a time; built after the commit)."""
    region = residency.hold_region(ctx, user)  # a region move in progress finishes first
    waiting = ctx.db.scalars(
        select(DataExport).where(DataExport.user_id == user.id, DataExport.status == PENDING)
    ).first()
    if waiting is not None:
        return _info(waiting)
    now = ctx.now()
    row = DataExport(
        user_id=user.id,
        region=region,
        status=PENDING,
        attempts=0,
        created_at=now,
        expires_at=now + timedelta(hours=ctx.settings.export_link_hours),
    )
    ctx.db.add(row)
    ctx.db.flush()
    # Privacy policy, "Access Controls": a data export is an access-log entry.
    reason = f"export {row.id} requested by the account's owner"
    accesslog.record_about(ctx, user, actor=user, action="data_export", reason=reason)
    log.info("export.requested export_id=%s", row.id)
    return _info(row)


def list_exports(ctx: ServiceContext, user: User) -> list[ExportInfo]:
    """The person's archives whose link has not expired, newest first."""
    rows = ctx.db.scalars(
        select(DataExport)
        .where(DataExport.user_id == user.id, DataExport.expires_at > ctx.now())
        .order_by(DataExport.created_at.desc())
    ).all()
    return [_info(row) for row in rows]


def build_export(ctx: ServiceContext, export_id: str) -> bool:
    """Build, seal and store one waiting archive, mark it ready and email the link.

    Idempotent: the object key is fixed per export and the move to ``ready`` is a
    conditional UPDATE, so a second run (or a concurrent one) sends no second email.
    True when this call finished it.
    """
    row = ctx.db.get(DataExport, export_id, populate_existing=True)
    if row is None or row.status != PENDING:
        return False
    user = ctx.db.get(User, row.user_id)
    if user is None:
        return False
    data = build_zip(ctx, user)
    key = export_object_key(user.id, row.id)
    objects.put_object(ctx, owner_id=user.id, region=row.region, object_key=key, data=data)
    outcome = cast(
        CursorResult[Any],
        ctx.db.execute(
            update(DataExport)
            .where(DataExport.id == row.id, DataExport.status == PENDING)
            .values(status=READY, object_key=key, size_bytes=len(data), ready_at=ctx.now()),
            execution_options={"synchronize_session": False},
        ),
    )
    if outcome.rowcount != 1:
        return False
    ctx.outbox.add(
        render_email(
            kind="data_export_ready",
            lang=user.lang,
            to=accounts.profile(ctx, user).email,
            subject="Your ClearCutout data is ready to download",
            greeting_name=accounts.profile(ctx, user).name,
            paragraphs=[
                "The copy of your data you asked for is ready. Sign in and open the link "
                "below to download it as a ZIP file.",
                "The link works until %(expires)s (UTC), and only when you are signed in "
                "to your account.",
            ],
            action_url=export_link(ctx, row.id),
            action_label="Download my data",
            params={"expires": row.expires_at.strftime("%Y-%m-%d %H:%M")},
        )
    )
    log.info("export.ready export_id=%s bytes=%d", row.id, len(data))
    return True


def waiting_exports(ctx: ServiceContext) -> list[str]:
    """The ids of the archives waiting to be built, oldest request first."""
    return list(
        ctx.db.scalars(
            select(DataExport.id)
            .where(DataExport.status == PENDING, DataExport.expires_at > ctx.now())
            .order_by(DataExport.created_at)
        ).all()
    )


def count_failure(ctx: ServiceContext, export_id: str) -> None:
    """A build failed: try again later, and give up after a few attempts."""
    row = ctx.db.get(DataExport, export_id)
    if row is None or row.status != PENDING:
        return
    row.attempts += 1
    if row.attempts >= _MAX_ATTEMPTS:
        row.status = FAILED


def download(ctx: ServiceContext, user: User, export_id: str) -> bytes:
    """The decrypted archive, for its owner only (anyone else: not found)."""
    row = ctx.db.get(DataExport, export_id)
    if row is None or row.user_id != user.id:
        raise NotFoundError("No such export.", code="export_not_found")
    if row.expires_at <= ctx.now():
        raise ExportExpiredError("This download link has expired. Ask for a new copy.")
    if row.status != READY or row.object_key is None:
        raise ExportNotReadyError("Your data is still being prepared. Try again in a moment.")
    try:
        return objects.get_object(
            ctx, owner_id=user.id, region=row.region, object_key=row.object_key
        )
    except ObjectNotFoundError as exc:
        raise ExportExpiredError("This download link has expired. Ask for a new copy.") from exc
