"""Fixtures for the privacy-rights suite (retention, residency, export, deletion): the
app with a clock the tests move, on ``file://`` or a real S3 server (SeaweedFS), and
signed-in browsers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from clearcutout.service.infra import objects
from tests.support.jobs import (
    PASSWORD,
    Account,
    JobsApp,
    job_settings,
    jobs_app,
    s3_regions,
)
from tests.support.seaweedfs import SeaweedFS

__all__ = ["PASSWORD", "Account", "MovableClock", "csrf_from", "keys_of", "sign_in"]


class MovableClock:
    """Real time until a test moves it; the app, sweeper and services all read it."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **kwargs: float) -> None:
        self.offset += timedelta(**kwargs)


def _app(tmp_path: Path, **overrides: Any) -> Iterator[JobsApp]:
    for app in jobs_app(job_settings(tmp_path / "data", **overrides)):
        clock = MovableClock()
        app.client.app.state.runtime.clock = clock  # type: ignore[attr-defined]
        app.clock = clock  # type: ignore[attr-defined]
        yield app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[JobsApp]:
    """The app on SQLite and ``file://`` storage, with a movable clock (``app.clock``)."""
    yield from _app(tmp_path)


@pytest.fixture(params=["file", "s3"])
def backend_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobsApp]:
    """The app on ``file://`` storage, then on a real S3 server (SeaweedFS)."""
    if request.param == "file":
        yield from _app(tmp_path)
        return
    server: SeaweedFS = request.getfixturevalue("seaweedfs")
    regions = s3_regions(server, f"rights-{uuid.uuid4().hex[:8]}")
    yield from _app(tmp_path, regions=regions)


def keys_of(app: JobsApp, region: str, user_id: str | None = None) -> list[str]:
    """Every object key in ``region``'s storage (of one user, when given)."""
    store = objects.region_store(app.settings, region)
    prefix = objects.user_prefix(user_id) if user_id else ""
    return sorted(store.iter_keys(prefix))


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: TestClient, account: Account) -> TestClient:
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": account.email, "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client
