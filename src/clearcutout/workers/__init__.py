"""Executors: what runs the jobs that ``service.jobs`` queues.

    Executor (protocol)      start() · notify(job_id) · stop()
    ├── LocalExecutor        threads in the app process, fed by the database queue
    ├── CeleryExecutor       hands job ids to the region's broker queue; ``clearcutout
    │                        worker`` processes run them (``workers.celeryapp``)
    └── NullExecutor         accept jobs only (another process or worker runs them)

Every executor runs a job through :func:`clearcutout.workers.tasks.run_job`, which takes
a job id and is idempotent. The other background work (retention sweep, data exports,
re-dispatching queued jobs) is in ``workers.tasks`` too; ``workers.housekeeping`` runs it
in-process, ``clearcutout beat`` on schedule in a scale-out deployment. With the Celery
executor the synchronous cutouts go to the workers too (``workers.remote``).
"""

from __future__ import annotations

from clearcutout.service.jobs import sync
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
    """The executor the settings choose (``executor = "local" | "none" | "celery"``).

    With ``celery`` this process's synchronous cutouts go to the workers as well, so it
    never loads a model; otherwise they run here in the bounded pool.
    """
    kind = runtime.settings.executor
    if kind == "celery":
        from clearcutout.workers.celeryapp import CUTOUT, CeleryExecutor, sync_queue_of
        from clearcutout.workers.remote import RemoteCutouts

        executor = CeleryExecutor(runtime)
        sync.use_remote(RemoteCutouts(runtime, executor.app, CUTOUT, sync_queue_of))
        return executor
    sync.use_remote(None)
    if kind == "none":
        return NullExecutor()
    return LocalExecutor(runtime)
