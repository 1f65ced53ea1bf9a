"""Sign-up must not reveal whether an address has an account, by its answer or by its
time. The time is nearly all the Argon2 hash (RFC 9106 parameters, the defaults), so the
check runs with those real parameters; bench/signup_timing.py gives the figures."""

from __future__ import annotations

import statistics
import time
from typing import Any

from clearcutout.service import accounts
from tests.conftest import SmtpServer
from tests.support.service import run, signup_form

ROUNDS = 3


def _seconds(services: Any, email: str, ip: str) -> float:
    started = time.perf_counter()
    result = run(
        services,
        lambda ctx: accounts.sign_up(ctx, signup_form(email=email), client_ip=ip),
    )
    assert result is None  # the same answer either way
    return time.perf_counter() - started


def test_sign_up_takes_as_long_for_a_taken_address_as_for_a_new_one(
    services: Any, smtp_server: SmtpServer
) -> None:
    services.settings = services.settings.model_copy(
        update={
            "smtp": smtp_server.settings(),
            "argon2_time_cost": 3,
            "argon2_memory_kib": 65536,
        }
    )
    _seconds(services, "taken@example.org", "192.0.2.1")
    new = [_seconds(services, f"new{i}@example.org", f"192.0.2.{10 + i}") for i in range(ROUNDS)]
    taken = [_seconds(services, "taken@example.org", f"192.0.2.{20 + i}") for i in range(ROUNDS)]
    # A generous bound (machines are shared): before, a taken address answered in about
    # a sixteenth of the time; now both do the same hashing.
    assert statistics.median(taken) > 0.5 * statistics.median(new), (new, taken)
