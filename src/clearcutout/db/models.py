"""SQLAlchemy models. Personal data is stored only encrypted (``*_enc`` columns).

``*_enc`` columns hold AES-GCM envelopes under the user's key (``clearcutout.crypto``);
``*_index`` columns hold HMAC blind indexes; ``*_hash`` columns hold hashes of secrets
(session tokens, API keys, emailed tokens) so a database dump cannot be replayed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AccessLogEntry",
    "ApiKey",
    "AuditAlert",
    "AuthSession",
    "Base",
    "BillingAccount",
    "BillingEvent",
    "BillingInvoice",
    "ConsentEvent",
    "CreditEntry",
    "DataExport",
    "EmailPreference",
    "EmailToken",
    "Incident",
    "IncidentRecipient",
    "Job",
    "PolicyAcceptance",
    "PolicyVersionRow",
    "PrivacyRequest",
    "ThrottleEvent",
    "UsageDaily",
    "User",
    "UserKey",
    "WorkerHeartbeat",
    "new_id",
    "utcnow",
]


def new_id() -> str:
    """A random primary key (UUID4 hex): ids never reveal counts or order."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012 (SQLAlchemy API)


class AccountData:
    """The first columns of a table of one account's data: the row's own id, and the
    account's, whose deletion deletes the row."""

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id, sort_order=-2)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, sort_order=-1
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    email_index: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    email_enc: Mapped[bytes] = mapped_column(LargeBinary)
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    password_hash: Mapped[str] = mapped_column(String(255))
    region: Mapped[str] = mapped_column(String(32))
    theme: Mapped[str] = mapped_column(String(16), default="system")
    lang: Mapped[str] = mapped_column(String(8), default="en")
    email_verified_at: Mapped[datetime | None]
    age_confirmed_at: Mapped[datetime]
    password_changed_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Billing plan; some regions are offered only to some plans (``RegionSettings.plans``).
    plan: Mapped[str] = mapped_column(String(32), default="free")
    # Staff may read privacy requests and flag accounts (every access is in ``access_log``).
    # ``is_staff`` mirrors ``staff_role is not None`` (``service.staff.roles`` sets both).
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    # ``support`` or ``admin`` (None: a plain user); ``staff_number`` is how users see the
    # person in "Who accessed your data" (role + number, never a name).
    staff_role: Mapped[str | None] = mapped_column(String(16))
    staff_number: Mapped[int | None] = mapped_column(Integer, unique=True)
    # The TOTP secret sealed under the user's key; recovery codes as SHA-256 hex digests.
    totp_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enabled_at: Mapped[datetime | None]
    totp_recovery_hashes: Mapped[list[str] | None] = mapped_column(JSON)
    # Set by an admin: sign-in and every session refused until unlocked.
    locked_at: Mapped[datetime | None]
    # First-party referral attribution: the ``?ref=`` code the person arrived with.
    referral_code: Mapped[str | None] = mapped_column(String(64))

    key: Mapped[UserKey | None] = relationship(back_populates="user", passive_deletes=True)


class UserKey(Base):
    """The user's key, wrapped by their region's master key. Delete it to crypto-shred."""

    __tablename__ = "user_keys"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    region: Mapped[str] = mapped_column(String(32))
    master_key_id: Mapped[str] = mapped_column(String(64))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="key")


class AuthSession(AccountData, Base):
    """A signed-in browser. The cookie holds the token; only its SHA-256 is stored."""

    __tablename__ = "auth_sessions"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    client_label: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    # When this session proved the staff second factor (TOTP or a recovery code).
    second_factor_at: Mapped[datetime | None]


class ApiKey(AccountData, Base):
    """An API key: ``prefix`` is shown and looked up, the secret part only hashed."""

    __tablename__ = "api_keys"

    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    label: Mapped[str] = mapped_column(String(64), default="")
    scopes: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class EmailToken(AccountData, Base):
    """A single-use emailed token: email verification, password reset, email change."""

    __tablename__ = "email_tokens"

    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    # Email change: the new address, encrypted under the user's key, and its blind index.
    new_email_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    new_email_index: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class PolicyAcceptance(AccountData, Base):
    """Which privacy-policy version a user accepted, and when (consent history)."""

    __tablename__ = "policy_acceptances"

    policy_version: Mapped[str] = mapped_column(String(32))
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow)


class ThrottleEvent(Base):
    """One counted attempt (login, reset…) by a subject (HMAC of account or IP)."""

    __tablename__ = "throttle_events"
    __table_args__ = (Index("ix_throttle_events_lookup", "action", "subject", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    action: Mapped[str] = mapped_column(String(32))
    subject: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """One image job. ``status`` changes only through ``service.jobs`` (state machine).

    The original file name is personal data: stored only sealed with the owner's key. The
    objects (original, result) live in the region's storage under ``*_key``, each sealed
    with its own data key (``service.infra.objects``).
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_queue", "status", "region", "created_at"),
        Index("ix_jobs_owner_created", "user_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    region: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    original_name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    original_key: Mapped[str | None] = mapped_column(String(255))
    result_key: Mapped[str | None] = mapped_column(String(255))
    result_width: Mapped[int | None] = mapped_column(Integer)
    result_height: Mapped[int | None] = mapped_column(Integer)
    foreground_top: Mapped[int | None] = mapped_column(Integer)
    foreground_left: Mapped[int | None] = mapped_column(Integer)
    foreground_width: Mapped[int | None] = mapped_column(Integer)
    foreground_height: Mapped[int | None] = mapped_column(Integer)
    timings: Mapped[dict[str, float] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(96))
    lease_expires_at: Mapped[datetime | None]
    # After a failure, the job waits in the queue until then (back-off with jitter).
    not_before: Mapped[datetime | None]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    # When the job was last handed to the broker (Celery executor); the periodic
    # ``workers.tasks.dispatch_queued`` hands it again when it is still queued long after.
    dispatched_at: Mapped[datetime | None]


class UsageDaily(Base):
    """Anonymous daily counters: no user, job, IP or file name, only what and how long.

    ``seconds_le_*`` / ``seconds_gt_30`` form a processing-time histogram (each job counts
    in the first bucket its time fits).
    """

    __tablename__ = "usage_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    region: Mapped[str] = mapped_column(String(32), primary_key=True)
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    seconds_total: Mapped[float] = mapped_column(Float, default=0.0)
    seconds_le_0_5: Mapped[int] = mapped_column(Integer, default=0)
    seconds_le_1: Mapped[int] = mapped_column(Integer, default=0)
    seconds_le_2: Mapped[int] = mapped_column(Integer, default=0)
    seconds_le_5: Mapped[int] = mapped_column(Integer, default=0)
    seconds_le_10: Mapped[int] = mapped_column(Integer, default=0)
    seconds_le_30: Mapped[int] = mapped_column(Integer, default=0)
    seconds_gt_30: Mapped[int] = mapped_column(Integer, default=0)


# ----------------------------------------------------------------------------- privacy


class EmailPreference(Base):
    """A user's choice for one optional email category (no row: the category default)."""

    __tablename__ = "email_preferences"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    subscribed: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsentEvent(Base):
    """Consent and email-preference history: who changed what, when, and from where.

    ``kind`` is ``email_preference`` (``subject`` = category, ``value`` = ``subscribed`` /
    ``unsubscribed``) or ``policy`` (``subject`` = policy version, ``value`` = ``accepted``).
    ``actor`` is ``self``, ``staff:<id>`` or ``operator``; ``source`` names the page or link.
    """

    __tablename__ = "consent_events"
    __table_args__ = (Index("ix_consent_events_user", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
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


class IdempotencyKey(Base):
    """An ``Idempotency-Key`` a client sent with an upload, and the job it created.

    The same key (per user and endpoint) within ``idempotency_key_hours`` answers with
    that job instead of storing the image again. Only hashes of the key and the request
    are kept; the row goes with the account and after its expiry.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "scope", "key_hash"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class WorkerHeartbeat(Base):
    """A live scale-out worker process: its region and whether its model is loaded.

    Written by the worker every few seconds (``workers.celeryapp``); ``/readyz`` and the
    metrics read it to say when a region has no worker alive. Holds nothing personal.
    """

    __tablename__ = "worker_heartbeats"
    __table_args__ = (Index("ix_worker_heartbeats_region_seen", "region", "seen_at"),)

    id: Mapped[str] = mapped_column(String(96), primary_key=True)
    region: Mapped[str] = mapped_column(String(32))
    model_loaded: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class BillingAccount(Base):
    """A user's credit balances and Stripe ids (only ids: no card data ever reaches us,
    privacy policy "Payments"). ``*_units`` are hundredths of a credit; they always
    equal the sum of the user's ``credit_ledger`` entries per bucket, and change only by a
    conditional UPDATE together with a new ledger entry (``service.billing.credits``)."""

    __tablename__ = "billing_accounts"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    subscription_units: Mapped[int] = mapped_column(Integer, default=0)
    payg_units: Mapped[int] = mapped_column(Integer, default=0)
    # Start of the period whose subscription credits were granted (free plans: the month).
    period_start: Mapped[datetime | None]
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), index=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), index=True)
    subscription_status: Mapped[str | None] = mapped_column(String(32))
    # Stripe's ``created`` of the last subscription event applied: older ones arriving
    # late (Stripe does not promise order) are ignored.
    stripe_event_at: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CreditEntry(Base):
    """One append-only credits ledger entry: a grant, purchase, charge, refund or expiry.

    Never updated or deleted, except with the whole account (privacy policy, "Data
    Retention"). ``reference`` names what caused it (a job id, a Stripe event id).
    """

    __tablename__ = "credit_ledger"
    __table_args__ = (Index("ix_credit_ledger_user_created", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    bucket: Mapped[str] = mapped_column(String(16))
    units: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str | None] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BillingEvent(Base):
    """A Stripe webhook event already handled (its id): each is applied once."""

    __tablename__ = "billing_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class BillingInvoice(Base):
    """A paid invoice: its Stripe id and amount, which tax law requires us to keep.

    Account deletion clears ``user_id`` and keeps the row (README, "Billing"): nothing
    else about the person, and no image, stays.
    """

    __tablename__ = "billing_invoices"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    amount_paid: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
