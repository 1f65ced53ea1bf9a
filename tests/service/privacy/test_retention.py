"""Automatic deletion (privacy policy, "Data Retention"): images past ``retention_days``
leave storage, their URLs answer 410, younger ones stay; the sweep is batched, resumable,
idempotent and logs counts only; the S3 lifecycle rule backs it up. The clock is moved,
never slept."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clearcutout.config import get_settings
from clearcutout.service.infra import objects
from clearcutout.service.privacy import retention
from clearcutout.workers.tasks import sweep_retention
from tests.service.privacy.conftest import MovableClock, keys_of
from tests.support.jobs import JobsApp, job_settings, jobs_app, s3_regions
from tests.support.seaweedfs import SeaweedFS


def _sweep(app: JobsApp, clock: MovableClock, **kwargs: int) -> retention.SweepReport:
    runtime = app.client.app.state.runtime  # type: ignore[attr-defined]
    return sweep_retention(replace(runtime, clock=clock), **kwargs)


def test_an_image_uploaded_30_days_and_a_minute_ago_is_gone_one_29_days_old_stays(
    backend_app: JobsApp, photo: bytes
) -> None:
    app, clock = backend_app, backend_app.clock  # type: ignore[attr-defined]
    account = app.account()
    old = app.submit(account, photo)
    assert app.wait(account, old["id"])["status"] == "done"
    clock.advance(days=1, minutes=1)
    young = app.submit(account, photo)
    assert app.wait(account, young["id"])["status"] == "done"
    assert len(keys_of(app, "eu", account.user_id)) == 4  # two originals, two results

    clock.advance(days=29)  # old: 30 days 1 minute; young: exactly 29 days
    report = _sweep(app, clock)

    assert (report.jobs_expired, report.objects_deleted) == (1, 2)
    remaining = keys_of(app, "eu", account.user_id)
    assert remaining and all(f"/jobs/{young['id']}/" in key for key in remaining)
    assert len(remaining) == 2
    for url in (old["result_url"], old["original_url"]):
        assert app.client.get(url, headers=account.headers).status_code == 410
    status = app.client.get(old["status_url"], headers=account.headers).json()
    assert status["status"] == "expired"
    for url in (young["result_url"], young["original_url"]):
        response = app.client.get(url, headers=account.headers)
        assert response.status_code == 200
        assert len(response.content) > 1000
    original = app.client.get(young["original_url"], headers=account.headers).content
    assert original == photo

    # A second sweep finds nothing more (idempotent).
    again = _sweep(app, clock)
    assert (again.jobs_expired, again.objects_deleted) == (0, 0)


def test_the_sweep_works_in_batches_and_resumes_after_a_crash(app: JobsApp, photo: bytes) -> None:
    clock = app.clock  # type: ignore[attr-defined]
    account = app.account()
    ids = [app.submit(account, photo)["id"] for _ in range(5)]
    for job_id in ids:
        app.wait(account, job_id)
    clock.advance(days=31)
    # A crash after deleting one job's objects but before its row moved: the objects
    # are gone, its URLs already answer 410, and the next sweep marks it.
    store = objects.region_store(app.settings, "eu")
    store.delete_prefix(objects.job_object_key(account.user_id, ids[0], ""))
    half = app.client.get(f"/api/v1/jobs/{ids[0]}/result", headers=account.headers)
    assert half.status_code == 410

    report = _sweep(app, clock, batch_size=2)
    assert report.jobs_expired == 5
    assert report.objects_deleted == 8  # the crashed job's two were already gone
    assert report.batches == 3
    assert keys_of(app, "eu", account.user_id) == []
    statuses = {
        app.client.get(f"/api/v1/jobs/{job_id}", headers=account.headers).json()["status"]
        for job_id in ids
    }
    assert statuses == {"expired"}


def test_the_sweep_logs_counts_only(
    app: JobsApp, photo: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    clock = app.clock  # type: ignore[attr-defined]
    account = app.account()
    job = app.submit(account, photo)
    app.wait(account, job["id"])
    clock.advance(days=30, minutes=1)
    loggers = {"clearcutout.service.privacy.retention", "clearcutout.workers.tasks"}
    with caplog.at_level(logging.INFO, logger="clearcutout"):
        _sweep(app, clock)
    lines = [r.getMessage() for r in caplog.records if r.name in loggers]
    assert lines == [
        "retention.swept jobs_expired=1 objects_deleted=2 exports_deleted=0 failures=0"
    ]
    assert account.user_id not in " ".join(lines) and account.email not in " ".join(lines)


def test_the_in_process_sweeper_runs_on_its_schedule(tmp_path: Path, photo: bytes) -> None:
    settings = job_settings(tmp_path / "data", retention_sweep_interval_seconds=0.2)
    for app in jobs_app(settings):
        clock = MovableClock()
        app.client.app.state.runtime.clock = clock  # type: ignore[attr-defined]
        account = app.account()
        job = app.submit(account, photo)
        app.wait(account, job["id"])
        assert len(keys_of(app, "eu", account.user_id)) == 2
        clock.advance(days=30, minutes=1)
        deadline = time.monotonic() + 10
        while keys_of(app, "eu", account.user_id) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert keys_of(app, "eu", account.user_id) == []
        final = app.wait(account, job["id"], until=lambda j: j["status"] == "expired")
        assert final["status"] == "expired"


def test_retention_sweep_command_prints_what_it_deleted(
    tmp_path: Path, photo: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clearcutout.cli import app as cli

    settings = job_settings(tmp_path / "data", retention_days=1)
    for app in jobs_app(settings):
        account = app.account()
        job = app.submit(account, photo)
        app.wait(account, job["id"])
        runtime = app.client.app.state.runtime  # type: ignore[attr-defined]
        # Make the job two days old by moving its dates back (the CLI reads the real clock).
        with runtime.unit_of_work() as ctx:
            from sqlalchemy import update

            from clearcutout.db.models import Job

            ctx.db.execute(
                update(Job).values(
                    created_at=ctx.now().replace(year=2000), expires_at=ctx.now().replace(year=2000)
                )
            )
        monkeypatch.setenv("CLEARCUTOUT_DATA_DIR", str(settings.data_dir))
        monkeypatch.setenv("CLEARCUTOUT_ARGON2_MEMORY_KIB", "1024")
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(cli, ["retention", "sweep"])
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        assert "Jobs expired: 1" in result.output
        assert "Objects deleted: 2" in result.output
        assert keys_of(app, "eu", account.user_id) == []


def test_the_s3_lifecycle_rule_is_installed_and_read_back(
    tmp_path: Path, seaweedfs: SeaweedFS
) -> None:
    regions = s3_regions(seaweedfs, f"rule-{uuid.uuid4().hex[:8]}")
    settings = job_settings(tmp_path / "data", regions=regions, retention_days=30)
    rules = retention.install_expiry_rules(settings)
    assert sorted(rule.region for rule in rules) == ["eu", "us"]
    assert all(rule.days == 31 for rule in rules)
    for region in ("eu", "us"):
        store = objects.region_store(settings, region)
        assert store.expiry_rule_days("users/") == 31  # type: ignore[attr-defined]
    # Installing again with another period replaces our rule, and only ours.
    changed = retention.install_expiry_rules(settings.model_copy(update={"retention_days": 7}))
    assert {rule.days for rule in changed} == {8}


def test_file_storage_has_no_lifecycle_rule_to_install(tmp_path: Path) -> None:
    assert retention.install_expiry_rules(job_settings(tmp_path / "data")) == []
