"""Objections to processing and privacy questions (privacy policy, "Data Processing
Objection").

The message is personal data: sealed with the requester's key like their name and email
(so deleting the account shreds it). Requests are acknowledged by email and listed for
staff with their age; staff opening one is written to the access log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from clearcutout.db.models import PrivacyRequest, User, new_id
from clearcutout.errors import NotFoundError, ValidationError
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import userkeys
from clearcutout.service.infra.records import record_from
from clearcutout.service.staff import accesslog, require_staff

log = logging.getLogger(__name__)

OBJECTION = "objection"
QUESTION = "question"
KINDS: dict[str, str] = {
    OBJECTION: "Object to a kind of processing",
    QUESTION: "Ask a privacy question",
}
# What a person can object to: the kinds of processing the privacy policy names.
PROCESSING: dict[str, str] = {
    "usage_statistics": "Anonymous usage statistics",
    "analytics": "Website analytics (Umami)",
    "support_chat": "Support chat cookies (Tawk.to)",
    "affiliate_tracking": "Affiliate tracking (Endorsely)",
    "service_emails": "Service update emails",
    "other": "Other processing",
}
MAX_MESSAGE = 5000


@dataclass(frozen=True)
class RequestInfo:
    """A request as its author or staff see it (``message`` only when decrypted)."""

    id: str
    user_id: str
    kind: str
    processing: str | None
    status: str
    created_at: datetime
    age: timedelta
    message: str | None = None


def _field(request_id: str) -> str:
    return f"privacy_request:{request_id}"


def _info(ctx: ServiceContext, row: PrivacyRequest, message: str | None = None) -> RequestInfo:
    return record_from(RequestInfo, row, age=ctx.now() - row.created_at, message=message)


def submit(
    ctx: ServiceContext, user: User, *, kind: str, processing: str | None, message: str
) -> RequestInfo:
    """Store a request (message sealed) and acknowledge it by email."""
    if kind not in KINDS:
        raise ValidationError("Choose what you would like to do.", field="kind")
    if kind == OBJECTION:
        if processing not in PROCESSING:
            raise ValidationError("Choose the processing you object to.", field="processing")
    else:
        processing = None
    text = message.strip()
    if kind == QUESTION and not text:
        raise ValidationError("Write your question.", field="message")
    if len(text) > MAX_MESSAGE:
        raise ValidationError(
            "Use at most %(count)s characters.", field="message", params={"count": MAX_MESSAGE}
        )
    request_id = new_id()
    row = PrivacyRequest(
        id=request_id,
        user_id=user.id,
        kind=kind,
        processing=processing,
        message_enc=userkeys.seal(
            userkeys.user_key(ctx, user.id), user_id=user.id, field=_field(request_id), value=text
        ),
        status="open",
        created_at=ctx.now(),
    )
    ctx.db.add(row)
    ctx.db.flush()
    ctx.outbox.add(
        userkeys.email_to_user(
            ctx,
            user,
            kind="privacy_request_received",
            subject="We received your privacy request",
            paragraphs=[
                "Thank you for contacting us about your privacy. We have received your "
                "request (reference %(reference)s) and will answer within 30 days.",
                "You can see your requests on the Privacy page of your account.",
            ],
            action_url=f"{ctx.settings.base_url.rstrip('/')}/account/privacy",
            action_label="Open the Privacy page",
            params={"reference": row.id[:8]},
        )
    )
    log.info("privacy_request.submitted request_id=%s kind=%s", row.id, kind)
    return _info(ctx, row)


def list_own(ctx: ServiceContext, user: User) -> list[RequestInfo]:
    """The author's requests, newest first, with their messages."""
    key = userkeys.user_key(ctx, user.id)
    rows = ctx.db.scalars(
        select(PrivacyRequest)
        .where(PrivacyRequest.user_id == user.id)
        .order_by(PrivacyRequest.created_at.desc())
    )
    return [
        _info(
            ctx,
            row,
            userkeys.unseal(key, user_id=user.id, field=_field(row.id), blob=row.message_enc),
        )
        for row in rows
    ]


def list_for_staff(ctx: ServiceContext, staff: User, *, status: str = "open") -> list[RequestInfo]:
    """Requests for staff, oldest first, with their age; no personal data (not logged)."""
    require_staff(staff)
    rows = ctx.db.scalars(
        select(PrivacyRequest)
        .where(PrivacyRequest.status == status)
        .order_by(PrivacyRequest.created_at)
    )
    return [_info(ctx, row) for row in rows]


@dataclass(frozen=True, kw_only=True)
class OpenedRequest:
    request: RequestInfo
    requester_email: str
    requester_name: str


def open_for_staff(ctx: ServiceContext, staff: User, request_id: str) -> OpenedRequest:
    """Decrypt one request and its author's contact details for staff (logged)."""
    require_staff(staff)
    row = ctx.db.get(PrivacyRequest, request_id)
    if row is None:
        raise NotFoundError("No such request.")
    owner = ctx.db.get(User, row.user_id)
    assert owner is not None
    reason = f"answer privacy request {row.id}"
    accesslog.record_about(ctx, owner, actor=staff, action="read_privacy_request", reason=reason)
    key = userkeys.user_key(ctx, owner.id)
    message = userkeys.unseal(key, user_id=owner.id, field=_field(row.id), blob=row.message_enc)
    return OpenedRequest(
        request=_info(ctx, row, message),
        requester_email=userkeys.read_email(ctx, owner),
        requester_name=userkeys.read_name(ctx, owner),
    )


def close(ctx: ServiceContext, staff: User, request_id: str) -> None:
    """Mark a request answered."""
    require_staff(staff)
    row = ctx.db.get(PrivacyRequest, request_id)
    if row is None:
        raise NotFoundError("No such request.")
    row.status = "closed"
    row.closed_at = ctx.now()
    row.closed_by = staff.id
    log.info("privacy_request.closed request_id=%s", row.id)
