"""The ``local`` executor: worker threads in the app process, fed by the database queue.

The queue is the ``jobs`` table itself, so nothing is lost when the process dies: jobs
still ``queued`` are claimed at the next start, and jobs left ``running`` by a dead
process are queued again once their lease runs out (``job_lease_seconds``), because
nobody renews it. Live workers renew their leases from a maintenance thread, which also
does that re-queueing. ``notify`` wakes an idle worker at once; without it a worker
still finds new jobs within ``job_poll_seconds`` (jobs queued by another process).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

from clearcutout.engine.session import available_cores
from clearcutout.service import jobs
from clearcutout.service.runtime import Runtime
from clearcutout.workers.tasks import run_job

log = logging.getLogger(__name__)

__all__ = ["LocalExecutor", "default_thread_count"]


def default_thread_count() -> int:
    """Jobs at once when not configured: each inference already uses every core, so a
    second job only helps to overlap decoding, encoding and storage I/O."""
    return max(1, min(4, available_cores() // 2))


class LocalExecutor:
    """Runs the jobs of every configured region in this process."""

    def __init__(self, runtime: Runtime, *, threads: int | None = None) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.thread_count = threads or settings.worker_threads or default_thread_count()
        self.regions = tuple(settings.regions)
        self._identity = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stopping = threading.Event()
        self._signals = 0
        self._wake = threading.Condition()
        self._held: dict[str, str] = {}  # job id -> lease owner, for the lease renewals
        self._held_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # -- Executor --------------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            return
        self._stopping.clear()
        for index in range(self.thread_count):
            self._threads.append(
                threading.Thread(
                    target=self._work,
                    args=(f"{self._identity}:{index}",),
                    daemon=True,
                    name=f"clearcutout-worker-{index}",
                )
            )
        self._threads.append(
            threading.Thread(target=self._maintain, daemon=True, name="clearcutout-leases")
        )
        for thread in self._threads:
            thread.start()
        log.info("executor.started kind=local threads=%s", self.thread_count)

    def notify(self, job_id: str) -> None:
        with self._wake:
            self._signals += 1
            self._wake.notify()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout=timeout_s)
        self._threads = []
        log.info("executor.stopped kind=local")

    # -- threads ---------------------------------------------------------------------------

    def _work(self, lease_owner: str) -> None:
        poll_s = self.runtime.settings.job_poll_seconds
        while not self._stopping.is_set():
            with self._wake:
                seen = self._signals
            job_id = self._claim(lease_owner)
            if job_id is None:
                self._idle(seen, poll_s)
                continue
            with self._held_lock:
                self._held[job_id] = lease_owner
            try:
                run_job(self.runtime, job_id, lease_owner=lease_owner)
            except Exception:  # the database itself failed; the lease will run out
                log.exception("job.run_failed job_id=%s", job_id)
            finally:
                with self._held_lock:
                    self._held.pop(job_id, None)

    def _idle(self, seen: int, timeout_s: float) -> None:
        """Sleep until ``notify`` (after ``seen`` signals), stop, or ``timeout_s``."""
        with self._wake:
            self._wake.wait_for(
                lambda: self._signals != seen or self._stopping.is_set(), timeout=timeout_s
            )

    def _claim(self, lease_owner: str) -> str | None:
        try:
            with self.runtime.unit_of_work() as ctx:
                return jobs.claim_next(ctx, lease_owner=lease_owner, regions=self.regions)
        except Exception:
            log.exception("executor.claim_failed")
            self._stopping.wait(self.runtime.settings.job_poll_seconds)
            return None

    def _maintain(self) -> None:
        interval = max(0.2, self.runtime.settings.job_lease_seconds / 3)
        while not self._stopping.wait(interval):
            try:
                self._renew_and_requeue()
            except Exception:
                log.exception("executor.maintenance_failed")

    def _renew_and_requeue(self) -> None:
        with self._held_lock:
            held = dict(self._held)
        with self.runtime.unit_of_work() as ctx:
            for job_id, owner in held.items():
                if not jobs.renew_lease(ctx, job_id, lease_owner=owner):
                    log.warning("job.lease_lost job_id=%s", job_id)
        with self.runtime.unit_of_work() as ctx:
            requeued = jobs.requeue_stale(ctx)
        if requeued:
            with self._wake:
                self._signals += 1
                self._wake.notify_all()
