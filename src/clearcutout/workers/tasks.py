"""The task boundary: every piece of background work, as a plain function of a runtime.

    run_job(runtime, job_id, lease_owner=…)   process one claimed image job
    sweep_retention(runtime)                  delete what is past its retention period
    build_exports(runtime)                    build the waiting "Download my data" archives
    reconcile_storage(runtime)                delete stored objects no job knows about
    dispatch_queued(runtime, send)            hand queued jobs to the broker again
    send_breach_notices(runtime)              deliver pending incident notices, per person
    verify_audit_log(runtime)                 check the access log's hash chain; alert

Each takes ids and settings only, is idempotent, and opens its own short units of work
(:meth:`~clearcutout.service.runtime.Runtime.unit_of_work`), so the same call is the
body of a local thread (``workers.local``, ``workers.housekeeping``), a CLI command, or
a Celery task (``@app.task def process_job(job_id): run_job(runtime, job_id, …)``).
Slow work (the engine, building a ZIP) happens outside any transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from clearcutout.errors import ClearCutoutError, MailDeliveryError
from clearcutout.service import jobs
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import metrics
from clearcutout.service.jobs import idempotency
from clearcutout.service.privacy import export, reconcile, retention
from clearcutout.service.runtime import Runtime

log = logging.getLogger(__name__)

__all__ = [
    "build_exports",
    "dispatch_queued",
    "reconcile_storage",
    "run_job",
    "send_breach_notices",
    "sweep_retention",
    "verify_audit_log",
]


# -- image jobs -----------------------------------------------------------------------------


def run_job(runtime: Runtime, job_id: str, *, lease_owner: str) -> str:
    """Process a job that ``lease_owner`` has claimed; the outcome.

    Outcomes: ``done``, ``failed``, ``requeued``, ``skipped`` (not held by this owner any
    more: finished, deleted or expired meanwhile) or ``lost`` (the lease ran out while
    working; the late result is discarded). Never raises for a job's own failure.
    """
    started = time.perf_counter()
    claimed: jobs.ClaimedJob | None = None
    try:
        with runtime.unit_of_work() as ctx:
            claimed = jobs.load_claimed(ctx, job_id, lease_owner=lease_owner)
        if claimed is None:
            return "skipped"
        with runtime.unit_of_work() as ctx:
            found = jobs.stored_result(ctx, claimed) if claimed.attempt > 1 else None
        if found is not None:  # an earlier attempt stored it but could not say so
            stored_key, output = found
        else:
            stored_key = None
            remover = jobs.remover_for(runtime.settings, claimed.model)
            output = jobs.produce_result(remover, claimed)
            metrics.observe_processing(
                claimed.model,
                output.width,
                output.height,
                time.perf_counter() - started,
                path="job",
            )
        with runtime.unit_of_work() as ctx:
            done = jobs.complete(
                ctx,
                claimed,
                output,
                lease_owner=lease_owner,
                seconds=time.perf_counter() - started,
                stored_key=stored_key,
            )
        return "done" if done else "lost"
    except Exception as exc:  # a job's failure must not end the worker
        error = (
            exc
            if isinstance(exc, ClearCutoutError)
            else ClearCutoutError("Processing failed unexpectedly.", code="internal_error")
        )
        if not isinstance(exc, ClearCutoutError):
            log.exception("job.crashed job_id=%s reason=%s", job_id, type(exc).__name__)
        return _after_error(runtime, job_id, lease_owner, error, claimed, started)


def _after_error(
    runtime: Runtime,
    job_id: str,
    lease_owner: str,
    error: ClearCutoutError,
    claimed: jobs.ClaimedJob | None,
    started: float,
) -> str:
    seconds = time.perf_counter() - started
    with runtime.unit_of_work() as ctx:
        region, model = _where(ctx, job_id, claimed)
        held = jobs.HeldRun(job_id, lease_owner, region=region, model=model, seconds=seconds)
        requeued = jobs.retry_or_fail(ctx, held, error)
    return "requeued" if requeued else "failed"


def _where(ctx: ServiceContext, job_id: str, claimed: jobs.ClaimedJob | None) -> tuple[str, str]:
    if claimed is not None:
        return claimed.region, claimed.model
    found = jobs.job_region_and_model(ctx, job_id)
    return found if found is not None else ("unknown", "unknown")


def dispatch_queued(
    runtime: Runtime, send: Callable[[str, str], None], *, batch_size: int = 500
) -> int:
    """Hand the broker every queued job it was not given recently; how many were sent.

    The database is the queue's source of truth; this periodic task (``clearcutout
    beat``) repairs whatever the broker lost: a message dropped in a broker restart, a
    hand-over that failed after the job was committed, a job queued again after a
    transient error or because its worker died (``requeue_stale``, done here too, so a
    dead worker's job is not left waiting for a lease keeper). A duplicate message is
    harmless: the worker claims through the state machine, which refuses a job that is
    not queued, or not yet due. ``send(job_id, region)`` publishes one message.
    """
    with runtime.unit_of_work() as ctx:
        jobs.requeue_stale(ctx)
    with runtime.unit_of_work() as ctx:
        due = jobs.due_for_dispatch(ctx, limit=batch_size)
        jobs.mark_dispatched(ctx, [job_id for job_id, _ in due])
    sent = 0
    for job_id, region in due:
        try:
            send(job_id, region)
            sent += 1
        except Exception:  # the broker is down: marked, so handed again next time
            log.warning("job.dispatch_failed job_id=%s", job_id)
    if sent:
        log.info("jobs.dispatched count=%d", sent)
    return sent


# -- automatic deletion ---------------------------------------------------------------------


def sweep_retention(runtime: Runtime, *, batch_size: int | None = None) -> retention.SweepReport:
    """Delete everything whose retention period has passed, batch by batch; what it did.

    The body of the periodic task: takes no object ids, is safe to run concurrently with
    itself (state moves are conditional) and to stop at any point.
    """
    limit = batch_size or runtime.settings.retention_sweep_batch
    report = retention.SweepReport()
    while True:
        with runtime.unit_of_work() as ctx:
            seen = retention.expire_jobs(ctx, report, limit=limit)
        report.batches += 1
        if seen < limit:
            break
    while True:
        with runtime.unit_of_work() as ctx:
            seen = retention.expire_exports(ctx, report, limit=limit)
        if seen < limit:
            break
    log.info(
        "retention.swept jobs_expired=%d objects_deleted=%d exports_deleted=%d failures=%d",
        report.jobs_expired,
        report.objects_deleted,
        report.exports_deleted,
        report.failures,
    )
    return report


# -- "Download my data" ---------------------------------------------------------------------


def build_exports(runtime: Runtime) -> int:
    """Build every waiting archive, each in its own transaction; how many were finished."""
    with runtime.unit_of_work() as ctx:
        waiting = export.waiting_exports(ctx)
    built = 0
    for export_id in waiting:
        try:
            with runtime.unit_of_work() as ctx:
                built += export.build_export(ctx, export_id)
        except Exception:
            log.exception("export.failed export_id=%s", export_id)
            with runtime.unit_of_work() as ctx:
                export.count_failure(ctx, export_id)
    return built


# -- strays -----------------------------------------------------------------------------------


def reconcile_storage(runtime: Runtime) -> reconcile.ReconcileReport:
    """Delete what the stores hold that no job knows about (an upload whose commit failed,
    a write that landed after its timeout, a killed writer's half-written file), and the
    expired ``Idempotency-Key`` records; counts only. Each region is its own transaction.
    """
    report = reconcile.ReconcileReport()
    for region in runtime.settings.regions:
        with runtime.unit_of_work() as ctx:
            reconcile.reconcile_region(ctx, region, report)
    with runtime.unit_of_work() as ctx:
        idempotency.forget_expired(ctx)
    log.info(
        "storage.reconciled objects_checked=%d objects_deleted=%d partials_deleted=%d",
        report.objects_checked,
        report.objects_deleted,
        report.partials_deleted,
    )
    return report


# -- staff accountability -------------------------------------------------------------------


def send_breach_notices(runtime: Runtime, incident_id: str | None = None) -> tuple[int, int]:
    """Send every pending breach notice, each person in their own transaction (the mail
    goes after its commit); a refused one is recorded and tried again next time.
    Returns (sent, failed)."""
    from clearcutout.service.staff import incidents

    with runtime.unit_of_work() as ctx:
        pending = incidents.pending_notices(ctx, incident_id)
    sent = failed = 0
    for incident, user_id in pending:
        try:
            with runtime.unit_of_work() as ctx:
                queued = incidents.queue_notice(ctx, incident, user_id)
            sent += queued  # counted once the mail went out, after the commit
        except MailDeliveryError as exc:
            failed += 1
            log.warning("incident.notice_failed incident_id=%s user_id=%s", incident, user_id)
            with runtime.unit_of_work() as ctx:
                incidents.notice_failed(ctx, incident, user_id, exc.message)
    return sent, failed


def verify_audit_log(runtime: Runtime) -> bool:
    """Walk the access log's hash chain; a broken link alerts the admins. True if whole."""
    from clearcutout.service.staff import monitoring

    with runtime.unit_of_work() as ctx:
        ok = monitoring.check_audit_chain(ctx)
    log.log(logging.INFO if ok else logging.ERROR, "audit.verified ok=%s", ok)
    return ok
