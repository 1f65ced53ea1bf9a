"""What only the ``file://`` backend promises: modes, atomic writes on disk, no escapes."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from clearcutout.errors import ObjectNotFoundError, StorageError
from clearcutout.storage import FileObjectStore, InvalidObjectKeyError


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A umask that would leave files world-readable unless the store says otherwise."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _everything_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.usefixtures("permissive_umask")
def test_directories_are_0700_and_files_0600(tmp_path: Path) -> None:
    root = tmp_path / "not" / "yet" / "there"
    store = FileObjectStore(root)
    store.put("users/7/jobs/3/original", b"secret")
    assert _mode(root) == 0o700
    assert _mode(tmp_path / "not") == 0o700
    assert _mode(root / "users") == 0o700
    assert _mode(root / "users" / "7" / "jobs" / "3") == 0o700
    assert _mode(root / "users" / "7" / "jobs" / "3" / "original") == 0o600
    store.put("users/7/jobs/3/original", b"replaced")
    assert _mode(root / "users" / "7" / "jobs" / "3" / "original") == 0o600


def test_objects_are_plain_files_at_their_key_path(file_store: FileObjectStore) -> None:
    file_store.put("a/b/c", b"payload")
    assert (file_store.root / "a" / "b" / "c").read_bytes() == b"payload"


def test_no_temporary_file_is_left_after_writes(file_store: FileObjectStore) -> None:
    for n in range(20):
        file_store.put(f"d/{n % 3}", os.urandom(1000))
    assert _everything_under(file_store.root) == ["d", "d/0", "d/1", "d/2"]


def test_a_failed_write_keeps_the_old_object_and_leaves_no_trace(
    file_store: FileObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    file_store.put("doc", b"old and complete")

    def disk_failure(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_failure)
    with pytest.raises(StorageError, match="No space left") as info:
        file_store.put("doc", b"new")
    assert info.value.http_status == 503
    monkeypatch.undo()
    assert file_store.get("doc") == b"old and complete"
    assert _everything_under(file_store.root) == ["doc"]


def test_a_crashed_writers_temp_file_is_never_listed_but_deleted_with_its_prefix(
    file_store: FileObjectStore,
) -> None:
    file_store.put("jobs/1/result", b"r")
    # What a process killed between write and rename leaves behind.
    partial = file_store.root / "jobs" / "1" / ".tmp-abc123.partial"
    partial.write_bytes(b"half")
    assert list(file_store.iter_keys()) == ["jobs/1/result"]
    assert file_store.delete_prefix("jobs/") == 1  # objects counted; the partial goes too
    assert not partial.exists()
    assert not (file_store.root / "jobs").exists()


def test_deleting_removes_emptied_directories(file_store: FileObjectStore) -> None:
    file_store.put("users/42/jobs/1/original", b"x")
    file_store.put("users/42/jobs/1/result", b"y")
    file_store.put("users/43/jobs/9/original", b"z")
    file_store.delete("users/42/jobs/1/original")
    assert (file_store.root / "users" / "42" / "jobs" / "1").is_dir()
    file_store.delete("users/42/jobs/1/result")
    # No directory named after user 42 remains to say they ever had objects.
    assert _everything_under(file_store.root) == [
        "users",
        "users/43",
        "users/43/jobs",
        "users/43/jobs/9",
        "users/43/jobs/9/original",
    ]
    assert file_store.delete_prefix("users/43/") == 1
    assert _everything_under(file_store.root) == []
    assert file_store.root.is_dir()


def test_a_key_cannot_also_be_a_directory_of_keys(file_store: FileObjectStore) -> None:
    file_store.put("a/b", b"x")
    with pytest.raises(InvalidObjectKeyError, match="clashes"):
        file_store.put("a", b"y")
    file_store.put("c", b"x")
    with pytest.raises(InvalidObjectKeyError, match="clashes"):
        file_store.put("c/d", b"y")
    assert file_store.get("a/b") == b"x"
    assert file_store.get("c") == b"x"
    assert not file_store.exists("c/d")
    with pytest.raises(ObjectNotFoundError):
        file_store.get("c/d")


def test_symlinks_in_the_store_are_neither_read_nor_listed(
    file_store: FileObjectStore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not yours")
    file_store.put("x", b"mine")
    (file_store.root / "link").symlink_to(outside)
    (file_store.root / "dirlink").symlink_to(tmp_path)
    with pytest.raises(ObjectNotFoundError):
        file_store.get("link")
    assert not file_store.exists("link")
    assert list(file_store.iter_keys()) == ["x"]


def test_keys_cannot_escape_the_root(file_store: FileObjectStore, tmp_path: Path) -> None:
    (tmp_path / "victim").write_bytes(b"keep")
    for key in ["../victim", "a/../../victim", str(tmp_path / "victim")]:
        with pytest.raises(InvalidObjectKeyError):
            file_store.put(key, b"overwritten")
        with pytest.raises(InvalidObjectKeyError):
            file_store.delete(key)
    assert (tmp_path / "victim").read_bytes() == b"keep"


def test_listing_a_store_that_does_not_exist_yet_is_empty(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path / "missing")
    assert list(store.iter_keys()) == []
    assert not store.exists("a")
    store.delete("a")
    assert store.delete_prefix("a/") == 0
    assert not (tmp_path / "missing").exists()


def test_relative_root_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = FileObjectStore(Path("data"))
    monkeypatch.chdir("/")
    store.put("k", b"v")
    assert (tmp_path / "data" / "k").read_bytes() == b"v"
    assert store.describe() == f"file://{tmp_path / 'data'}"
