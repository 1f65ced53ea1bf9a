"""Files and modes: everything ClearCutout keeps under its data directory is private.

The SQLite database and its WAL and shared-memory files are 0600, every folder 0700,
the stored objects and the secrets file 0600 (privacy policy, "Security Measures"),
whatever the umask, and an install whose files were made 0644 in a 0755 folder is
tightened when the app starts.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from clearcutout.db import create_db_engine, upgrade
from clearcutout.service.runtime import Runtime
from tests.support.jobs import job_settings, jobs_app, small_photo


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The common default umask (022): files 0644 and folders 0755 unless we say so."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return found


def assert_private(root: Path) -> None:
    loose = {
        name: oct(mode)
        for name, mode in modes(root).items()
        if mode != (0o700 if (root / name).is_dir() else 0o600)
    }
    assert not loose, f"not private: {loose}"


def test_a_running_app_keeps_everything_0600_in_0700_folders(
    tmp_path: Path, loose_umask: None
) -> None:
    data_dir = tmp_path / "data"
    settings = job_settings(data_dir)
    for app in jobs_app(settings):
        account = app.account()
        job = app.wait(account, app.submit(account, small_photo())["id"])
        assert job["status"] == "done"
        names = set(modes(data_dir))
        # The database with its WAL and shared memory, the keys and the stored images.
        assert {"clearcutout.sqlite3", "clearcutout.sqlite3-wal", "secrets.json"} <= names
        assert "clearcutout.sqlite3-shm" in names
        assert any(name.startswith("storage/eu/users/") for name in names)
        assert_private(data_dir)


def test_a_new_sqlite_database_is_created_0600_in_a_new_0700_folder(
    tmp_path: Path, loose_umask: None
) -> None:
    database = tmp_path / "new" / "deeper" / "clearcutout.sqlite3"
    engine = create_db_engine(f"sqlite:///{database}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()

    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    for companion in database.parent.glob("clearcutout.sqlite3-*"):
        assert stat.S_IMODE(companion.stat().st_mode) == 0o600, companion


def test_an_older_install_with_loose_modes_is_tightened_at_start(
    tmp_path: Path, loose_umask: None
) -> None:
    data_dir = tmp_path / "data"
    settings = job_settings(data_dir)
    for app in jobs_app(settings):
        account = app.account()
        app.wait(account, app.submit(account, small_photo())["id"])
    database = data_dir / "clearcutout.sqlite3"
    data_dir.chmod(0o755)
    for path in data_dir.glob("clearcutout.sqlite3*"):
        path.chmod(0o644)

    with Runtime.from_settings(settings):
        pass

    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    for path in data_dir.glob("clearcutout.sqlite3-*"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
