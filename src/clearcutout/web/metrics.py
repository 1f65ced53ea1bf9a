"""Prometheus metrics of the web tier: request latency, plus the queue read from the
database at scrape time (jobs by state, queue depth and oldest queued age per region,
workers alive per region), plus what this process recorded
(``service.infra.metrics``).

Labels never hold personal data: a route's template (``/api/v1/jobs/{job_id}``, never the
id), a method, a status, a region, a model (privacy policy, "Usage Data").
``metrics_port`` serves them on an internal port only; otherwise ``/metrics`` on the app.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clearcutout.service import jobs
from clearcutout.service.infra.metrics import PROCESS_REGISTRY
from clearcutout.service.runtime import Runtime
from clearcutout.web.middleware import HttpMiddleware

log = logging.getLogger(__name__)

__all__ = ["AppMetrics", "RequestTimer"]


class _QueueCollector(Collector):
    """Reads the queue figures from the database when scraped (one short transaction)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        try:
            with self.runtime.unit_of_work() as ctx:
                stats = jobs.queue_stats(ctx)
        except Exception:
            log.warning("metrics.queue_unavailable")
            return
        by_state = GaugeMetricFamily(
            "clearcutout_jobs", "Jobs by state and region.", labels=["state", "region"]
        )
        for (state, region), count in sorted(stats.by_status.items()):
            by_state.add_metric([state, region], count)
        depth = GaugeMetricFamily(
            "clearcutout_queue_depth", "Jobs queued per region.", labels=["region"]
        )
        age = GaugeMetricFamily(
            "clearcutout_queue_oldest_seconds",
            "Age of the oldest queued job per region (0 when none is queued).",
            labels=["region"],
        )
        alive = GaugeMetricFamily(
            "clearcutout_workers_alive",
            "Worker processes with a loaded model whose heartbeat is recent, per region.",
            labels=["region"],
        )
        for region in sorted(self.runtime.settings.regions):
            depth.add_metric([region], stats.by_status.get(("queued", region), 0))
            age.add_metric([region], stats.oldest_queued_s.get(region, 0.0))
            alive.add_metric([region], stats.workers_alive.get(region, 0))
        yield from (by_state, depth, age, alive)


class _Forward(Collector):
    """Another registry's metrics, as part of this one."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()


class AppMetrics:
    """One app's registry: its request histogram and the collectors above."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Histogram(
            "clearcutout_request_seconds",
            "Seconds to answer an HTTP request, by route template, method and status.",
            ["route", "method", "status"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120),
            registry=self.registry,
        )
        self.registry.register(_QueueCollector(runtime))
        self.registry.register(_Forward(PROCESS_REGISTRY))
        self._server: Any = None

    def start_internal(self) -> None:
        """Serve the metrics on ``metrics_port`` (internal address) when configured."""
        settings = self.runtime.settings
        if not settings.metrics_enabled or settings.metrics_port is None or self._server:
            return
        try:
            self._server = start_http_server(
                settings.metrics_port, addr=settings.metrics_host, registry=self.registry
            )
        except OSError as exc:  # another process of this host serves it already
            log.warning("metrics.port_unavailable reason=%s", exc)

    def stop_internal(self) -> None:
        if self._server:
            server, thread = self._server
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            self._server = None


class RequestTimer(HttpMiddleware):
    """ASGI middleware: observes each HTTP request's latency under its route template."""

    def __init__(self, app: ASGIApp, *, metrics: AppMetrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(
                route=template, method=scope.get("method", ""), status=str(status)
            ).observe(time.perf_counter() - started)
