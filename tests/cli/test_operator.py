"""Operator commands through the installed `clearcutout` executable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXE = Path(sys.executable).with_name("clearcutout")


def cli(args: list[str], data_dir: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CLEARCUTOUT_DATA_DIR": str(data_dir),
        "CLEARCUTOUT_ARGON2_MEMORY_KIB": "1024",
        "CLEARCUTOUT_ARGON2_TIME_COST": "1",
    }
    env.pop("CLEARCUTOUT_DATABASE_URL", None)
    return subprocess.run(
        [str(EXE), *args], input=stdin, capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    if not EXE.exists():
        pytest.fail(f"{EXE} is missing: install the package (pip install -e .)")
    return tmp_path / "data"


def test_commands_refuse_an_unmigrated_database_with_one_readable_line(data_dir: Path) -> None:
    result = cli(["users", "list"], data_dir)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "clearcutout db upgrade" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_operator_creates_a_user_and_an_api_key_that_the_api_accepts(data_dir: Path) -> None:
    assert cli(["db", "upgrade"], data_dir).returncode == 0
    created = cli(
        ["users", "create", "op@example.org", "--name", "Grace Hopper", "--password-stdin"],
        data_dir,
        stdin="compiler pioneer 1952\n",
    )
    assert created.returncode == 0, created.stderr
    listing = cli(["users", "list"], data_dir)
    assert "op@example.org" in listing.stdout and "Grace Hopper" in listing.stdout
    duplicate = cli(
        ["users", "create", "op@example.org", "--name", "X", "--password-stdin"],
        data_dir,
        stdin="compiler pioneer 1952\n",
    )
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    assert "Traceback" not in duplicate.stderr

    key = cli(["apikeys", "create", "op@example.org"], data_dir)
    assert key.returncode == 0, key.stderr
    raw = key.stdout.strip()
    assert raw.startswith("cck_")

    from fastapi.testclient import TestClient

    from clearcutout.web import create_app
    from tests.conftest import fast_settings

    with TestClient(create_app(fast_settings(data_dir))) as client:
        me = client.get("/api/v1/account", headers={"X-Api-Key": raw})
    assert me.status_code == 200 and me.json()["name"] == "Grace Hopper"
    assert raw.encode() not in (data_dir / "clearcutout.sqlite3").read_bytes()
