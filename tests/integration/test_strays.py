"""Nothing stays stored that the database does not know about.

Strays are made for real: ``clearcutout serve`` SIGKILLed during an upload, after the
original was stored and before its job row was committed (the real PostgreSQL holds the
INSERT on a table lock), leaves a sealed original behind, on ``file://`` and on a real S3
server (SeaweedFS); a writer SIGKILLed mid-write leaves a half-written file. Account
erasure takes the half-written files along, and ``clearcutout storage reconcile`` (also a
periodic task) deletes the rest once it is older than an hour, printing counts only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from clearcutout.config import Settings
from clearcutout.db import create_db_engine
from clearcutout.db.models import utcnow
from clearcutout.service.infra import objects
from clearcutout.service.runtime import Runtime
from clearcutout.storage import FileObjectStore, ObjectStore
from clearcutout.workers.tasks import reconcile_storage
from tests.conftest import PgReset, free_port
from tests.integration.test_database_faults import _account
from tests.integration.test_job_restart import serving
from tests.support.database import migrate
from tests.support.jobs import job_settings, s3_regions
from tests.support.seaweedfs import SeaweedFS

CLI = str(Path(sys.executable).parent / "clearcutout")
_KILLED_WRITER = """
import sys
from pathlib import Path
from clearcutout.storage import FileObjectStore
FileObjectStore(Path(sys.argv[1])).put(sys.argv[2], b"x" * (400 * 1024 * 1024))
"""


def _env(settings: Settings, pg_schema_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARCUTOUT_")}
    env.update(
        {
            "CLEARCUTOUT_DATA_DIR": str(settings.data_dir),
            "CLEARCUTOUT_DATABASE_URL": pg_schema_url,
            "CLEARCUTOUT_DEFAULT_MODEL": "u2netp",
            "CLEARCUTOUT_EXECUTOR": "none",
            "CLEARCUTOUT_RETENTION_SWEEP_INTERVAL_SECONDS": "0",
            **extra,
        }
    )
    return env


def _killed_upload(
    settings: Settings, env: dict[str, str], pg_schema_url: str, photo: bytes, log: Path
) -> tuple[str, str]:
    """One committed job, then the app SIGKILLed during an upload, after the original was
    stored and before its row was committed; the user's id and the committed job's id."""
    with Runtime.from_settings(settings) as runtime:
        account = _account(runtime)
        store = objects.region_store(settings, "eu")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    upload = {"image_file": ("a.jpg", photo, "image/jpeg")}
    with serving(env, port, log) as server:
        kept = httpx.post(f"{base}/api/v1/jobs", headers=account.headers, files=upload, timeout=30)
        assert kept.status_code == 202, kept.text
        blocker = create_db_engine(pg_schema_url)
        with blocker.connect() as held:
            # The upload's INSERT waits for this lock, after its original was stored.
            held.execute(text("LOCK TABLE jobs IN EXCLUSIVE MODE"))
            sender = threading.Thread(target=_post_quietly, args=(base, account.headers, upload))
            sender.start()
            deadline = time.monotonic() + 30
            while len(_job_keys(store, account.user_id)) < 2:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
            sender.join(timeout=30)
            held.rollback()
        blocker.dispose()
    return account.user_id, kept.json()["id"]


def _post_quietly(base: str, headers: dict[str, str], upload: dict[str, Any]) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(f"{base}/api/v1/jobs", headers=headers, files=upload, timeout=30)


def _job_keys(store: ObjectStore, user_id: str) -> list[str]:
    return sorted(store.iter_keys(f"users/{user_id}/jobs/"))


def _settings(tmp_path: Path, pg_schema_url: str, **overrides: Any) -> Settings:
    settings = job_settings(
        tmp_path / "data", executor="none", database_url=pg_schema_url, **overrides
    )
    migrate(settings)
    return settings


def test_an_upload_cut_short_by_a_killed_app_leaves_nothing_after_reconcile_on_s3(
    tmp_path: Path, seaweedfs: SeaweedFS, pg_schema_url: str, pg_reset: PgReset, photo: bytes
) -> None:
    prefix = f"strays-{tmp_path.name}"
    settings = _settings(tmp_path, pg_schema_url, regions=s3_regions(seaweedfs, prefix))
    region = settings.regions["eu"]
    secret = region.s3_secret_access_key
    assert region.storage_url and region.s3_access_key_id and secret
    env = _env(
        settings,
        pg_schema_url,
        CLEARCUTOUT_REGIONS__EU__LABEL="European Union",
        CLEARCUTOUT_REGIONS__EU__STORAGE_URL=region.storage_url,
        CLEARCUTOUT_REGIONS__EU__S3_ACCESS_KEY_ID=region.s3_access_key_id,
        CLEARCUTOUT_REGIONS__EU__S3_SECRET_ACCESS_KEY=secret.get_secret_value(),
        CLEARCUTOUT_S3_LIFECYCLE_ON_START="false",
    )
    try:
        user_id, kept = _killed_upload(settings, env, pg_schema_url, photo, tmp_path / "log")
        with Runtime.from_settings(settings) as runtime:
            store = objects.region_store(settings, "eu")
            assert len(_job_keys(store, user_id)) == 2  # the kept job's and the killed one's
            report = reconcile_storage(runtime)
            assert report.objects_deleted == 0  # within the hour: maybe an upload in flight
            later = utcnow() + timedelta(hours=1, minutes=5)
            runtime.clock = lambda: later
            report = reconcile_storage(runtime)
            assert report.objects_deleted == 1
            assert _job_keys(store, user_id) == [f"users/{user_id}/jobs/{kept}/original"]
    finally:
        pg_reset()


def test_partial_files_go_with_erasure_and_reconcile_on_file_storage(
    tmp_path: Path, pg_schema_url: str, pg_reset: PgReset, photo: bytes
) -> None:
    settings = _settings(tmp_path, pg_schema_url)
    env = _env(settings, pg_schema_url)
    try:
        user_id, kept = _killed_upload(settings, env, pg_schema_url, photo, tmp_path / "log")
        _partials_and_reconcile(settings, env, user_id, kept)
    finally:
        pg_reset()


def _partials_and_reconcile(
    settings: Settings, env: dict[str, str], user_id: str, kept: str
) -> None:
    root = settings.data_dir / "storage" / "eu"
    store = FileObjectStore(root)

    # A writer killed mid-write leaves a half-written file that no listing shows.
    def killed_write(key: str) -> Path:
        writer = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(root), key])
        folder = root.joinpath(*key.split("/")[:-1])
        deadline = time.monotonic() + 30
        while not list(folder.glob(".tmp-*.partial")):
            assert time.monotonic() < deadline and writer.poll() is None
            time.sleep(0.002)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        (partial,) = folder.glob(".tmp-*.partial")
        return partial

    stranger = "0" * 32
    erased = killed_write(f"users/{stranger}/jobs/{'1' * 32}/original")
    swept = killed_write(f"users/{user_id}/jobs/{'2' * 32}/original")
    assert all(f"{stranger}" not in key for key in store.iter_keys(""))

    # Erasing a person's objects takes their half-written files too.
    store.delete_prefix(f"users/{stranger}/")
    assert not erased.exists()
    assert not (root / "users" / stranger).exists()

    # Older than an hour, everything no job knows about goes: the refused upload's
    # original and the half-written file; the operator sees counts only.
    hour_ago = time.time() - 3700
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (hour_ago, hour_ago))
    done = subprocess.run(
        [CLI, "storage", "reconcile"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Objects without a job deleted: 1" in done.stdout
    assert "Half-written files deleted: 1" in done.stdout
    assert user_id not in done.stdout and kept not in done.stdout
    assert not swept.exists()
    assert _job_keys(store, user_id) == [f"users/{user_id}/jobs/{kept}/original"]
    assert not list(root.rglob(".tmp-*"))
