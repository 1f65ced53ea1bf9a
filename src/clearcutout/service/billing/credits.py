"""The credits ledger: append-only entries and the balances they add up to.

Prices are remove.bg's (README, "Billing"): 0.25 credits for a preview-sized image, 1
for anything larger. Amounts are stored in hundredths of a credit (*units*), so sums
are exact. Two buckets, as remove.bg reports them: ``subscription`` (the plan's monthly
credits, replaced at each renewal) and ``payg`` (purchased packs, never expiring);
charges take subscription credits first.

No overdraw under concurrency: every change first locks the person's balance row
(PostgreSQL: the row, by an UPDATE; SQLite: the database's write lock, taken by the same
UPDATE), then reads it, writes the ledger entry and the new balance in the same
transaction. A charge is taken *before* an image is processed and refunded if the image
fails, so 20 simultaneous requests against 5 credits succeed exactly 5 times.

With billing off nothing is charged or recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite

from clearcutout.db.models import BillingAccount, CreditEntry, User
from clearcutout.errors import InsufficientCreditsError
from clearcutout.service.billing import plans
from clearcutout.service.context import ServiceContext

__all__ = [
    "FULL_CREDITS",
    "PREVIEW_CREDITS",
    "PREVIEW_SIZES",
    "Balance",
    "LedgerLine",
    "balance",
    "charge",
    "credits_for_size",
    "grant",
    "ledger",
    "refund",
    "renew_monthly",
    "reset_subscription",
    "units",
]

UNITS_PER_CREDIT: Final = 100
PREVIEW_SIZES: Final = frozenset({"preview", "small", "regular"})
PREVIEW_CREDITS: Final = 0.25
FULL_CREDITS: Final = 1.0
SUBSCRIPTION: Final = "subscription"
PAYG: Final = "payg"
OUT_OF_CREDITS: Final = (
    "You are out of credits: %(left)s left, %(needed)s needed. Buy a credit pack or "
    "upgrade your plan on the Billing page."
)


def credits_for_size(size: str | None) -> float:
    """remove.bg's price of one image of output ``size``."""
    return PREVIEW_CREDITS if size in PREVIEW_SIZES else FULL_CREDITS


def units(credits: float) -> int:
    return round(credits * UNITS_PER_CREDIT)


def _credits(value: int) -> float:
    return value / UNITS_PER_CREDIT


def _ensure_row(ctx: ServiceContext, user_id: str) -> None:
    table = cast(Table, BillingAccount.__table__)
    dialect = ctx.db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values: dict[str, Any] = {
        "user_id": user_id,
        "subscription_units": 0,
        "payg_units": 0,
        "updated_at": ctx.now(),
    }
    ctx.db.execute(
        insert(table).values(**values).on_conflict_do_nothing(index_elements=["user_id"])
    )


def locked_account(ctx: ServiceContext, user_id: str) -> BillingAccount:
    """The person's balance row, created if missing and locked until the transaction
    ends (an UPDATE: a row lock on PostgreSQL, the write lock on SQLite)."""
    _ensure_row(ctx, user_id)
    ctx.db.execute(
        update(BillingAccount)
        .where(BillingAccount.user_id == user_id)
        .values(updated_at=ctx.now()),
        execution_options={"synchronize_session": False},
    )
    account = ctx.db.get(BillingAccount, user_id, populate_existing=True)
    assert account is not None
    return account


def _entry(
    ctx: ServiceContext, user_id: str, kind: str, bucket: str, amount: int, reference: str | None
) -> None:
    ctx.db.add(
        CreditEntry(
            user_id=user_id,
            kind=kind,
            bucket=bucket,
            units=amount,
            reference=reference,
            created_at=ctx.now(),
        )
    )


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def reset_subscription(
    ctx: ServiceContext, account: BillingAccount, amount: int, *, reference: str | None
) -> None:
    """A renewal on a locked account: unused subscription credits expire, the plan's
    credits are granted (both as ledger entries)."""
    if account.subscription_units:
        _entry(ctx, account.user_id, "expire", SUBSCRIPTION, -account.subscription_units, reference)
    if amount:
        _entry(ctx, account.user_id, "grant", SUBSCRIPTION, amount, reference)
    account.subscription_units = amount
    ctx.db.flush()


def renew_monthly(ctx: ServiceContext, user: User, account: BillingAccount) -> None:
    """A plan paid for by no subscription (Free) renews each calendar month (UTC)."""
    start = _month_start(ctx.now())
    if account.stripe_subscription_id is not None:
        return
    if account.period_start is not None and account.period_start >= start:
        return
    account.period_start = start
    plan = plans.plan(ctx.settings, user.plan)
    reset_subscription(ctx, account, plan.monthly_units, reference=f"month:{start:%Y-%m}")


def charge(ctx: ServiceContext, user: User, credits: float, *, reference: str) -> float:
    """Take ``credits`` from the person's balance (in the caller's transaction), or raise
    :class:`InsufficientCreditsError` (402) and take nothing. Returns what was charged:
    nothing with billing off."""
    if not plans.enabled(ctx.settings):
        return 0.0
    needed = units(credits)
    account = locked_account(ctx, user.id)
    renew_monthly(ctx, user, account)
    total = account.subscription_units + account.payg_units
    if total < needed:
        raise InsufficientCreditsError(
            OUT_OF_CREDITS,
            params={"left": f"{_credits(max(total, 0)):g}", "needed": f"{credits:g}"},
        )
    from_subscription = min(needed, account.subscription_units)
    from_payg = needed - from_subscription
    if from_subscription:
        _entry(ctx, user.id, "charge", SUBSCRIPTION, -from_subscription, reference)
    if from_payg:
        _entry(ctx, user.id, "charge", PAYG, -from_payg, reference)
    account.subscription_units -= from_subscription
    account.payg_units -= from_payg
    ctx.db.flush()
    return credits


def refund(ctx: ServiceContext, user_id: str, *, reference: str) -> float:
    """Give back what is still charged under ``reference`` (a failed image); the credits
    return to the bucket they came from. Idempotent: what was refunded already nets to
    nothing, and a charge made again under the same reference (an owner's retry of a
    failed job) is refunded again if that attempt fails too. Returns the credits refunded."""
    if not plans.enabled(ctx.settings):
        return 0.0
    account = locked_account(ctx, user_id)
    entries = ctx.db.scalars(
        select(CreditEntry).where(
            CreditEntry.user_id == user_id,
            CreditEntry.reference == reference,
            CreditEntry.kind.in_(("charge", "refund")),
        )
    ).all()
    owed: dict[str, int] = {}
    for entry in entries:
        owed[entry.bucket] = owed.get(entry.bucket, 0) + entry.units
    refunded = 0
    for bucket, net in sorted(owed.items()):
        if net >= 0:
            continue
        _entry(ctx, user_id, "refund", bucket, -net, reference)
        if bucket == SUBSCRIPTION:
            account.subscription_units -= net
        else:
            account.payg_units -= net
        refunded -= net
    ctx.db.flush()
    return _credits(refunded)


def grant(
    ctx: ServiceContext, user_id: str, credits: float, *, kind: str, reference: str | None
) -> None:
    """Add purchased (pay-as-you-go) credits."""
    account = locked_account(ctx, user_id)
    amount = units(credits)
    _entry(ctx, user_id, kind, PAYG, amount, reference)
    account.payg_units += amount
    ctx.db.flush()


@dataclass(frozen=True, kw_only=True)
class Balance:
    """Credits left, as remove.bg's ``GET /v1.0/account`` reports them."""

    subscription: float
    payg: float

    @property
    def total(self) -> float:
        return self.subscription + self.payg


def balance(ctx: ServiceContext, user: User) -> Balance:
    """The person's credits now (granting this month's plan credits if due)."""
    if not plans.enabled(ctx.settings):
        return Balance(subscription=0.0, payg=0.0)
    account = locked_account(ctx, user.id)
    renew_monthly(ctx, user, account)
    return Balance(
        subscription=_credits(account.subscription_units), payg=_credits(account.payg_units)
    )


@dataclass(frozen=True)
class LedgerLine:
    """One ledger entry as the account page and the data export show it."""

    created_at: datetime
    kind: str
    bucket: str
    credits: float
    reference: str | None


def ledger(ctx: ServiceContext, user_id: str, *, limit: int | None = None) -> list[LedgerLine]:
    """The person's ledger, newest first."""
    query = (
        select(CreditEntry)
        .where(CreditEntry.user_id == user_id)
        .order_by(CreditEntry.created_at.desc(), CreditEntry.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        LedgerLine(
            created_at=entry.created_at,
            kind=entry.kind,
            bucket=entry.bucket,
            credits=_credits(entry.units),
            reference=entry.reference,
        )
        for entry in ctx.db.scalars(query)
    ]
