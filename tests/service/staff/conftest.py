"""Staff suite fixtures: accounts made the operator's way, a movable clock."""

from __future__ import annotations

from typing import Any

import pytest

from clearcutout.db.models import User
from clearcutout.service.accounts import signup
from clearcutout.service.staff import roles
from tests.support.service import Clock, run

PASSWORD = "analytical engine 1843"


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_user(
    services: Any,
    clock: Clock,
    email: str,
    *,
    role: str | None = None,
    region: str = "eu",
    plan: str = "free",
    lang: str = "en",
) -> User:
    def create(ctx: Any) -> User:
        user = signup.create_user_as_operator(
            ctx, email=email, name=email.split("@")[0].title(), password=PASSWORD, region=region
        )
        user.plan, user.lang = plan, lang
        if role:
            roles.set_role(ctx, actor=None, user=user, role=role, reason="test set-up")
        return user

    return run(services, create, clock)
