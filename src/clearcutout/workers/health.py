"""Readiness: can this process do its work now? (``/readyz``, docs/scale-out.md)

Checks the database, each region's object store and, with the Celery executor, the
broker and the workers of each region. Only reachability is reported: no data is read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import text

from clearcutout.service.infra.objects import region_store
from clearcutout.service.jobs.queue import alive_regions
from clearcutout.service.runtime import Runtime

log = logging.getLogger(__name__)

__all__ = ["Readiness", "readiness"]

_PROBE_KEY = "health/readiness-probe"


@dataclass
class Readiness:
    """Each check's outcome (``ok`` or why not) and the regions without a live worker."""

    checks: dict[str, str] = field(default_factory=dict)
    workers: dict[str, int] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(outcome == "ok" for outcome in self.checks.values())

    @property
    def warnings(self) -> list[str]:
        return [
            f"no worker alive for region {region}"
            for region, count in sorted(self.workers.items())
            if count == 0
        ]


def readiness(runtime: Runtime, *, broker: Callable[[], bool] | None = None) -> Readiness:
    """Run the checks; ``broker`` says whether the broker answers (Celery executor only)."""
    report = Readiness()
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        report.checks["database"] = "ok"
    except Exception as exc:
        report.checks["database"] = f"unreachable ({type(exc).__name__})"
    for region in sorted(runtime.settings.regions):
        try:
            region_store(runtime.settings, region).exists(_PROBE_KEY)
            report.checks[f"storage:{region}"] = "ok"
        except Exception as exc:
            report.checks[f"storage:{region}"] = f"unreachable ({type(exc).__name__})"
    if broker is not None:
        report.checks["broker"] = "ok" if broker() else "unreachable"
        if report.checks["database"] == "ok":
            try:
                with runtime.unit_of_work() as ctx:
                    report.workers = alive_regions(ctx)
            except Exception:
                log.warning("readiness.workers_unknown")
    return report
