"""Image jobs: an uploaded photo, processed in the background, kept until its retention
period ends.

    submission     checks before anything is stored; submit a job, or process one
                   ephemerally; the shared :class:`~clearcutout.engine.Remover` per model
    statemachine   ``JobStatus``, the only code that changes ``jobs.status``; claims and
                   leases
    processing     a worker's steps: load the original, run the engine, complete or fail
    history        what the owner sees: the job list, one job, its original and result
    deletion       delete a job now, or expire it when its retention period ends
    usage          the anonymous daily usage counters

Originals and results are sealed objects in the owner's region
(``service.infra.objects``). Workers and tasks take job ids (``workers.tasks.run_job``);
every step is idempotent. Callers use the names re-exported here.
"""

from clearcutout.service.jobs.deletion import delete_job, expire_due, expire_job
from clearcutout.service.jobs.history import (
    MAX_PER_PAGE,
    JobInfo,
    JobPage,
    ProcessedImage,
    StoredOriginal,
    get_job,
    list_jobs,
    original,
    result,
)
from clearcutout.service.jobs.processing import (
    ClaimedJob,
    JobOutput,
    complete,
    fail,
    job_region_and_model,
    load_claimed,
    produce_result,
    retry_or_fail,
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
    "MAX_PER_PAGE",
    "TRANSITIONS",
    "ClaimedJob",
    "JobInfo",
    "JobOutput",
    "JobPage",
    "JobStatus",
    "ProcessedImage",
    "StoredOriginal",
    "check_image",
    "check_model",
    "claim",
    "claim_next",
    "complete",
    "delete_job",
    "expire_due",
    "expire_job",
    "fail",
    "get_job",
    "job_region_and_model",
    "list_jobs",
    "load_claimed",
    "original",
    "process_ephemeral",
    "produce_result",
    "remover_for",
    "renew_lease",
    "requeue_stale",
    "result",
    "retry_or_fail",
    "submit",
    "transition",
    "with_quality",
]
