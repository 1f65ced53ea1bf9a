"""The Celery executor: jobs run on ``clearcutout worker`` processes, one queue per region.

    API process                         broker (Redis | RabbitMQ)        worker --region eu
    submit → commit → notify(job id) ──> queue "eu": {"job_id": …} ──> claim(job id) →
                                                                        run_job → ack

* A message carries only the job id. It is published after the job's row is committed
  (``Executor.notify``); the worker claims the job through the state machine, so a
  message delivered twice, or for a job already finished, deleted or not yet due, does
  nothing (``skipped``).
* ``acks_late`` + ``reject_on_worker_lost`` + prefetch 1: a message is acknowledged only
  after its job finished, so a worker killed mid-job loses nothing; the broker hands the
  message on (RabbitMQ: when the connection drops; Redis: after
  ``broker_visibility_timeout_seconds``, which must exceed the slowest job).
* The database stays the source of truth: the job's lease runs out when its worker dies
  and ``workers.tasks.dispatch_queued`` (run by ``clearcutout beat``) queues it again and
  hands it to the broker, so no broker loss or restart loses a job.
* Transient errors (database, storage, broker) retry with exponential backoff.
* Each worker process loads its models once, at start (``worker_process_init``), then
  writes a heartbeat (``service.jobs.queue.beat``) so ``/readyz`` and the metrics can say
  when a region has no worker alive.

Periodic work (retention sweep, exports, dispatch) goes through ``periodic_queue``, which
every worker also consumes; ``clearcutout beat`` publishes it on schedule.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from celery import Celery, Task, signals
from sqlalchemy.exc import SQLAlchemyError

from clearcutout.config import Settings, get_settings
from clearcutout.engine import CutoutOptions
from clearcutout.errors import ConfigurationError, StorageError
from clearcutout.service import jobs, removebg
from clearcutout.service.jobs import queue as job_queue
from clearcutout.service.runtime import Runtime
from clearcutout.workers import remote, tasks
from clearcutout.workers.leases import LeaseKeeper

log = logging.getLogger(__name__)

__all__ = [
    "CeleryExecutor",
    "create_celery",
    "queue_of",
    "sync_queue_of",
    "worker_region",
]

PROCESS_JOB = "clearcutout.process_job"
CUTOUT = "clearcutout.cutout"
# Errors that say "try again later", not "this job is bad".
_TRANSIENT = (SQLAlchemyError, StorageError, OSError, ConnectionError)
# The region a ``clearcutout worker`` process serves (set before the worker starts; its
# pool processes inherit it).
_REGION_ENV = "CLEARCUTOUT_WORKER_REGION"


def queue_of(settings: Settings, region: str) -> str:
    """The broker queue of ``region`` (``RegionSettings.queue``, default the region name)."""
    configured = settings.regions[region].queue if region in settings.regions else None
    return configured or region


def sync_queue_of(settings: Settings, region: str) -> str:
    """The queue of ``region``'s synchronous cutouts: apart from the jobs, so a request
    someone is waiting for never queues behind a backlog of jobs (workers take from both)."""
    return f"{queue_of(settings, region)}.sync"


def worker_region() -> str | None:
    """The region this process works for, when it is a ``clearcutout worker``."""
    return os.environ.get(_REGION_ENV) or None


def _result_backend(settings: Settings, broker: str) -> str:
    if settings.result_backend_url:
        return settings.result_backend_url
    return broker if broker.startswith(("redis://", "rediss://")) else "rpc://"


def create_celery(settings: Settings) -> Celery:
    """The Celery app of these settings, with ClearCutout's tasks and beat schedule."""
    broker = settings.broker_url
    if not broker:
        raise ConfigurationError("The celery executor needs CLEARCUTOUT_BROKER_URL.")
    app = Celery("clearcutout", broker=broker, backend=_result_backend(settings, broker))
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=settings.periodic_queue,
        task_ignore_result=True,
        result_expires=int(settings.sync_wait_seconds) + 60,
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout_seconds,
            # Redis: a worker takes from its queues in the order it lists them, so the
            # synchronous cutouts (listed first) go before the backlog of jobs.
            "queue_order_strategy": "priority",
        },
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=4,
        # Publishing to a broker that is down fails fast: the job is in the database and
        # ``dispatch_queued`` hands it over once the broker is back.
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
        beat_schedule={
            "dispatch-queued": {
                "task": "clearcutout.dispatch_queued",
                "schedule": settings.dispatch_interval_seconds,
                "options": {
                    "queue": settings.periodic_queue,
                    "expires": settings.dispatch_interval_seconds,
                },
            },
            "build-exports": {
                "task": "clearcutout.build_exports",
                "schedule": 30.0,
                "options": {"queue": settings.periodic_queue, "expires": 30.0},
            },
            "sweep-retention": {
                "task": "clearcutout.sweep_retention",
                "schedule": settings.retention_sweep_interval_seconds or 300.0,
                "options": {"queue": settings.periodic_queue},
            },
            "reconcile-storage": {
                "task": "clearcutout.reconcile_storage",
                "schedule": 3600.0,
                "options": {"queue": settings.periodic_queue, "expires": 3600.0},
            },
            "send-breach-notices": {
                "task": "clearcutout.send_breach_notices",
                "schedule": 60.0,
                "options": {"queue": settings.periodic_queue, "expires": 60.0},
            },
            "verify-audit-log": {
                "task": "clearcutout.verify_audit_log",
                "schedule": settings.staff.audit_verify_interval_seconds or 86400.0,
                "options": {"queue": settings.periodic_queue},
            },
        },
    )
    _register_tasks(app)
    return app


# -- the worker process ---------------------------------------------------------------------


@dataclass
class _ProcessState:
    """What one worker process holds: its runtime, lease keeper and identity."""

    runtime: Runtime
    region: str | None
    identity: str
    leases: LeaseKeeper = field(init=False)
    model_loaded: bool = False

    def __post_init__(self) -> None:
        self.leases = LeaseKeeper(self.runtime, heartbeat=self.heartbeat)

    def heartbeat(self) -> None:
        if self.region is None:
            return
        with self.runtime.unit_of_work() as ctx:
            job_queue.beat(ctx, self.identity, region=self.region, model_loaded=self.model_loaded)


_state: _ProcessState | None = None
_state_pid = 0
_state_lock = threading.Lock()


def _process_state() -> _ProcessState:
    """This process's state, made on first use after a fork (never shared across one)."""
    global _state, _state_pid
    with _state_lock:
        if _state is None or _state_pid != os.getpid():
            runtime = Runtime.from_settings(get_settings())
            identity = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
            _state = _ProcessState(runtime=runtime, region=worker_region(), identity=identity)
            _state_pid = os.getpid()
            _state.leases.start()
        return _state


@signals.worker_process_init.connect
def _on_process_start(**_: Any) -> None:
    """Load the models once per worker process, before its first task."""
    if worker_region() is None:
        return
    state = _process_state()
    settings = state.runtime.settings
    # The default preset's models (a job or remove.bg call naming another loads it then).
    preset = CutoutOptions(quality=settings.default_quality)
    for model in {jobs.check_model(settings, None), removebg.model_for(settings)}:
        jobs.remover_for(settings, model).load(preset)
    state.model_loaded = True
    try:
        state.heartbeat()
    except Exception:
        log.exception("worker.heartbeat_failed")
    log.info("worker.ready region=%s identity=%s", state.region, state.identity)


@signals.worker_process_shutdown.connect
def _on_process_stop(**_: Any) -> None:
    if _state is None or _state_pid != os.getpid():
        return
    _state.leases.stop(timeout_s=1.0)
    try:
        with _state.runtime.unit_of_work() as ctx:
            job_queue.forget_worker(ctx, _state.identity)
    except Exception:
        log.warning("worker.forget_failed")


# -- tasks ----------------------------------------------------------------------------------


def _register_tasks(app: Celery) -> None:
    @app.task(
        name=PROCESS_JOB,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        autoretry_for=_TRANSIENT,
        retry_backoff=2,
        retry_backoff_max=60,
        retry_jitter=True,
        max_retries=8,
    )
    def process_job(self: Task, job_id: str) -> str:
        """Claim ``job_id`` through the state machine and run it (``run_job``)."""
        state = _process_state()
        owner = state.identity
        with state.runtime.unit_of_work() as ctx:
            if not jobs.claim(ctx, job_id, lease_owner=owner):
                return "skipped"  # finished, deleted, running elsewhere or not yet due
        state.leases.hold(job_id, owner)
        try:
            return tasks.run_job(state.runtime, job_id, lease_owner=owner)
        finally:
            state.leases.release(job_id)

    @app.task(name="clearcutout.dispatch_queued", acks_late=True)
    def dispatch_queued() -> int:
        state = _process_state()
        executor = CeleryExecutor(state.runtime, app=app)
        return tasks.dispatch_queued(state.runtime, executor.send)

    @app.task(name="clearcutout.build_exports", acks_late=True)
    def build_exports() -> int:
        return tasks.build_exports(_process_state().runtime)

    @app.task(name="clearcutout.sweep_retention", acks_late=True)
    def sweep_retention() -> int:
        return tasks.sweep_retention(_process_state().runtime).jobs_expired

    @app.task(name="clearcutout.reconcile_storage", acks_late=True)
    def reconcile_storage() -> int:
        return tasks.reconcile_storage(_process_state().runtime).objects_deleted

    @app.task(name="clearcutout.send_breach_notices", acks_late=True)
    def send_breach_notices() -> int:
        return tasks.send_breach_notices(_process_state().runtime)[0]

    @app.task(name="clearcutout.verify_audit_log", acks_late=True)
    def verify_audit_log() -> bool:
        return tasks.verify_audit_log(_process_state().runtime)

    @app.task(
        name=CUTOUT,
        acks_late=True,
        reject_on_worker_lost=True,
        ignore_result=False,
    )
    def cutout(request: dict[str, Any]) -> dict[str, Any]:
        """A synchronous cutout: sealed image in, sealed result out (``workers.remote``)."""
        return remote.serve_cutout(_process_state().runtime, request)


# -- the executor the API process uses ---------------------------------------------------------


class CeleryExecutor:
    """Hands committed jobs to the region's queue; runs nothing in this process."""

    def __init__(self, runtime: Runtime, *, app: Celery | None = None) -> None:
        self.runtime = runtime
        self.app = app or create_celery(runtime.settings)

    def start(self) -> None:
        return None

    def send(self, job_id: str, region: str) -> None:
        """Publish one message: the job id, on its region's queue."""
        self.app.send_task(
            PROCESS_JOB, args=[job_id], queue=queue_of(self.runtime.settings, region)
        )

    def notify(self, job_id: str) -> None:
        """After the commit: hand the job over; a failure is repaired by ``dispatch_queued``."""
        try:
            with self.runtime.unit_of_work() as ctx:
                region = jobs.job_region(ctx, job_id)
            if region is None:
                return
            self.send(job_id, region)
            with self.runtime.unit_of_work() as ctx:
                jobs.mark_dispatched(ctx, [job_id])
        except Exception as exc:
            log.warning("job.dispatch_failed job_id=%s reason=%s", job_id, type(exc).__name__)

    def broker_reachable(self, timeout_s: float = 2.0) -> bool:
        """Whether a connection to the broker can be made now (``/readyz``)."""
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=timeout_s)
            return True
        except Exception:
            return False

    def stop(self, timeout_s: float = 30.0) -> None:
        return None
