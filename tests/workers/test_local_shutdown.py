"""Shutdown waits a bounded time for image work in flight, then stops anyway (the job is
queued again when its lease runs out, so nothing is lost)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from clearcutout.engine import CutoutOptions
from clearcutout.service import accounts, jobs
from clearcutout.service.runtime import Runtime
from clearcutout.workers import local
from tests.support.database import migrate
from tests.support.jobs import PASSWORD, job_settings, small_photo


def test_stop_gives_up_on_a_stuck_job_after_its_grace_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = job_settings(tmp_path / "data")
    migrate(settings)
    started, release = threading.Event(), threading.Event()

    def stuck(runtime: Runtime, job_id: str, *, lease_owner: str) -> str:
        started.set()  # an image that takes far longer than any shutdown should wait
        release.wait(60)
        return "done"

    monkeypatch.setattr(local, "run_job", stuck)
    with Runtime.from_settings(settings) as runtime:
        with runtime.unit_of_work() as ctx:
            user = accounts.create_user_as_operator(
                ctx, email="stop@example.org", name="Stop", password=PASSWORD
            )
            jobs.submit(ctx, user, small_photo(64, 48), CutoutOptions(), model="u2netp")
        executor = local.LocalExecutor(runtime, threads=2)
        executor.start()
        try:
            assert started.wait(30), "the job was never claimed"
            began = time.monotonic()
            executor.stop(timeout_s=1.0)
            # Generous bound: the grace period plus the lease keeper's own stop.
            assert time.monotonic() - began < 10
        finally:
            release.set()
