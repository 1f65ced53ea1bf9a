"""``clearcutout worker`` and ``clearcutout beat`` refuse a set-up they cannot run with, in
one readable line (their real runs are in tests/integration/test_scaleout.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXE = Path(sys.executable).with_name("clearcutout")


def _run(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    values = {k: v for k, v in os.environ.items() if not k.startswith("CLEARCUTOUT_")}
    values.update({"CLEARCUTOUT_DATA_DIR": str(data_dir), **env})
    return subprocess.run(
        [str(EXE), *args], capture_output=True, text=True, env=values, timeout=120
    )


def test_worker_and_beat_need_a_broker(tmp_path: Path) -> None:
    for args in (["worker", "--region", "eu"], ["beat"]):
        result = _run(args, tmp_path / "data")
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert "CLEARCUTOUT_BROKER_URL" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_worker_refuses_an_unknown_region(tmp_path: Path) -> None:
    result = _run(
        ["worker", "--region", "mars"], tmp_path / "data", CLEARCUTOUT_BROKER_URL="redis://x:1/0"
    )
    assert result.returncode == 1
    assert "Unknown region 'mars'" in result.stderr
    assert "eu, us" in result.stderr


def test_worker_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = _run(
        ["worker", "--region", "eu"], tmp_path / "data", CLEARCUTOUT_BROKER_URL="redis://x:1/0"
    )
    assert result.returncode == 1
    assert "clearcutout db upgrade" in result.stderr
