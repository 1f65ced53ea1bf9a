"""The credits ledger on SQLite and the real PostgreSQL: plans, charges, refunds,
monthly renewal, and no overdraw when many requests charge at once."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from clearcutout.config import BillingSettings, PlanSettings
from clearcutout.db.models import BillingAccount, CreditEntry, User
from clearcutout.errors import InsufficientCreditsError
from clearcutout.service import accounts
from clearcutout.service.billing import credits
from clearcutout.service.context import ServiceContext
from tests.conftest import Services
from tests.support.service import Clock, run

PASSWORD = "analytical engine 1843"


def with_billing(services: Services, monthly: float = 5) -> Services:
    billing = BillingSettings(
        enabled=True,
        plans={
            "free": PlanSettings(label="Free", monthly_credits=monthly),
            "pro": PlanSettings(label="Pro", monthly_credits=100, stripe_price_id="price_pro"),
        },
    )
    return replace(services, settings=services.settings.model_copy(update={"billing": billing}))


def new_user(services: Services, email: str = "ada@example.org") -> User:
    return run(
        services,
        lambda ctx: accounts.create_user_as_operator(
            ctx, email=email, name="Ada", password=PASSWORD, region="eu"
        ),
    )


def ledger_sum(services: Services, user_id: str) -> int:
    return run(
        services,
        lambda ctx: int(
            ctx.db.scalar(
                select(func.coalesce(func.sum(CreditEntry.units), 0)).where(
                    CreditEntry.user_id == user_id
                )
            )
        ),
    )


def test_billing_off_charges_nothing_and_records_nothing(services: Services) -> None:
    user = new_user(services)
    for index in range(30):
        charged = run(
            services, lambda ctx, i=index: credits.charge(ctx, user, 1.0, reference=f"r{i}")
        )
        assert charged == 0.0
    count = run(services, lambda ctx: ctx.db.scalar(select(func.count()).select_from(CreditEntry)))
    assert count == 0
    assert run(services, lambda ctx: ctx.db.get(BillingAccount, user.id)) is None


def test_preview_costs_a_quarter_and_full_one(services: Services) -> None:
    billed = with_billing(services, monthly=2)
    user = new_user(billed)
    assert credits.credits_for_size("preview") == 0.25
    assert credits.credits_for_size("full") == 1.0
    assert credits.credits_for_size("auto") == 1.0
    run(billed, lambda ctx: credits.charge(ctx, user, 0.25, reference="a"))
    run(billed, lambda ctx: credits.charge(ctx, user, 1.0, reference="b"))
    left = run(billed, lambda ctx: credits.balance(ctx, user))
    assert left.total == 0.75
    with pytest.raises(InsufficientCreditsError) as refused:
        run(billed, lambda ctx: credits.charge(ctx, user, 1.0, reference="c"))
    assert refused.value.http_status == 402
    assert refused.value.code == "insufficient_credits"
    # The refusal took nothing; the ledger adds up to the balance.
    assert run(billed, lambda ctx: credits.balance(ctx, user)).total == 0.75
    assert ledger_sum(billed, user.id) == 75


def test_a_refund_returns_the_charge_once(services: Services) -> None:
    billed = with_billing(services, monthly=1)
    user = new_user(billed)
    run(billed, lambda ctx: credits.charge(ctx, user, 1.0, reference="job-1"))
    assert run(billed, lambda ctx: credits.refund(ctx, user.id, reference="job-1")) == 1.0
    assert run(billed, lambda ctx: credits.refund(ctx, user.id, reference="job-1")) == 0.0
    assert run(billed, lambda ctx: credits.balance(ctx, user)).total == 1.0
    kinds = [line.kind for line in run(billed, lambda ctx: credits.ledger(ctx, user.id))]
    assert sorted(kinds) == ["charge", "grant", "refund"]


def test_purchased_credits_are_spent_after_the_plan_credits(services: Services) -> None:
    billed = with_billing(services, monthly=1)
    user = new_user(billed)
    run(billed, lambda ctx: credits.grant(ctx, user.id, 10, kind="purchase", reference="evt"))
    run(billed, lambda ctx: credits.charge(ctx, user, 1.0, reference="one"))
    run(billed, lambda ctx: credits.charge(ctx, user, 1.0, reference="two"))
    left = run(billed, lambda ctx: credits.balance(ctx, user))
    assert (left.subscription, left.payg) == (0.0, 9.0)


def test_plan_credits_renew_each_month_and_do_not_roll_over(services: Services) -> None:
    billed = with_billing(services, monthly=5)
    user = new_user(billed)
    clock = Clock()
    clock.now = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)
    run(billed, lambda ctx: credits.charge(ctx, user, 1.0, reference="jan"), clock)
    assert run(billed, lambda ctx: credits.balance(ctx, user), clock).total == 4
    clock.now = datetime(2026, 2, 1, 0, 0, 1, tzinfo=UTC)
    assert run(billed, lambda ctx: credits.balance(ctx, user), clock).total == 5
    kinds = [line.kind for line in run(billed, lambda ctx: credits.ledger(ctx, user.id))]
    assert kinds.count("grant") == 2 and kinds.count("expire") == 1
    assert ledger_sum(billed, user.id) == 500


def test_twenty_simultaneous_charges_with_five_credits_charge_exactly_five(
    services: Services,
) -> None:
    billed = with_billing(services, monthly=5)
    user = new_user(billed)
    run(billed, lambda ctx: credits.balance(ctx, user))  # this month's grant
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def attempt(index: int) -> None:
        start.wait()
        try:
            run(billed, lambda ctx: credits.charge(ctx, user, 1.0, reference=f"c{index}"))
        except InsufficientCreditsError:
            with lock:
                outcomes.append("402")
        else:
            with lock:
                outcomes.append("ok")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["402"] * 15 + ["ok"] * 5
    left = run(billed, lambda ctx: credits.balance(ctx, user))
    assert left.total == 0
    assert ledger_sum(billed, user.id) == 0

    def charges(ctx: ServiceContext) -> int:
        return int(
            ctx.db.scalar(
                select(func.count())
                .select_from(CreditEntry)
                .where(CreditEntry.user_id == user.id, CreditEntry.kind == "charge")
            )
        )

    assert run(billed, charges) == 5
