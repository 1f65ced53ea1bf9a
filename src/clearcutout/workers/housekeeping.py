"""In-process housekeeping for the embedded default: one thread that

* runs the retention sweep (``workers.tasks.sweep_retention``) at start and then every
  ``retention_sweep_interval_seconds`` (0 turns it off: a scale-out deployment runs it
  from Celery beat or ``clearcutout retention sweep``), and
* reconciles storage with the database right after each sweep
  (``workers.tasks.reconcile_storage``: objects no job knows about, half-written files),
* builds the "Download my data" archives that are waiting (``workers.tasks.build_exports``),
  at once when :meth:`Housekeeper.wake` is called after a request is committed, and at
  every tick, so an archive whose build was cut short by a restart is built after it;
* sends pending breach notices at every tick (``workers.tasks.send_breach_notices``), and
* verifies the access log's hash chain every ``staff.audit_verify_interval_seconds``
  (daily by default; ``workers.tasks.verify_audit_log`` alerts the admins on a break).

Both are tasks of ids and settings, each step its own transaction, so the same calls
work from a Celery task. The thread holds the app's runtime, so it reads the same clock.
"""

from __future__ import annotations

import logging
import threading
import time

from clearcutout.service.runtime import Runtime
from clearcutout.workers.tasks import (
    build_exports,
    reconcile_storage,
    send_breach_notices,
    sweep_retention,
    verify_audit_log,
)

log = logging.getLogger(__name__)

__all__ = ["Housekeeper"]

# How often waiting exports are looked for when nobody wakes the thread.
_EXPORT_POLL_SECONDS = 30.0


class Housekeeper:
    """The retention sweeper and the export builder, on one daemon thread."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.sweeps = 0

    def start(self) -> None:
        if self._thread is not None:
            return
        if self.runtime.settings.executor == "celery":
            # Scale-out: ``clearcutout beat`` schedules this work for the workers.
            log.info("housekeeping.skipped reason=celery_beat")
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, daemon=True, name="clearcutout-housekeeping"
        )
        self._thread.start()
        log.info(
            "housekeeping.started sweep_interval_s=%s",
            self.runtime.settings.retention_sweep_interval_seconds,
        )

    def wake(self) -> None:
        """Look for waiting exports now (called after a request committed one)."""
        self._wake.set()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            self._thread = None
        log.info("housekeeping.stopped")

    def _run(self) -> None:
        interval = self.runtime.settings.retention_sweep_interval_seconds
        next_sweep = time.monotonic() if interval > 0 else float("inf")
        audit_interval = self.runtime.settings.staff.audit_verify_interval_seconds
        next_audit = time.monotonic() if audit_interval > 0 else float("inf")
        while not self._stopping.is_set():
            self._build_exports()
            self._staff_tasks(audit_due=time.monotonic() >= next_audit)
            if time.monotonic() >= next_audit:
                next_audit = time.monotonic() + audit_interval
            if time.monotonic() >= next_sweep:
                self._sweep()
                next_sweep = time.monotonic() + interval
            wait = min(_EXPORT_POLL_SECONDS, max(0.0, next_sweep - time.monotonic()))
            self._wake.wait(timeout=wait)
            self._wake.clear()

    def _sweep(self) -> None:
        try:
            sweep_retention(self.runtime)
            self.sweeps += 1
        except Exception:  # the next tick tries again; never end the thread
            log.exception("retention.sweep_failed")
        try:
            reconcile_storage(self.runtime)
        except Exception:
            log.exception("storage.reconcile_failed")

    def _build_exports(self) -> None:
        try:
            build_exports(self.runtime)
        except Exception:
            log.exception("export.build_failed")

    def _staff_tasks(self, *, audit_due: bool) -> None:
        try:
            send_breach_notices(self.runtime)
            if audit_due:
                verify_audit_log(self.runtime)
        except Exception:
            log.exception("staff.periodic_failed")
