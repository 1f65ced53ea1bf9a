"""``make run`` / ``clearcutout serve``: the port and host are chosen by the operator, the
address is announced only once the socket is ours, a busy port is one clear line, and
emailed links point at the address really served when ``CLEARCUTOUT_BASE_URL`` is unset.

These start the real command in its own process, as a person would.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("clearcutout"))


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARCUTOUT_")}
    env.update(
        CLEARCUTOUT_DATA_DIR=str(data_dir),
        CLEARCUTOUT_DEFAULT_MODEL="u2netp",
        CLEARCUTOUT_EXECUTOR="none",
        CLEARCUTOUT_ARGON2_MEMORY_KIB="1024",
        CLEARCUTOUT_ARGON2_TIME_COST="1",
        NO_COLOR="1",
        COLUMNS="400",
    )
    env.update(extra)
    return env


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_make_run_on_a_busy_port_is_one_clear_line_and_no_false_announcement(
    tmp_path: Path, busy_port: int
) -> None:
    # -o: the virtual environment is the one under test; never reinstall it here.
    done = subprocess.run(
        ["make", "-o", ".venv/.installed-stamp", "run", f"PORT={busy_port}"],
        cwd=ROOT,
        env=cli_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0
    assert "running at" not in done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert f"Port {busy_port} on 127.0.0.1 is already in use" in errors[0]
    assert f"PORT={busy_port + 1}" in errors[0]  # says what to do
    assert "Traceback" not in done.stderr and "Errno" not in done.stderr


def test_clearcutout_port_setting_is_used_on_a_busy_port_too(
    tmp_path: Path, busy_port: int
) -> None:
    done = subprocess.run(
        [CLI, "serve"],
        env=cli_env(tmp_path / "data", CLEARCUTOUT_PORT=str(busy_port)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and f"Port {busy_port}" in done.stderr


def _read_until(process: subprocess.Popen[str], pattern: str, timeout: float) -> re.Match[str]:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if selector.select(timeout=0.5):
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            seen += line
            if match := re.search(pattern, seen):
                return match
    raise AssertionError(f"{pattern!r} not printed; output so far: {seen!r}")


def test_serve_announces_the_bound_address_and_mails_links_from_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = cli_env(data, CLEARCUTOUT_HOST="127.0.0.1", CLEARCUTOUT_PORT="0")
    for command, given in (
        ([CLI, "db", "upgrade"], None),
        ([CLI, "users", "create", "ada@example.org", "--name", "Ada", "--password-stdin"],
         "analytical engine 1843\n"),
    ):  # fmt: skip
        subprocess.run(command, env=env, input=given, text=True, check=True, timeout=120)
    with subprocess.Popen(
        [CLI, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        try:
            base = _request_a_reset(process)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    mails = [path for path in (data / "outbox").iterdir() if path.suffix == ".eml"]
    assert len(mails) == 1
    raw = mails[0].read_text(encoding="utf-8", errors="replace")
    assert f"{base}/password-reset/confirm?token=" in raw
    assert "http://127.0.0.1:8000/" not in raw


def _request_a_reset(process: subprocess.Popen[str]) -> str:
    """Wait for the announcement, then ask for a reset link; the announced base URL."""
    announced = _read_until(process, r"running at (http://127\.0\.0\.1:(\d+))/", 120)
    base, port = announced.group(1), int(announced.group(2))
    assert port != 0
    # Announced means served: the first request after the line is answered.
    with httpx.Client(base_url=base, timeout=10) as client:
        form = client.get("/password-reset")
        assert form.status_code == 200
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        sent = client.post(
            "/password-reset",
            data={"email": "ada@example.org", "csrf_token": token.group(1)},
        )
        assert sent.status_code == 200
    return base
