"""No plaintext image reaches the storage: scan the files under ``file://`` and the raw
volume files of a real S3 server (SeaweedFS) after jobs ran."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from clearcutout.service.infra import objects
from tests.support.jobs import JobsApp, job_settings, jobs_app, s3_regions, small_photo
from tests.support.seaweedfs import SeaweedFS

# JPEG start of image followed by a marker; PNG's signature; a RIFF container of WebP.
_SIGNATURES = {
    "jpeg": re.compile(rb"\xff\xd8\xff[\xc0-\xfe]"),
    "png": re.compile(rb"\x89PNG\r\n\x1a\n"),
    "webp": re.compile(rb"RIFF.{4}WEBP", re.DOTALL),
}


def _decodable(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Exception:
        return False
    return True


def plaintext_findings(root: Path) -> list[str]:
    """Every image signature, and every file or signature offset Pillow can decode."""
    findings: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if _decodable(data):
            findings.append(f"{path}: decodable image")
        for kind, pattern in _SIGNATURES.items():
            for match in pattern.finditer(data):
                where = match.start()
                decodable = " (decodable)" if _decodable(data[where:]) else ""
                findings.append(f"{path}@{where}: {kind} signature{decodable}")
    return findings


def count_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())


def test_the_scanner_finds_plaintext_images(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(small_photo(40, 30, "JPEG"))
    (tmp_path / "b.bin").write_bytes(b"\0" * 100 + small_photo(40, 30, "PNG") + b"\0" * 100)
    (tmp_path / "c.bin").write_bytes(b"xx" + small_photo(40, 30, "WEBP"))
    findings = plaintext_findings(tmp_path)
    assert any("a.jpg: decodable" in f for f in findings)
    assert any("b.bin@100: png signature (decodable)" in f for f in findings)
    assert any("c.bin@2: webp signature (decodable)" in f for f in findings)


def run_jobs_in_every_format(app: JobsApp) -> None:
    """Three stored jobs (JPEG, PNG, WebP uploads) and one ephemeral; all downloaded."""
    account = app.account()
    uploads = [small_photo(160, 120, fmt) for fmt in ("JPEG", "PNG", "WEBP")]
    ids = [app.submit(account, data)["id"] for data in uploads]
    for job_id in ids:
        job = app.wait(account, job_id)
        assert job["status"] == "done", job
        for fmt in ("png", "webp", "jpg"):
            response = app.client.get(
                job["result_url"], params={"format": fmt}, headers=account.headers
            )
            assert response.status_code == 200
    ephemeral = app.client.post(
        "/api/v1/jobs",
        headers=account.headers,
        files={"image_file": ("x.png", uploads[1], "image/png")},
        data={"store": "false"},
    )
    assert ephemeral.status_code == 200


def sealed_objects(app: JobsApp) -> list[bytes]:
    store = objects.region_store(app.settings, "eu")
    return [store.get(key) for key in store.iter_keys("")]


def test_no_plaintext_image_reaches_file_storage(tmp_path: Path) -> None:
    for app in jobs_app(job_settings(tmp_path / "data")):
        run_jobs_in_every_format(app)
        blobs = sealed_objects(app)
        assert len(blobs) == 6  # three originals, three results
        assert all(blob.startswith(objects.MAGIC) for blob in blobs)
        root = app.settings.data_dir / "storage"
        assert count_files(root) == 6
        assert plaintext_findings(root) == []
        # Nor anywhere else in the data directory (database, temporary files…).
        assert plaintext_findings(app.settings.data_dir) == []


@pytest.fixture
def s3_app(tmp_path: Path, seaweedfs: SeaweedFS) -> Iterator[JobsApp]:
    regions = s3_regions(seaweedfs, f"scan-{uuid.uuid4().hex[:8]}")
    yield from jobs_app(job_settings(tmp_path / "data", regions=regions))


def test_no_plaintext_image_reaches_the_s3_bucket(s3_app: JobsApp, seaweedfs: SeaweedFS) -> None:
    run_jobs_in_every_format(s3_app)
    blobs = sealed_objects(s3_app)
    assert len(blobs) == 6
    assert all(blob.startswith(objects.MAGIC) for blob in blobs)
    assert not (s3_app.settings.data_dir / "storage").exists()  # nothing went to file://
    volume_bytes = sum(p.stat().st_size for p in seaweedfs.data_dir.rglob("*.dat"))
    assert volume_bytes >= sum(len(blob) for blob in blobs)
    assert plaintext_findings(seaweedfs.data_dir) == []

    # Control: the same scan does see an image stored without encryption.
    control = seaweedfs.store("clearcutout-jobs-tests", prefix="control")
    control.put("plain.png", small_photo(40, 30, "PNG"))
    assert any("png signature" in f for f in plaintext_findings(seaweedfs.data_dir))
