"""``clearcutout worker`` and ``clearcutout beat``: the scale-out tier (docs/scale-out.md).

Both need ``CLEARCUTOUT_BROKER_URL`` and a migrated database shared with the API
processes; the embedded default (``clearcutout serve`` alone) needs neither.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from clearcutout.config import get_settings
from clearcutout.errors import ConfigurationError

__all__ = ["beat", "worker"]


def _check(region: str | None = None) -> None:
    from clearcutout.service.runtime import Runtime

    settings = get_settings()
    if not settings.broker_url:
        raise ConfigurationError("Set CLEARCUTOUT_BROKER_URL (redis://… or amqp://…) first.")
    if region is not None and region not in settings.regions:
        known = ", ".join(sorted(settings.regions))
        raise ConfigurationError(f"Unknown region {region!r}; configured: {known}.")
    # Refuses an un-migrated database before any process starts taking work.
    Runtime.from_settings(settings).close()


def worker(
    region: Annotated[str, typer.Option(help="The region whose queue this worker consumes.")],
    concurrency: Annotated[
        int, typer.Option(min=1, help="Worker processes (each loads the model once).")
    ] = 1,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Process the jobs and synchronous cutouts of one region (Celery worker)."""
    from clearcutout.workers.celeryapp import create_celery, queue_of, sync_queue_of

    _check(region)
    settings = get_settings()
    # Read by every pool process (inherited): which region's heartbeat it writes.
    os.environ["CLEARCUTOUT_WORKER_REGION"] = region
    app = create_celery(settings)
    app.worker_main(
        [
            "worker",
            "--queues",
            # Synchronous cutouts first: someone is waiting for each of them.
            f"{sync_queue_of(settings, region)},{queue_of(settings, region)},"
            f"{settings.periodic_queue}",
            "--concurrency",
            str(concurrency),
            "--pool",
            "prefork",
            "--loglevel",
            loglevel,
            "--hostname",
            f"{region}-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def beat(
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Schedule the periodic work: dispatch of queued jobs, exports, retention sweep."""
    from clearcutout.workers.celeryapp import create_celery

    _check()
    app = create_celery(get_settings())
    app.Beat(loglevel=loglevel).run()
