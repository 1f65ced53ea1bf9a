"""The API docs render in a real browser under the app's CSP, with no other origin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import fast_settings
from tests.e2e.test_browser import browser_page  # noqa: F401 (fixture)
from tests.support.app_server import running_app
from tests.support.database import migrate


def test_swagger_ui_renders_the_jobs_api_from_this_origin_only(
    tmp_path: Path,
    browser_page: Any,  # noqa: F811
) -> None:
    settings = fast_settings(tmp_path / "data", executor="none")
    migrate(settings)
    page = browser_page
    problems: list[str] = []
    origins: set[str] = set()
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.on("request", lambda request: origins.add(request.url.split("/")[2]))
    with running_app(settings) as base:
        page.goto(f"{base}/docs")
        page.wait_for_selector(".opblock", timeout=15_000)
        assert page.locator(".opblock").count() >= 6
        assert "/api/v1/jobs/{job_id}/result" in page.locator("#swagger-ui").inner_text()
    assert problems == []
    assert origins == {base.split("/")[2]}
