"""Image jobs: an uploaded photo, processed in the background, kept until its retention
period ends.

    submission     checks before anything is stored; submit a job, or process one
                   ephemerally; the shared :class:`~clearcutout.engine.Remover` per model
    statemachine   ``JobStatus``, the only code that changes ``jobs.status``; claims and
                   leases
    queue          what the scale-out tier reads: jobs to hand to the broker, worker
                   heartbeats, queue figures
    processing     a worker's steps: load the original, run the engine, complete or fail
    history        what the owner sees: the job list, one job, its original and result
    downloads      results named after their photos; "Download all" as a ZIP archive
    deletion       delete a job now, or expire it when its retention period ends
    usage          the anonymous daily usage counters

Originals and results are sealed objects in the owner's region
(``service.infra.objects``). Workers and tasks take job ids (``workers.tasks.run_job``);
every step is idempotent. Callers use the names re-exported here.
"""

from clearcutout.service.jobs.deletion import delete_job, expire_due, expire_job
from clearcutout.service.jobs.downloads import (
    MAX_ARCHIVE_JOBS,
    Archive,
    NamedImage,
    archive,
    download_name,
    named_result,
)
from clearcutout.service.jobs.history import (
    MAX_PAGE,
    MAX_PER_PAGE,
    JobInfo,
    JobPage,
    ProcessedImage,
    StoredOriginal,
    get_job,
    job_info,
    list_jobs,
    original,
    result,
)
from clearcutout.service.jobs.processing import (
    ClaimedJob,
    HeldRun,
    JobOutput,
    complete,
    fail,
    job_region_and_model,
    load_claimed,
    produce_result,
    retry_job,
    retry_or_fail,
    stored_result,
)
from clearcutout.service.jobs.queue import (
    QueueStats,
    alive_regions,
    due_for_dispatch,
    job_region,
    mark_dispatched,
    queue_stats,
)
from clearcutout.service.jobs.statemachine import (
    TRANSITIONS,
    JobStatus,
    claim,
    claim_next,
    renew_lease,
    requeue_stale,
    transition,
)
from clearcutout.service.jobs.submission import (
    check_image,
    check_model,
    process_ephemeral,
    remover_for,
    submit,
    with_quality,
)

__all__ = [
    "MAX_ARCHIVE_JOBS",
    "MAX_PAGE",
    "MAX_PER_PAGE",
    "TRANSITIONS",
    "Archive",
    "ClaimedJob",
    "HeldRun",
    "JobInfo",
    "JobOutput",
    "JobPage",
    "JobStatus",
    "NamedImage",
    "ProcessedImage",
    "QueueStats",
    "StoredOriginal",
    "alive_regions",
    "archive",
    "check_image",
    "check_model",
    "claim",
    "claim_next",
    "complete",
    "delete_job",
    "download_name",
    "due_for_dispatch",
    "expire_due",
    "expire_job",
    "fail",
    "get_job",
    "job_info",
    "job_region",
    "job_region_and_model",
    "list_jobs",
    "load_claimed",
    "mark_dispatched",
    "named_result",
    "original",
    "process_ephemeral",
    "produce_result",
    "queue_stats",
    "remover_for",
    "renew_lease",
    "requeue_stale",
    "result",
    "retry_job",
    "retry_or_fail",
    "stored_result",
    "submit",
    "transition",
    "with_quality",
]
