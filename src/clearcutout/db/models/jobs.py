"""Jobs and what serves them: usage counters, idempotency keys, worker heartbeats."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from clearcutout.db.models.base import AccountDataInOwnIndex, Base, utcnow


class Job(AccountDataInOwnIndex, Base):
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


class IdempotencyKey(AccountDataInOwnIndex, Base):
    """An ``Idempotency-Key`` a client sent with an upload, and the job it created.

    The same key (per user and endpoint) within ``idempotency_key_hours`` answers with
    that job instead of storing the image again. Only hashes of the key and the request
    are kept; the row goes with the account and after its expiry.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "scope", "key_hash"),)

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
