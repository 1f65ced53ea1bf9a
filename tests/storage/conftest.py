"""Fixtures for the storage suite: one behaviour suite, run on every backend.

``store`` is parametrised over ``file`` and ``s3``; the S3 side talks to a real SeaweedFS
started once per session (the ``seaweedfs`` fixture of ``tests.support.seaweedfs``).
Each S3 test gets its own key prefix in one shared bucket, so tests cannot see each
other's objects.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from clearcutout.storage import FileObjectStore, ObjectStore, S3ObjectStore
from tests.support.seaweedfs import SeaweedFS

SHARED_BUCKET = "clearcutout-tests"


@pytest.fixture(scope="session")
def s3_bucket(seaweedfs: SeaweedFS) -> str:
    seaweedfs.store(SHARED_BUCKET).ensure_bucket()
    return SHARED_BUCKET


@pytest.fixture
def s3_store(seaweedfs: SeaweedFS, s3_bucket: str) -> S3ObjectStore:
    return seaweedfs.store(s3_bucket, prefix=f"test-{uuid.uuid4().hex}")


@pytest.fixture
def file_store(tmp_path: Path) -> FileObjectStore:
    return FileObjectStore(tmp_path / "objects")


@pytest.fixture
def fresh_bucket() -> str:
    """A bucket name no test has used yet (3–63 lowercase characters)."""
    return f"cc-{uuid.uuid4().hex[:20]}"


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest) -> ObjectStore:
    # getfixturevalue: the file backend runs even where SeaweedFS is not installed.
    if request.param == "file":
        backend: ObjectStore = request.getfixturevalue("file_store")
    else:
        backend = request.getfixturevalue("s3_store")
    return backend
