"""Concurrent appends to the access log (threads, each its own transaction, on SQLite
and the real PostgreSQL): every entry lands, numbered without gaps, and the chain
verifies — writers take turns instead of forking the chain."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from clearcutout.service.staff import accesslog
from tests.service.staff.conftest import make_user
from tests.support.service import Clock, run

WRITERS, EACH = 4, 10


def test_concurrent_appends_keep_one_chain(services: Any) -> None:
    clock = Clock()
    boss = make_user(services, clock, "boss@example.org", role="support")

    def append(n: int) -> None:
        for k in range(EACH):
            run(
                services,
                lambda ctx, k=k: accesslog.record(
                    ctx, actor=boss, subject_user_id=None, action="note", reason=f"{n}-{k}"
                ),
            )

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(append, range(WRITERS)))
    result = run(services, accesslog.verify)
    assert result.ok, result
    assert result.entries == 1 + WRITERS * EACH  # the role grant and every append
