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
import time
import uuid

from clearcutout.engine.session import available_cores
from clearcutout.service import jobs
from clearcutout.service.runtime import Runtime
from clearcutout.workers.leases import LeaseKeeper
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
        self._leases = LeaseKeeper(runtime, on_requeue=self._requeued)
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
        for thread in self._threads:
            thread.start()
        self._leases.start()
        log.info("executor.started kind=local threads=%s", self.thread_count)

    def notify(self, job_id: str) -> None:
        with self._wake:
            self._signals += 1
            self._wake.notify()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop; wait at most ``timeout_s`` in all for the jobs in flight.

        A job still running then is abandoned (daemon thread): its lease runs out and
        another process takes it again, so a stuck image cannot hold shutdown forever.
        """
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        unfinished = sum(thread.is_alive() for thread in self._threads)
        self._threads = []
        self._leases.stop()
        log.info("executor.stopped kind=local abandoned=%s", unfinished)

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
            self._leases.hold(job_id, lease_owner)
            try:
                run_job(self.runtime, job_id, lease_owner=lease_owner)
            except Exception:  # the database itself failed; the lease will run out
                log.exception("job.run_failed job_id=%s", job_id)
            finally:
                self._leases.release(job_id)

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

    def _requeued(self, count: int) -> None:
        with self._wake:
            self._signals += 1
            self._wake.notify_all()
