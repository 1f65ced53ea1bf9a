"""Scale-out faults against the real services: PostgreSQL, Redis, RabbitMQ, and
``clearcutout serve`` / ``worker`` / ``beat`` as real processes (``tests/support/cluster``).

* a worker SIGKILLed mid-job: the job completes exactly once, on another worker (Redis
  and RabbitMQ);
* the broker restarted (a private Redis, so other tests are not disturbed) during a batch:
  every job completes;
* two API processes and two workers, 60 uploads plus synchronous cutouts (60 keeps the
  test to a few minutes on two cores even when they are shared with other work): none
  lost, none duplicated, each result the right image — and the API processes never
  processed one themselves.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.conftest import free_port
from tests.support.cluster import AMQP_URL, REDIS_URL, cluster
from tests.support.jobs import small_photo

# Generous: on a machine shared with other jobs the 60-upload test took 296 s.
pytestmark = pytest.mark.timeout(900)


def _upload(base: str, key: str, photo: bytes, name: str) -> str:
    response = httpx.post(
        f"{base}/api/v1/jobs",
        headers={"X-Api-Key": key},
        files={"image_file": (name, photo, "image/jpeg")},
        timeout=60,
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def _result_size(base: str, key: str, job_id: str) -> tuple[int, int]:
    response = httpx.get(
        f"{base}/api/v1/jobs/{job_id}/result", headers={"X-Api-Key": key}, timeout=60
    )
    assert response.status_code == 200, response.text
    with Image.open(io.BytesIO(response.content)) as image:
        return image.size


@pytest.mark.parametrize("broker", [REDIS_URL, AMQP_URL], ids=["redis", "rabbitmq"])
def test_a_worker_killed_mid_job_loses_nothing_and_the_job_runs_once(
    tmp_path: Path, broker: str
) -> None:
    with cluster(tmp_path, broker) as deployment:
        base = deployment.serve("api")
        deployment.start("beat", "beat")
        first = deployment.worker("worker-a")
        deployment.wait_for_workers(1)
        # Big enough to be still running when the worker is killed.
        job_id = _upload(base, deployment.api_key, small_photo(1600, 1067), "big.jpg")
        deadline = time.monotonic() + 60
        while deployment.sql("SELECT status FROM jobs WHERE id = :id", id=job_id)[0][0] != (
            "running"
        ):
            assert time.monotonic() < deadline, deployment.log("worker-a")
            time.sleep(0.1)
        deployment.worker("worker-b")
        deployment.kill("worker-a")  # the worker and its pool processes, no clean-up
        assert first.poll() is not None

        states = deployment.wait_for_jobs(1, timeout_s=240)
        assert states[job_id][0] == "done"
        assert states[job_id][1] >= 2  # claimed by the killed worker, then by the other
        assert deployment.usage_done() == 1  # finished and counted exactly once
        assert f"job.done job_id={job_id}" in deployment.log("worker-b")
        assert f"job.done job_id={job_id}" not in deployment.log("worker-a")
        assert _result_size(base, deployment.api_key, job_id) == (1600, 1067)


class PrivateRedis:
    """A Redis server of this test's own, on a free port, that the test may restart."""

    def __init__(self, tmp: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.tmp = tmp
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while (
            subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, check=False
            ).stdout.strip()
            != b"PONG"
        ):
            assert time.monotonic() < deadline, "redis did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # its queues and unacknowledged messages are gone
            self.process.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


def test_a_broker_restart_during_a_batch_loses_no_job(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    batch = 12
    with cluster(tmp_path, private_redis.url) as deployment:
        base = deployment.serve("api")
        deployment.start("beat", "beat")
        deployment.worker("worker-a")
        deployment.wait_for_workers(1)
        photos = {
            _upload(base, deployment.api_key, small_photo(200 + i * 8, 150), f"p{i}.jpg"): 200
            + i * 8
            for i in range(batch)
        }
        # The broker dies with the queued messages in it, and comes back empty.
        private_redis.stop()
        time.sleep(2)
        # Uploads while it is down are accepted: the job is in the database.
        during = _upload(base, deployment.api_key, small_photo(180, 120), "during.jpg")
        photos[during] = 180
        private_redis.start()

        states = deployment.wait_for_jobs(batch + 1, timeout_s=300)
        assert {status for status, _ in states.values()} == {"done"}
        assert set(states) == set(photos)
        assert deployment.usage_done() == batch + 1
        for job_id, width in photos.items():
            assert _result_size(base, deployment.api_key, job_id)[0] == width


UPLOADS = 60


def test_two_apis_two_workers_many_uploads_none_lost_none_duplicated(tmp_path: Path) -> None:
    with cluster(tmp_path, REDIS_URL) as deployment:
        bases = [deployment.serve("api-1"), deployment.serve("api-2")]
        deployment.start("beat", "beat")
        deployment.worker("worker-a")
        deployment.worker("worker-b")
        deployment.wait_for_workers(2)
        key = deployment.api_key
        # Each upload has its own width, so each result can be matched to its image.
        widths = [120 + index * 2 for index in range(UPLOADS)]

        def upload(index: int) -> tuple[str, int]:
            photo = small_photo(widths[index], 90)
            return _upload(bases[index % 2], key, photo, f"p{index}.jpg"), widths[index]

        with ThreadPoolExecutor(max_workers=6) as pool:
            submitted = dict(pool.map(upload, range(UPLOADS)))

            # Synchronous paths go through the workers too, while the batch runs.
            def removebg(index: int) -> int:
                response = httpx.post(
                    f"{bases[index % 2]}/v1.0/removebg",
                    headers={"X-Api-Key": key},
                    files={"image_file": ("s.jpg", small_photo(150 + index, 100), "image/jpeg")},
                    data={"size": "full", "format": "png"},
                    timeout=120,
                )
                assert response.status_code == 200, response.text
                return int(response.headers["X-Width"])

            def ephemeral(index: int) -> int:
                response = httpx.post(
                    f"{bases[index % 2]}/api/v1/jobs",
                    headers={"X-Api-Key": key},
                    files={"image_file": ("e.jpg", small_photo(170 + index, 100), "image/jpeg")},
                    data={"store": "false"},
                    timeout=120,
                )
                assert response.status_code == 200, response.text
                with Image.open(io.BytesIO(response.content)) as image:
                    return image.size[0]

            assert list(pool.map(removebg, range(3))) == [150, 151, 152]
            assert list(pool.map(ephemeral, range(3))) == [170, 171, 172]

        assert len(submitted) == UPLOADS  # distinct ids
        states = deployment.wait_for_jobs(UPLOADS, timeout_s=480)
        assert len(states) == UPLOADS
        assert {status for status, _ in states.values()} == {"done"}
        # Each job finished and was counted exactly once (a lease that ran out on a
        # starved machine may add an attempt, never a second result); the 6 synchronous
        # cutouts are counted by the API processes.
        assert deployment.usage_done() == UPLOADS + 6
        for job_id, width in submitted.items():
            assert _result_size(bases[0], key, job_id) == (width, 90)
        # Both workers took part, and no API process ran the engine itself.
        for worker in ("worker-a", "worker-b"):
            assert "job.done" in deployment.log(worker)
        for base in bases:
            metrics = httpx.get(f"{base}/metrics", timeout=10).text
            assert "clearcutout_processing_seconds_count" not in metrics
            assert "onnxruntime" not in deployment.log("api-1")
