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

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from clearcutout.web import create_app
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
        yield key, app
    finally:
        app.state.runtime.close()


def test_every_answer_is_documented_and_never_a_server_error(
    api_key_and_app: tuple[str, object],
) -> None:
    """Each operation in turn (schemathesis's pytest plugin does not run on this pytest,
    so the operations are driven through Hypothesis here)."""
    key, app = api_key_and_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(
        path_regex=r"^/(api/v1|v1\.0)/"
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9  # the jobs API, the account API and remove.bg's
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: schemathesis.Case) -> None:
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
