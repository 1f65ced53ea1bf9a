"""Executors: what runs the jobs that ``service.jobs`` queues.

    Executor (protocol)      start() · notify(job_id) · stop()
    ├── LocalExecutor        threads in the app process, fed by the database queue
    └── NullExecutor         accept jobs only (another process or worker runs them)

Every executor runs a job through :func:`clearcutout.workers.tasks.run_job`, which takes
a job id and is idempotent, so a Celery executor (one queue per region, a task that
claims the job by id and calls ``run_job``) slots in beside these without changes to
the service layer. The other background work (retention sweep, data exports) is in
``workers.tasks`` too; ``workers.housekeeping`` runs it in-process.
"""

from __future__ import annotations

from clearcutout.service.runtime import Runtime
from clearcutout.workers.base import Executor, NullExecutor
from clearcutout.workers.local import LocalExecutor
from clearcutout.workers.tasks import run_job

__all__ = [
    "Executor",
    "LocalExecutor",
    "NullExecutor",
    "create_executor",
    "run_job",
]


def create_executor(runtime: Runtime) -> Executor:
    """The executor the settings choose (``executor = "local" | "none"``)."""
    if runtime.settings.executor == "none":
        return NullExecutor()
    return LocalExecutor(runtime)
