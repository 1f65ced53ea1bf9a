"""A full disk on the embedded default (SQLite and ``file://`` storage on a small tmpfs,
filled up): writes answer a JSON 503 with ``Retry-After`` that names no path, and reads
keep working although their bookkeeping write (an API key's "last used") cannot be made.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from clearcutout.db.models import ApiKey
from clearcutout.web import create_app
from tests.conftest import missing_service
from tests.integration.test_database_faults import _account
from tests.support.database import migrate
from tests.support.jobs import job_settings


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        missing_service(f"cannot mount a small tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> None:
    """Write zeros until the filesystem refuses one more byte."""
    fd = os.open(folder / f"filler-{uuid.uuid4().hex}", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)


def test_a_full_disk_answers_503_for_writes_and_never_fails_a_read(
    small_disk: Path, photo: bytes
) -> None:
    settings = job_settings(small_disk / "data", executor="none")
    migrate(settings)
    web = create_app(settings)
    try:
        with TestClient(web) as client:
            runtime = web.state.runtime
            account = _account(runtime)
            upload = {"image_file": ("a.jpg", photo, "image/jpeg")}
            created = client.post("/api/v1/jobs", headers=account.headers, files=upload)
            assert created.status_code == 202, created.text
            job_url = f"/api/v1/jobs/{created.json()['id']}"
            with runtime.unit_of_work() as ctx:
                ctx.db.execute(update(ApiKey).values(last_used_at=None))

            _fill(small_disk)
            refused = client.post("/api/v1/jobs", headers=account.headers, files=upload)
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"].startswith("application/json")
            assert int(refused.headers["retry-after"]) > 0
            assert refused.json()["errors"][0]["code"] in (
                "storage_unavailable",
                "database_unavailable",
            )
            assert str(small_disk) not in refused.text

            for _ in range(3):  # every read answers, its "last used" write fails each time
                status = client.get(job_url, headers=account.headers)
                assert status.status_code == 200, status.text
                assert status.json()["status"] == "queued"
            original = client.get(f"{job_url}/original", headers=account.headers)
            assert original.status_code == 200
            assert original.content == photo
            with runtime.unit_of_work() as ctx:
                # The bookkeeping was attempted and skipped, not written.
                assert ctx.db.scalar(select(ApiKey.last_used_at)) is None
    finally:
        web.state.runtime.close()
