"""Executors: what runs the jobs that ``service.jobs`` queues.

    Executor (protocol)      start() · notify(job_id) · stop()
    ├── LocalExecutor        threads in the app process, fed by the database queue
    └── NullExecutor         accept jobs only (another process or worker runs them)

Every executor runs a job through :func:`clearcutout.workers.tasks.run_job`, which takes
a job id and is idempotent, so a Celery executor (one queue per region, a task that
claims the job by id and calls ``run_job``) slots in beside these without changes to
the service layer.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from clearcutout.config import Settings
from clearcutout.crypto import Keyring
from clearcutout.workers.base import Executor, NullExecutor
from clearcutout.workers.local import LocalExecutor
from clearcutout.workers.tasks import WorkerRuntime, run_job

__all__ = [
    "Executor",
    "LocalExecutor",
    "NullExecutor",
    "WorkerRuntime",
    "create_executor",
    "run_job",
]


def create_executor(
    settings: Settings, sessions: sessionmaker[Session], keyring: Keyring
) -> Executor:
    """The executor the settings choose (``executor = "local" | "none"``)."""
    if settings.executor == "none":
        return NullExecutor()
    runtime = WorkerRuntime(settings=settings, sessions=sessions, keyring=keyring)
    return LocalExecutor(runtime)
