"""Kill the app while jobs run, start it again: every job finishes, exactly once.

The app runs as a real process (``clearcutout serve``) on the embedded default (SQLite,
``file://`` storage, local executor) with U²-Netp; it is killed with SIGKILL, so nothing
is cleaned up on the way out.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.support.jobs import small_photo

CLI = str(Path(sys.executable).parent / "clearcutout")
JOBS = 6


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARCUTOUT_")}
    env.update(
        {
            "CLEARCUTOUT_DATA_DIR": str(data_dir),
            "CLEARCUTOUT_DEFAULT_MODEL": "u2netp",
            "CLEARCUTOUT_JOB_LEASE_SECONDS": "2",
            "CLEARCUTOUT_JOB_POLL_SECONDS": "0.2",
            "CLEARCUTOUT_WORKER_THREADS": "1",
            "CLEARCUTOUT_ARGON2_TIME_COST": "1",
            "CLEARCUTOUT_ARGON2_MEMORY_KIB": "1024",
        }
    )
    return env


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [CLI, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextmanager
def serving(env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [CLI, "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _statuses(database: Path) -> dict[str, tuple[str, int]]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT id, status, attempts FROM jobs").fetchall()
    return {job_id: (status, attempts) for job_id, status, attempts in rows}


def test_jobs_survive_a_killed_app_and_finish_exactly_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = _env(data_dir)
    database = data_dir / "clearcutout.sqlite3"
    log = tmp_path / "server.log"
    _cli(env, "db", "upgrade")
    _cli(
        env,
        "users",
        "create",
        "kill@example.org",
        "--name",
        "Kim",
        "--password-stdin",
        stdin="a long enough password 123\n",
    )
    key = _cli(env, "apikeys", "create", "kill@example.org", "--scope", "images").strip()
    headers = {"X-Api-Key": key}
    photo = small_photo(800, 534)
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    with serving(env, port, log) as first:
        ids = []
        for index in range(JOBS):
            response = httpx.post(
                f"{base}/api/v1/jobs",
                headers=headers,
                files={"image_file": (f"p{index}.jpg", photo, "image/jpeg")},
                timeout=30,
            )
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        # Kill it while a job is running and others wait.
        deadline = time.monotonic() + 60
        while True:
            states = [status for status, _ in _statuses(database).values()]
            if "running" in states and "queued" in states:
                break
            assert time.monotonic() < deadline, f"no job started: {states}"
            time.sleep(0.02)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)

    at_kill = _statuses(database)
    running_at_kill = {job_id for job_id, (status, _) in at_kill.items() if status == "running"}
    queued_at_kill = {job_id for job_id, (status, _) in at_kill.items() if status == "queued"}
    assert running_at_kill and queued_at_kill

    with serving(env, port, log):
        deadline = time.monotonic() + 120
        while True:
            jobs = httpx.get(
                f"{base}/api/v1/jobs", params={"per_page": 100}, headers=headers, timeout=10
            ).json()["data"]
            if all(job["status"] in ("done", "failed") for job in jobs):
                break
            assert time.monotonic() < deadline, [job["status"] for job in jobs]
            time.sleep(0.2)
        assert sorted(job["id"] for job in jobs) == sorted(ids)
        assert all(job["status"] == "done" for job in jobs), jobs
        for job_id in ids:
            result = httpx.get(f"{base}/api/v1/jobs/{job_id}/result", headers=headers, timeout=30)
            assert result.status_code == 200 and result.content.startswith(b"\x89PNG")

    # The app's own log lines reach the console under `clearcutout serve`, ids only.
    served = log.read_text()
    assert all(f"job.submitted job_id={job_id}" in served for job_id in ids), served[-2000:]
    assert "kill@example.org" not in served

    final = _statuses(database)
    with sqlite3.connect(database) as connection:
        (finished,) = connection.execute(
            "SELECT SUM(count) FROM usage_daily WHERE outcome = 'done'"
        ).fetchone()
    # Exactly once: one "done" per job in the counters, though some ran twice.
    assert finished == JOBS
    for job_id in running_at_kill:
        assert final[job_id] == ("done", 2)
    for job_id in queued_at_kill:
        assert final[job_id] == ("done", 1)
