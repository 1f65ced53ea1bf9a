"""A bad setting stops every command, ``serve`` included, with one line that names the
setting, its value and the rule: never a traceback, never a secret's value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "clearcutout")


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CLEARCUTOUT_")}
    clean["CLEARCUTOUT_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(
        [CLI, *args], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("command", [("serve", "--port", "0"), ("db", "upgrade")])
def test_a_bad_setting_is_one_line_naming_setting_value_and_rule(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    done = _run(tmp_path, *command, CLEARCUTOUT_RETENTION_DAYS="0")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "CLEARCUTOUT_RETENTION_DAYS='0'" in lines[0]
    assert "greater than or equal to 1" in lines[0]


def test_several_bad_settings_share_the_line_and_secrets_stay_hidden(tmp_path: Path) -> None:
    done = _run(
        tmp_path,
        "db",
        "upgrade",
        CLEARCUTOUT_JOB_LEASE_SECONDS="soon",
        CLEARCUTOUT_SMTP__PASSWORD="hunter2-secret",
        CLEARCUTOUT_SMTP__PORT="smtp",
    )
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "CLEARCUTOUT_JOB_LEASE_SECONDS='soon'" in line
    assert "CLEARCUTOUT_SMTP__PORT='smtp'" in line
    assert "hunter2" not in done.stderr
