"""Billing: credit balances and their ledger, handled Stripe events, kept invoices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from clearcutout.db.models.base import AccountDataInOwnIndex, Base, utcnow


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


class CreditEntry(AccountDataInOwnIndex, Base):
    """One append-only credits ledger entry: a grant, purchase, charge, refund or expiry.

    Never updated or deleted, except with the whole account (privacy policy, "Data
    Retention"). ``reference`` names what caused it (a job id, a Stripe event id).
    """

    __tablename__ = "credit_ledger"
    __table_args__ = (Index("ix_credit_ledger_user_created", "user_id", "created_at"),)

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
