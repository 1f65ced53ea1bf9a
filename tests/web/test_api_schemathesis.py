"""Schemathesis against our own OpenAPI document: every API operation (``/api/v1/*`` and
``/v1.0/*``) with generated valid and invalid inputs, authenticated by an API key. No
input may give a 5xx. A fixed number of examples per operation keeps CI time bounded.

Checked now: ``not_a_server_error``. The conformance checks (status codes, content types,
response schemas, headers) are switched on once the OpenAPI document declares the real
error statuses and bodies; ``CONFORMANCE`` lists them.
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

#: To add to ``checks`` once the document tells the truth about errors.
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


def test_no_input_gives_a_server_error(api_key_and_app: tuple[str, object]) -> None:
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
            case.call_and_validate(headers={"X-Api-Key": key}, checks=[not_a_server_error])

        try:
            exercise()
        except Exception as exc:  # collect every operation's failure, then report
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
