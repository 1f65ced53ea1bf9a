"""Health and metrics: ``/readyz`` for load balancers and orchestrators, ``/metrics`` for
Prometheus (``/healthz``, "the process answers", is in ``pages``).

``/readyz`` answers 503 when the database, an object store or the broker is unreachable;
a region with no worker alive is reported in the body (``warnings``) without failing the
API process, whose other routes still work. docs/scale-out.md shows both.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from clearcutout.web.boundary import runtime
from clearcutout.web.errors import error_body
from clearcutout.workers.health import readiness

router = APIRouter(include_in_schema=False)


@router.get("/readyz")
def readyz(request: Request) -> Response:
    """Whether this process can serve: database, storage, broker; workers per region."""
    app_runtime = runtime(request)
    executor = request.app.state.executor
    probe = getattr(executor, "broker_reachable", None)
    report = readiness(app_runtime, broker=probe)
    body = {
        "status": "ready" if report.ready else "unavailable",
        "checks": report.checks,
        "workers": report.workers,
        "warnings": report.warnings,
    }
    headers = {"Cache-Control": "no-store"}
    if not report.ready:
        headers["Retry-After"] = "5"
    return JSONResponse(body, status_code=200 if report.ready else 503, headers=headers)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus text format; 404 when off or served on the internal ``metrics_port``."""
    settings = runtime(request).settings
    if not settings.metrics_enabled or settings.metrics_port is not None:
        return JSONResponse(error_body("not_found", "Not found", "No such page."), status_code=404)
    registry = request.app.state.metrics.registry
    return Response(
        generate_latest(registry),
        media_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": "no-store"},
    )
