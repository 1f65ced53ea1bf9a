"""Per-plan rate limits: one window per account for the UI and both APIs, counted in the
database (default) or in Redis, with the numbers the ``X-RateLimit-*`` headers show."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from clearcutout.config import BillingSettings, PlanSettings
from clearcutout.errors import RateLimitedError
from clearcutout.service.billing import ratelimit
from tests.conftest import Services, missing_service
from tests.service.billing.test_credits import new_user
from tests.support.service import Clock, run

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["database", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "redis":
        import redis

        try:
            redis.Redis.from_url(REDIS_URL).ping()
        except redis.RedisError as exc:
            missing_service(f"Redis at {REDIS_URL} is not reachable: {exc}")
    yield request.param


def limited(services: Services, backend: str, per_minute: int = 3) -> Services:
    billing = BillingSettings(
        enabled=True,
        plans={
            "free": PlanSettings(label="Free", rate_limit_per_minute=per_minute),
            "pro": PlanSettings(label="Pro", rate_limit_per_minute=per_minute * 2),
        },
        rate_limit_backend=backend,  # type: ignore[arg-type]
        redis_url=REDIS_URL if backend == "redis" else None,
    )
    return replace(services, settings=services.settings.model_copy(update={"billing": billing}))


def test_the_plan_limit_counts_per_account_and_frees_after_a_minute(
    services: Services, backend: str
) -> None:
    billed = limited(services, backend)
    user = new_user(billed, f"{uuid.uuid4().hex[:8]}@example.org")
    clock = Clock()
    remaining = [
        run(billed, lambda ctx: ratelimit.take_account_slot(ctx, user), clock) for _ in range(3)
    ]
    assert [rate.remaining for rate in remaining if rate] == [2, 1, 0]
    assert all(rate is not None and rate.limit == 3 for rate in remaining)
    with pytest.raises(RateLimitedError) as refused:
        run(billed, lambda ctx: ratelimit.take_account_slot(ctx, user), clock)
    assert refused.value.http_status == 429
    assert refused.value.rate.remaining == 0
    assert 1 <= refused.value.retry_after_s <= 60
    clock.advance(seconds=61)
    again = run(billed, lambda ctx: ratelimit.take_account_slot(ctx, user), clock)
    assert again is not None and again.remaining == 2


def test_a_higher_plan_has_a_higher_limit(services: Services, backend: str) -> None:
    billed = limited(services, backend, per_minute=2)
    user = new_user(billed, f"{uuid.uuid4().hex[:8]}@example.org")
    user.plan = "pro"
    clock = Clock()
    for _ in range(4):
        run(billed, lambda ctx: ratelimit.take_account_slot(ctx, user), clock)
    with pytest.raises(RateLimitedError):
        run(billed, lambda ctx: ratelimit.take_account_slot(ctx, user), clock)


def test_billing_off_has_no_plan_limit(services: Services) -> None:
    user = new_user(services)
    for _ in range(100):
        assert run(services, lambda ctx: ratelimit.take_account_slot(ctx, user)) is None
