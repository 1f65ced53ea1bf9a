"""Accounts: users and their keys, sessions, API keys, emailed tokens, accepted policies
and counted attempts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from clearcutout.db.models.base import AccountData, Base, new_id, utcnow


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
