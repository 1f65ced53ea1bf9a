"""``python -m bench.scale``: the scale-out tier on this machine, with 1, 2 and 4 worker
processes (U²-Netp).

For each worker count it starts a real deployment — one ``clearcutout serve`` with the
Celery executor, ``clearcutout beat``, ``clearcutout worker --region eu --concurrency N``
— on PostgreSQL (a schema of its own, dropped afterwards) and Redis, then measures:

* **jobs/s**: ``--jobs`` uploads (0.3 MP each) from first upload to last job done;
* **/v1.0/removebg p50/p95**: ``--removebg`` requests, N at a time;
* **/healthz p99** sampled every 50 ms while the workers are saturated by the jobs.

Prints a Markdown table (with the scaling efficiency: jobs/s ÷ (N × jobs/s at 1)) and
writes ``bench/results/scale.json``. Needs PostgreSQL on 5432 and Redis on 6379, as
``make test`` does.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from sqlalchemy import create_engine, text

from clearcutout.engine.sample import sample_photo

BENCH_DIR = Path(__file__).resolve().parent
CLI = str(Path(sys.executable).parent / "clearcutout")
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _photo(width: int, height: int) -> bytes:
    image = Image.open(io.BytesIO(sample_photo())).convert("RGB").resize((width, height))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class Deployment:
    """serve + beat + one worker with ``concurrency`` processes, torn down on exit."""

    def __init__(self, tmp: Path, broker: str, concurrency: int) -> None:
        self.tmp = tmp
        self.concurrency = concurrency
        self.schema = f"cc_bench_{uuid.uuid4().hex[:10]}"
        tag = uuid.uuid4().hex[:8]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARCUTOUT_")}
        self.env.update(
            {
                "CLEARCUTOUT_DATA_DIR": str(tmp / "data"),
                "CLEARCUTOUT_DATABASE_URL": f"{PG}?options=-csearch_path%3D{self.schema}",
                "CLEARCUTOUT_EXECUTOR": "celery",
                "CLEARCUTOUT_BROKER_URL": broker,
                "CLEARCUTOUT_REGIONS": json.dumps(
                    {
                        "eu": {"label": "EU", "queue": f"eu-{tag}"},
                        "us": {"label": "US", "queue": f"us-{tag}"},
                    }
                ),
                "CLEARCUTOUT_PERIODIC_QUEUE": f"periodic-{tag}",
                "CLEARCUTOUT_DEFAULT_MODEL": "u2netp",
                "CLEARCUTOUT_ALLOW_MODEL_DOWNLOAD": "false",
                "CLEARCUTOUT_INFERENCE_THREADS": "1",
                "CLEARCUTOUT_WORKER_HEARTBEAT_SECONDS": "1",
                "CLEARCUTOUT_REMOVEBG__RATE_LIMIT_PER_MINUTE": "10000",
                "CLEARCUTOUT_REMOVEBG__MONTHLY_CREDITS": "100000",
                "CLEARCUTOUT_ARGON2_TIME_COST": "1",
                "CLEARCUTOUT_ARGON2_MEMORY_KIB": "1024",
                "C_FORCE_ROOT": "1",
            }
        )
        self.processes: list[subprocess.Popen[bytes]] = []
        self.admin = create_engine(PG, isolation_level="AUTOCOMMIT")
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.key = ""

    def _cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [CLI, *args], env=self.env, input=stdin, capture_output=True, text=True, check=True
        )
        return done.stdout

    def _start(self, name: str, *args: str) -> None:
        with (self.tmp / f"{name}.log").open("ab") as out:
            self.processes.append(
                subprocess.Popen(
                    [CLI, *args],
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def sql(self, statement: str) -> list[Any]:
        with self.admin.connect() as connection:
            connection.execute(text(f'SET search_path TO "{self.schema}"'))
            return list(connection.execute(text(statement)).all())

    def __enter__(self) -> Deployment:
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        self._cli("db", "upgrade")
        self._cli(
            "users",
            "create",
            "bench@example.org",
            "--name",
            "Bench",
            "--password-stdin",
            stdin="a long enough password 123\n",
        )
        self.key = self._cli("apikeys", "create", "bench@example.org", "--scope", "images").strip()
        self._start("serve", "serve", "--port", str(self.port))
        self._start("beat", "beat")
        self._start(
            "worker", "worker", "--region", "eu", "--concurrency", str(self.concurrency),
            "--loglevel", "WARNING",
        )  # fmt: skip
        deadline = time.monotonic() + 180
        while True:
            try:
                ready = httpx.get(f"{self.base}/readyz", timeout=2).json()
                if ready.get("workers", {}).get("eu", 0) >= self.concurrency:
                    return self
            except (httpx.TransportError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the deployment did not start; see the logs in " + str(self.tmp))
            time.sleep(0.5)

    def __exit__(self, *_: object) -> None:
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
        self.admin.dispose()


def _measure(deployment: Deployment, jobs: int, removebg: int, photo: bytes) -> dict[str, Any]:
    headers = {"X-Api-Key": deployment.key}
    # Warm-up: one of each path, so model loading and first connections are not timed.
    httpx.post(
        f"{deployment.base}/v1.0/removebg",
        headers=headers,
        files={"image_file": ("w.jpg", photo, "image/jpeg")},
        timeout=300,
    ).raise_for_status()

    health: list[float] = []
    stop = threading.Event()

    def sample_health() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                started = time.perf_counter()
                client.get(f"{deployment.base}/healthz").raise_for_status()
                health.append(time.perf_counter() - started)
                stop.wait(0.05)

    sampler = threading.Thread(target=sample_health, daemon=True)
    started = time.perf_counter()
    sampler.start()
    with httpx.Client(timeout=60) as client:
        for index in range(jobs):
            client.post(
                f"{deployment.base}/api/v1/jobs",
                headers=headers,
                files={"image_file": (f"p{index}.jpg", photo, "image/jpeg")},
            ).raise_for_status()
    while True:
        done = deployment.sql("SELECT count(*) FROM jobs WHERE status IN ('done', 'failed')")[0][0]
        if done >= jobs:
            break
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    stop.set()
    sampler.join()

    def one(index: int) -> float:
        began = time.perf_counter()
        httpx.post(
            f"{deployment.base}/v1.0/removebg",
            headers=headers,
            files={"image_file": (f"r{index}.jpg", photo, "image/jpeg")},
            data={"size": "full"},
            timeout=300,
        ).raise_for_status()
        return time.perf_counter() - began

    with ThreadPoolExecutor(max_workers=deployment.concurrency) as pool:
        latencies = list(pool.map(one, range(removebg)))
    return {
        "workers": deployment.concurrency,
        "jobs": jobs,
        "jobs_seconds": round(elapsed, 2),
        "jobs_per_s": round(jobs / elapsed, 3),
        "removebg_requests": removebg,
        "removebg_p50_s": round(statistics.median(latencies), 3),
        "removebg_p95_s": round(_percentile(latencies, 0.95), 3),
        "healthz_samples": len(health),
        "healthz_p99_ms": round(_percentile(health, 0.99) * 1000, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--removebg", type=int, default=12)
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)
    photo = _photo(640, 480)
    rows = []
    for count in args.workers:
        with (
            tempfile.TemporaryDirectory(prefix="clearcutout-bench-scale-") as folder,
            Deployment(Path(folder), args.broker, count) as deployment,
        ):
            rows.append(_measure(deployment, args.jobs, args.removebg, photo))
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["jobs_per_s"] / rows[0]["workers"]
    print(f"\nU²-Netp, 640×480 JPEG, {os.cpu_count()} CPUs visible\n")
    print("| worker processes | jobs/s | efficiency | removebg p50 s | p95 s | /healthz p99 ms |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        row["efficiency"] = round(row["jobs_per_s"] / (base * row["workers"]), 2)
        print(
            f"| {row['workers']} | {row['jobs_per_s']} | {row['efficiency']} | "
            f"{row['removebg_p50_s']} | {row['removebg_p95_s']} | {row['healthz_p99_ms']} |"
        )
    out = BENCH_DIR / "results" / "scale.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"cpus": os.cpu_count(), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
