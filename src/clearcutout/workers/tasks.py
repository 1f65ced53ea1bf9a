"""The task boundary: run one job by id, with its own units of work (idempotent).

Called by the local executor's threads, and meant to be the body of a Celery task later
(``@app.task def process_job(job_id): claim(job_id) and run_job(...)``). The engine work
happens outside any transaction; each database step is its own short unit of work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from clearcutout.config import Settings
from clearcutout.crypto import Keyring
from clearcutout.errors import ClearCutoutError, InputError
from clearcutout.service import jobs
from clearcutout.service.context import ServiceContext, unit_of_work

log = logging.getLogger(__name__)

__all__ = ["WorkerRuntime", "run_job"]


@dataclass(frozen=True)
class WorkerRuntime:
    """What a worker holds for its lifetime: settings, a session factory and the keys."""

    settings: Settings
    sessions: sessionmaker[Session]
    keyring: Keyring

    @contextmanager
    def unit_of_work(self) -> Iterator[ServiceContext]:
        with unit_of_work(self.sessions, self.settings, self.keyring) as ctx:
            yield ctx


def run_job(runtime: WorkerRuntime, job_id: str, *, lease_owner: str) -> str:
    """Process a job that ``lease_owner`` has claimed; the outcome.

    Outcomes: ``done``, ``failed``, ``requeued``, ``skipped`` (not held by this owner any
    more: finished, deleted or expired meanwhile) or ``lost`` (the lease ran out while
    working; the late result is discarded). Never raises for a job's own failure.
    """
    started = time.perf_counter()
    claimed: jobs.ClaimedJob | None = None
    try:
        with runtime.unit_of_work() as ctx:
            claimed = jobs.load_claimed(ctx, job_id, lease_owner=lease_owner)
        if claimed is None:
            return "skipped"
        remover = jobs.remover_for(runtime.settings, claimed.model)
        output = jobs.produce_result(remover, claimed)
        with runtime.unit_of_work() as ctx:
            done = jobs.complete(
                ctx,
                claimed,
                output,
                lease_owner=lease_owner,
                seconds=time.perf_counter() - started,
            )
        return "done" if done else "lost"
    except Exception as exc:  # a job's failure must not end the worker
        error = (
            exc
            if isinstance(exc, ClearCutoutError)
            else ClearCutoutError("Processing failed unexpectedly.", code="internal_error")
        )
        if not isinstance(exc, ClearCutoutError):
            log.exception("job.crashed job_id=%s reason=%s", job_id, type(exc).__name__)
        return _after_error(runtime, job_id, lease_owner, error, claimed, started)


def _after_error(
    runtime: WorkerRuntime,
    job_id: str,
    lease_owner: str,
    error: ClearCutoutError,
    claimed: jobs.ClaimedJob | None,
    started: float,
) -> str:
    seconds = time.perf_counter() - started
    with runtime.unit_of_work() as ctx:
        region, model = _where(ctx, job_id, claimed)
        if isinstance(error, InputError):
            jobs.fail(
                ctx,
                job_id,
                lease_owner=lease_owner,
                error=error,
                region=region,
                model=model,
                seconds=seconds,
            )
            return "failed"
        requeued = jobs.retry_or_fail(
            ctx,
            job_id,
            lease_owner=lease_owner,
            error=error,
            region=region,
            model=model,
            seconds=seconds,
        )
    return "requeued" if requeued else "failed"


def _where(ctx: ServiceContext, job_id: str, claimed: jobs.ClaimedJob | None) -> tuple[str, str]:
    if claimed is not None:
        return claimed.region, claimed.model
    found = jobs.job_region_and_model(ctx, job_id)
    return found if found is not None else ("unknown", "unknown")
