"""Running service calls the way a boundary does, with a movable clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy.orm import sessionmaker

from clearcutout.service.accounts import SignUp
from clearcutout.service.context import ServiceContext, unit_of_work
from clearcutout.service.privacy.policy import current_policy

T = TypeVar("T")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def run(services: object, action: Callable[[ServiceContext], T], clock: Clock | None = None) -> T:
    """One committed unit of work (mail is delivered after commit)."""
    kwargs = {"clock": clock} if clock else {}
    with unit_of_work(
        sessionmaker(bind=services.engine, expire_on_commit=False),  # type: ignore[attr-defined]
        services.settings,  # type: ignore[attr-defined]
        services.keyring,  # type: ignore[attr-defined]
        **kwargs,
    ) as ctx:
        return action(ctx)


def signup_form(**overrides: object) -> SignUp:
    values: dict[str, object] = {
        "email": "ada@example.org",
        "name": "Ada Lovelace",
        "password": "analytical engine 1843",
        "region": "eu",
        "accepted_policy_version": current_policy().version,
        "at_least_minimum_age": True,
        "lang": "en",
    }
    values.update(overrides)
    return SignUp(**values)  # type: ignore[arg-type]
