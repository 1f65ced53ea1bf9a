"""Privacy and staff accountability: email preferences and consent history, privacy
requests, the access log, incidents, alerts, policy versions and data exports."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from clearcutout.db.models.base import AccountData, AccountDataInOwnIndex, Base, new_id, utcnow


class EmailPreference(Base):
    """A user's choice for one optional email category (no row: the category default)."""

    __tablename__ = "email_preferences"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    subscribed: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsentEvent(AccountDataInOwnIndex, Base):
    """Consent and email-preference history: who changed what, when, and from where.

    ``kind`` is ``email_preference`` (``subject`` = category, ``value`` = ``subscribed`` /
    ``unsubscribed``) or ``policy`` (``subject`` = policy version, ``value`` = ``accepted``).
    ``actor`` is ``self``, ``staff:<id>`` or ``operator``; ``source`` names the page or link.
    """

    __tablename__ = "consent_events"
    __table_args__ = (Index("ix_consent_events_user", "user_id", "created_at"),)

    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(48))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PrivacyRequest(AccountData, Base):
    """An objection to a kind of processing, or a privacy question; the text is sealed."""

    __tablename__ = "privacy_requests"
    __table_args__ = (Index("ix_privacy_requests_status", "status", "created_at"),)

    kind: Mapped[str] = mapped_column(String(16))
    processing: Mapped[str | None] = mapped_column(String(32))
    message_enc: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(32))


class AccessLogEntry(Base):
    """Staff access to a person's data, role changes, staff sign-ins, exports and
    deletions: who, when, whose, what, why and from where.

    Ids only (no names or emails), and no foreign keys: entries outlive both accounts.
    Append-only and hash-chained: ``seq`` numbers the entries without gaps and
    ``entry_hash`` covers every field plus ``prev_hash`` (``service.staff.accesslog`` is
    the one writer; on PostgreSQL the application role may only INSERT and SELECT).
    """

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_subject", "subject_user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    actor_user_id: Mapped[str] = mapped_column(String(32))
    # ``support``, ``admin``, ``user`` (the person themself) or ``operator`` (the shell).
    actor_role: Mapped[str] = mapped_column(String(16), default="")
    actor_staff_number: Mapped[int | None] = mapped_column(Integer)
    subject_user_id: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    entry_hash: Mapped[str] = mapped_column(String(64), default="")


class Incident(Base):
    """A personal-data breach: what happened, when it was detected, and the 72-hour
    deadline for telling the people affected (privacy policy, "Data Breach")."""

    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[datetime]
    deadline_at: Mapped[datetime]
    # How the affected users were chosen: ``{"user_ids": [...]}`` or the query's fields.
    selection: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IncidentRecipient(Base):
    """One affected user and the delivery of their breach notice (ids only)."""

    __tablename__ = "incident_recipients"

    incident_id: Mapped[str] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    lang: Mapped[str] = mapped_column(String(8), default="en")
    delivered_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))


class AuditAlert(Base):
    """A monitoring rule that fired (``service.staff.monitoring``), shown to admins."""

    __tablename__ = "audit_alerts"
    __table_args__ = (Index("ix_audit_alerts_created", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    rule: Mapped[str] = mapped_column(String(32))
    actor_user_id: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]


class PolicyVersionRow(Base):
    """One published version of the privacy policy; ``id`` is its effective date."""

    __tablename__ = "policy_versions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    effective_date: Mapped[date] = mapped_column(Date, index=True)
    summary: Mapped[str] = mapped_column(Text)
    # Translations of the summary by language code (emails use the reader's language).
    summary_translations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    significant: Mapped[bool] = mapped_column(Boolean, default=False)
    text: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(default=utcnow)


class DataExport(AccountData, Base):
    """A "Download my data" archive (``service.privacy.export``), built in the background.

    The ZIP is a sealed object under the user's prefix in their region (so a region move
    or an account deletion takes it along); ``status`` is ``pending``, ``ready`` or
    ``failed``. Link and object are gone after ``expires_at`` (retention sweeper).
    """

    __tablename__ = "data_exports"
    __table_args__ = (Index("ix_data_exports_status", "status", "created_at"),)

    region: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    object_key: Mapped[str | None] = mapped_column(String(255))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ready_at: Mapped[datetime | None]
    expires_at: Mapped[datetime] = mapped_column(index=True)
