"""The lease keeper: one thread per worker process that renews the leases of the jobs it
is running and queues again the jobs whose worker died (their lease ran out).

Shared by both executors: the local one (threads in the app process) and each Celery
worker process, which also writes its heartbeat from here (``service.jobs.queue.beat``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from clearcutout.service import jobs
from clearcutout.service.runtime import Runtime

log = logging.getLogger(__name__)

__all__ = ["LeaseKeeper"]


class LeaseKeeper:
    """Renews held leases every third of ``job_lease_seconds``; re-queues stale jobs."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        on_requeue: Callable[[int], None] | None = None,
        heartbeat: Callable[[], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self._on_requeue = on_requeue
        self._heartbeat = heartbeat
        self._held: dict[str, str] = {}  # job id -> lease owner
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name="clearcutout-leases")
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            self._thread = None

    def hold(self, job_id: str, lease_owner: str) -> None:
        with self._lock:
            self._held[job_id] = lease_owner

    def release(self, job_id: str) -> None:
        with self._lock:
            self._held.pop(job_id, None)

    @property
    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def _interval(self) -> float:
        settings = self.runtime.settings
        interval = settings.job_lease_seconds / 3
        if self._heartbeat is not None:
            interval = min(interval, settings.worker_heartbeat_seconds)
        return max(0.2, interval)

    def _run(self) -> None:
        while not self._stopping.wait(self._interval()):
            try:
                self.tick()
            except Exception:  # the next tick tries again; never end the thread
                log.exception("executor.maintenance_failed")

    def tick(self) -> None:
        """Renew, re-queue, beat: one round (also called directly by tests)."""
        with self._lock:
            held = dict(self._held)
        with self.runtime.unit_of_work() as ctx:
            for job_id, owner in held.items():
                if not jobs.renew_lease(ctx, job_id, lease_owner=owner):
                    log.warning("job.lease_lost job_id=%s", job_id)
        with self.runtime.unit_of_work() as ctx:
            requeued = jobs.requeue_stale(ctx)
        if requeued and self._on_requeue is not None:
            self._on_requeue(requeued)
        if self._heartbeat is not None:
            self._heartbeat()
