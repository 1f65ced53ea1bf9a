"""A scale-out deployment in processes: API servers, Celery workers and beat on the real
PostgreSQL (a schema of its own), a real broker (Redis or RabbitMQ) and ``file://``
storage in one shared data directory, as docs/scale-out.md describes.

Each process starts in its own session so a test can SIGKILL a worker with everything it
forked. Queue names are unique per cluster, so clusters never read each other's
messages on a shared broker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from tests.conftest import PG_SERVER_URL, free_port, missing_service

CLI = str(Path(sys.executable).parent / "clearcutout")
REDIS_URL = "redis://127.0.0.1:6379/0"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def require_broker(url: str) -> None:
    port = 5672 if url.startswith("amqp") else int(url.split(":")[2].split("/")[0])
    if not _port_open(port):
        missing_service(f"broker {url} is not reachable")


@dataclass
class Cluster:
    """The shared configuration and the processes started from it."""

    tmp: Path
    broker_url: str
    schema: str = field(default_factory=lambda: f"cc_scale_{uuid.uuid4().hex[:10]}")
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    api_key: str = ""

    @property
    def database_url(self) -> str:
        return f"{PG_SERVER_URL}?options=-csearch_path%3D{self.schema}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARCUTOUT_")}
        regions = {
            "eu": {"label": "European Union", "queue": f"eu-{self.tag}"},
            "us": {"label": "United States", "queue": f"us-{self.tag}"},
        }
        env.update(
            {
                "CLEARCUTOUT_DATA_DIR": str(self.tmp / "data"),
                "CLEARCUTOUT_DATABASE_URL": self.database_url,
                "CLEARCUTOUT_EXECUTOR": "celery",
                "CLEARCUTOUT_BROKER_URL": self.broker_url,
                "CLEARCUTOUT_REGIONS": json.dumps(regions),
                "CLEARCUTOUT_PERIODIC_QUEUE": f"periodic-{self.tag}",
                "CLEARCUTOUT_DEFAULT_MODEL": "u2netp",
                "CLEARCUTOUT_ALLOW_MODEL_DOWNLOAD": "false",
                "CLEARCUTOUT_INFERENCE_THREADS": "1",
                "CLEARCUTOUT_JOB_LEASE_SECONDS": "8",
                "CLEARCUTOUT_DISPATCH_INTERVAL_SECONDS": "1",
                "CLEARCUTOUT_REDISPATCH_AFTER_SECONDS": "3",
                "CLEARCUTOUT_WORKER_HEARTBEAT_SECONDS": "1",
                "CLEARCUTOUT_SYNC_WAIT_SECONDS": "90",
                "CLEARCUTOUT_ARGON2_TIME_COST": "1",
                "CLEARCUTOUT_ARGON2_MEMORY_KIB": "1024",
                "CLEARCUTOUT_RETENTION_SWEEP_INTERVAL_SECONDS": "0",
                "C_FORCE_ROOT": "1",
            }
        )
        env.update(extra)
        return env

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [CLI, *args], env=self.env(), input=stdin, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.tmp / f"{name}.log").open("ab") as out:
            process = subprocess.Popen(
                [CLI, *args],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def serve(self, name: str) -> str:
        port = free_port()
        self.ports[name] = port
        process = self.start(name, "serve", "--port", str(port))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, self.log(name)
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    return base
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{name} did not start"
            time.sleep(0.2)

    def worker(self, name: str, *, concurrency: int = 1) -> subprocess.Popen[bytes]:
        return self.start(
            name,
            "worker",
            "--region",
            "eu",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
        )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes[name]
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        process.wait(timeout=30)

    def sql(self, statement: str, **params: Any) -> list[Any]:
        engine = create_engine(self.database_url)
        try:
            with engine.begin() as connection:
                return list(connection.execute(text(statement), params).all())
        finally:
            engine.dispose()

    def wait_for_workers(self, count: int, timeout_s: float = 90) -> None:
        """Until ``count`` worker processes of eu beat with their model loaded."""
        deadline = time.monotonic() + timeout_s
        while True:
            alive = self.sql(
                "SELECT count(*) FROM worker_heartbeats WHERE region = 'eu' AND model_loaded"
                " AND seen_at > now() - interval '3 seconds'"
            )[0][0]
            if alive >= count:
                return
            assert time.monotonic() < deadline, "workers did not start: " + "".join(
                self.log(name)[-2000:] for name in self.processes if name.startswith("worker")
            )
            time.sleep(0.3)

    def wait_for_jobs(self, count: int, timeout_s: float) -> dict[str, tuple[str, int]]:
        """Until ``count`` jobs are finished (done or failed); id -> (status, attempts)."""
        deadline = time.monotonic() + timeout_s
        while True:
            rows = self.sql("SELECT id, status, attempts FROM jobs")
            states = {row[0]: (row[1], row[2]) for row in rows}
            finished = [s for s, _ in states.values() if s in ("done", "failed")]
            if len(finished) >= count:
                return states
            assert time.monotonic() < deadline, f"jobs did not finish: {states}"
            time.sleep(0.5)

    def usage_done(self) -> int:
        rows = self.sql("SELECT coalesce(sum(count), 0) FROM usage_daily WHERE outcome = 'done'")
        return int(rows[0][0])


@contextmanager
def cluster(tmp: Path, broker_url: str) -> Iterator[Cluster]:
    """A migrated schema, an account with an API key; every process stopped at the end."""
    require_broker(broker_url)
    try:
        admin = create_engine(PG_SERVER_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as exc:
        missing_service(f"PostgreSQL is not reachable: {exc}")
        raise
    deployment = Cluster(tmp=tmp, broker_url=broker_url)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{deployment.schema}"'))
    try:
        deployment.cli("db", "upgrade")
        deployment.cli(
            "users",
            "create",
            "scale@example.org",
            "--name",
            "Sam",
            "--password-stdin",
            stdin="a long enough password 123\n",
        )
        deployment.api_key = deployment.cli(
            "apikeys", "create", "scale@example.org", "--scope", "images"
        ).strip()
        yield deployment
    finally:
        for name, process in deployment.processes.items():
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=15)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    with suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
            del name
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{deployment.schema}" CASCADE'))
        admin.dispose()
