"""``/readyz`` and ``/metrics``: what they check and count, and what they never show."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import free_port
from tests.support.jobs import JobsApp, job_settings, jobs_app, small_photo


def test_readyz_checks_database_and_every_regions_storage(app: JobsApp) -> None:
    response = app.client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"database": "ok", "storage:eu": "ok", "storage:us": "ok"}
    # The embedded executor has no broker and no worker tier to report.
    assert body["warnings"] == []


def test_readyz_with_celery_reports_an_unreachable_broker_and_regions_without_workers(
    tmp_path: Path,
) -> None:
    settings = job_settings(
        tmp_path / "data",
        executor="celery",
        broker_url=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
    )
    for running in jobs_app(settings):
        response = running.client.get("/readyz")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        body = response.json()
        assert body["checks"]["broker"] == "unreachable"
        assert body["checks"]["database"] == "ok"
        assert body["workers"] == {"eu": 0, "us": 0}
        assert body["warnings"] == [
            "no worker alive for region eu",
            "no worker alive for region us",
        ]


def test_a_job_queued_with_no_worker_alive_says_so(tmp_path: Path) -> None:
    settings = job_settings(
        tmp_path / "data",
        executor="celery",
        broker_url=f"redis://127.0.0.1:{free_port()}/0",  # the broker is down too
    )
    for running in jobs_app(settings):
        account = running.account()
        # Accepted although the broker is down: the job is in the database.
        job = running.submit(account, small_photo(64, 48))
        shown = running.client.get(f"/api/v1/jobs/{job['id']}", headers=account.headers)
        assert shown.status_code == 200
        assert shown.json()["status"] == "queued"
        assert shown.json()["status_detail"] == (
            "No worker of region eu is running; the job waits until one starts."
        )


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} {labels} not in metrics")


def test_metrics_count_jobs_processing_and_requests_without_personal_data(app: JobsApp) -> None:
    account = app.account()
    job = app.submit(account, small_photo(160, 107))
    app.wait(account, job["id"])
    response = app.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert _sample(text, "clearcutout_jobs", state="done", region="eu") == 1
    assert _sample(text, "clearcutout_queue_depth", region="eu") == 0
    assert _sample(text, "clearcutout_queue_oldest_seconds", region="eu") == 0
    assert (
        _sample(
            text, "clearcutout_processing_seconds_count", model="u2netp", size="le1mp", path="job"
        )
        >= 1
    )
    polled = _sample(
        text,
        "clearcutout_request_seconds_count",
        route="/api/v1/jobs/{job_id}",
        method="GET",
        status="200",
    )
    assert polled >= 1
    # Route templates only: no job id, user id, email or API key in any label.
    for secret in (job["id"], account.user_id, account.email, account.api_key):
        assert secret not in text
    assert not re.search(r"[0-9a-f]{32}", text)


@pytest.fixture
def internal_metrics(tmp_path: Path) -> Iterator[tuple[TestClient, int]]:
    port = free_port()
    settings = job_settings(tmp_path / "data", metrics_port=port)
    yield from ((running.client, port) for running in jobs_app(settings))


def test_metrics_only_on_the_internal_port_when_one_is_set(
    internal_metrics: tuple[TestClient, int],
) -> None:
    client, port = internal_metrics
    assert client.get("/metrics").status_code == 404
    inside = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert inside.status_code == 200
    assert "clearcutout_queue_depth" in inside.text


def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    settings = job_settings(tmp_path / "data", metrics_enabled=False)
    for running in jobs_app(settings):
        assert running.client.get("/metrics").status_code == 404
