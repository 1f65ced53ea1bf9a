"""Schemathesis against our own OpenAPI document: every API operation (``/api/v1/*`` and
``/v1.0/*``) with generated valid and invalid inputs, authenticated by an API key. No
input may give a 5xx, and every answer must be one the document promises: a documented
status code, a documented content type, a body that validates against the documented
schema, and the headers the document marks as required. A fixed number of examples per
operation keeps CI time bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from clearcutout.engine import CutoutOptions
from clearcutout.service import jobs
from clearcutout.service.accounts import get_user_by_email
from clearcutout.service.context import ServiceContext
from clearcutout.web import create_app
from clearcutout.workers.tasks import run_job
from tests.support.jobs import small_photo
from tests.support.removebg import create_key, removebg_settings

#: The answer matches the document (``web/openapi.py`` declares each operation's errors).
CONFORMANCE = (
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
)
EXAMPLES = 25


@pytest.fixture(scope="module")
def api_key_and_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    data = Path(tmp_path_factory.mktemp("schemathesis")) / "data"
    app_settings = removebg_settings(data, executor="none")
    key = create_key(app_settings, "fuzz@example.org", scopes=["images", "account"])
    app = create_app(app_settings)
    try:
        app.state.fuzz_finished_job = _job(app, finished=True)
        yield key, app
    finally:
        app.state.runtime.close()


def _job(app: Any, *, finished: bool) -> str:
    """A job of the fuzzing account: processed (its answers are the successful ones), or
    just queued (for the DELETE cases, which must not take the processed one away)."""
    runtime = app.state.runtime

    def submit(ctx: ServiceContext) -> str:
        user = get_user_by_email(ctx, "fuzz@example.org")
        return jobs.submit(ctx, user, small_photo(64, 48), CutoutOptions(), model="u2netp").id

    with runtime.unit_of_work() as ctx:
        job_id = submit(ctx)
    if finished:
        with runtime.unit_of_work() as ctx:
            assert jobs.claim(ctx, job_id, lease_owner="fuzz")
        assert run_job(runtime, job_id, lease_owner="fuzz") == "done"
    return job_id


def test_every_answer_is_documented_and_never_a_server_error(
    api_key_and_app: tuple[str, object],
) -> None:
    """Each operation in turn (schemathesis's pytest plugin does not run on this pytest,
    so the operations are driven through Hypothesis here)."""
    key, app = api_key_and_app
    assert isinstance(app, FastAPI)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(
        path_regex=r"^/(api/v1|v1\.0)/"
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9  # the jobs API, the account API and remove.bg's
    failures: list[str] = []
    for operation in operations:
        # Generated ids are never a job's: half the cases ask about a real one instead,
        # so the successful answers (JobOut, the images) are checked against the document.
        @given(case=operation.as_strategy(), real_job=st.booleans())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: schemathesis.Case, real_job: bool) -> None:
            if real_job and "job_id" in (case.path_parameters or {}):
                deleting = case.method.upper() == "DELETE"
                job_id = _job(app, finished=False) if deleting else app.state.fuzz_finished_job
                case.path_parameters = {**case.path_parameters, "job_id": job_id}
            case.call_and_validate(
                headers={"X-Api-Key": key}, checks=[not_a_server_error, *CONFORMANCE]
            )

        try:
            exercise()
        # Schemathesis reports a failure as a ``BaseExceptionGroup``: collect every
        # operation's failures, then report them together.
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
