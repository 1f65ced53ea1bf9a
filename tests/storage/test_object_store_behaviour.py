"""The behaviour every object store promises, run against ``file://`` and ``s3://`` alike."""

from __future__ import annotations

import os
import threading

import pytest

from clearcutout.errors import ClearCutoutError, ObjectNotFoundError
from clearcutout.storage import InvalidObjectKeyError, ObjectStore


def test_stores_satisfy_the_protocol(store: ObjectStore) -> None:
    assert isinstance(store, ObjectStore)


def test_bytes_round_trip_unchanged(store: ObjectStore) -> None:
    data = os.urandom(256 * 1024) + b"\x00\xff" * 10
    store.put("jobs/1/original", data)
    assert store.get("jobs/1/original") == data
    assert store.exists("jobs/1/original")


def test_empty_object_is_an_object(store: ObjectStore) -> None:
    store.put("empty", b"")
    assert store.get("empty") == b""
    assert store.exists("empty")
    assert list(store.iter_keys()) == ["empty"]


def test_put_replaces_the_previous_object(store: ObjectStore) -> None:
    store.put("k", b"first version, longer than the second")
    store.put("k", b"second")
    assert store.get("k") == b"second"
    assert list(store.iter_keys()) == ["k"]


def test_missing_key_raises_object_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFoundError) as info:
        store.get("never/stored")
    assert isinstance(info.value, ClearCutoutError)
    assert info.value.http_status == 404
    assert not store.exists("never/stored")


def test_a_prefix_of_stored_keys_is_not_an_object(store: ObjectStore) -> None:
    store.put("jobs/1/result", b"r")
    assert not store.exists("jobs/1")
    with pytest.raises(ObjectNotFoundError):
        store.get("jobs/1")


def test_deleted_object_is_gone(store: ObjectStore) -> None:
    store.put("jobs/1/original", b"x")
    store.delete("jobs/1/original")
    assert not store.exists("jobs/1/original")
    with pytest.raises(ObjectNotFoundError):
        store.get("jobs/1/original")
    assert list(store.iter_keys()) == []


def test_delete_is_idempotent(store: ObjectStore) -> None:
    store.put("a", b"x")
    store.delete("a")
    store.delete("a")
    store.delete("never/existed")
    assert not store.exists("a")


def test_delete_leaves_other_objects_alone(store: ObjectStore) -> None:
    store.put("jobs/1/original", b"1")
    store.put("jobs/1/result", b"2")
    store.delete("jobs/1/original")
    assert store.get("jobs/1/result") == b"2"


def test_iter_keys_lists_every_key_once(store: ObjectStore) -> None:
    keys = ["b", "a/z", "a-c", "a/b/c", "a.d", "A", "a0"]
    for key in keys:
        store.put(key, key.encode())
    listed = list(store.iter_keys())
    assert sorted(listed) == sorted(keys)
    assert len(listed) == len(set(listed))


def test_file_store_lists_in_byte_order_like_aws(file_store: ObjectStore) -> None:
    # SeaweedFS lists segment by segment instead, which is why the protocol promises no
    # order; the file store keeps AWS's order so listings are stable and predictable.
    for key in ["b", "a/z", "a-c", "a/b/c", "a.d", "A", "a0"]:
        file_store.put(key, b"")
    assert list(file_store.iter_keys()) == ["A", "a-c", "a.d", "a/b/c", "a/z", "a0", "b"]


def test_iter_keys_prefix_is_a_plain_string_prefix(store: ObjectStore) -> None:
    for key in ["users/1/a", "users/1/b", "users/10/a", "users/2/a", "other/1"]:
        store.put(key, b"x")
    assert sorted(store.iter_keys("users/1/")) == ["users/1/a", "users/1/b"]
    assert sorted(store.iter_keys("users/1")) == ["users/1/a", "users/1/b", "users/10/a"]
    assert sorted(store.iter_keys("users/")) == [
        "users/1/a",
        "users/1/b",
        "users/10/a",
        "users/2/a",
    ]
    assert list(store.iter_keys("nobody/")) == []
    assert list(store.iter_keys("users/1/a")) == ["users/1/a"]


def test_iter_keys_pages_through_many_objects(store: ObjectStore) -> None:
    # More than one S3 listing page (1000 keys) would take long here; 150 keys still
    # cover nested directories on disk and the ordering across them.
    keys = sorted(f"many/{i % 7}/{i:04d}" for i in range(150))
    for key in keys:
        store.put(key, b"")
    assert sorted(store.iter_keys("many/")) == keys


def test_delete_prefix_deletes_exactly_the_prefix_and_counts(store: ObjectStore) -> None:
    for key in ["users/1/a", "users/1/b/c", "users/10/a", "users/2/a"]:
        store.put(key, b"x")
    assert store.delete_prefix("users/1/") == 2
    assert sorted(store.iter_keys()) == ["users/10/a", "users/2/a"]
    assert store.delete_prefix("users/1/") == 0
    assert store.delete_prefix("users/") == 2
    assert list(store.iter_keys()) == []


def test_delete_prefix_refuses_to_empty_the_whole_store(store: ObjectStore) -> None:
    store.put("keep", b"x")
    with pytest.raises(InvalidObjectKeyError, match="empty"):
        store.delete_prefix("")
    assert store.get("keep") == b"x"


BAD_KEYS = [
    "",
    "/etc/passwd",
    "../escape",
    "a/../../escape",
    "a/./b",
    "a//b",
    "trailing/",
    "nul\x00byte",
    "back\\slash",
    ".hidden",
    "a/.tmp-x.partial",
    "space here",
    "new\nline",
    "ümlaut",
    "x" * 256,
    "/".join(["abcdefgh"] * 120),  # 1079 bytes: longer than S3 allows
]


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_invalid_keys_are_refused_by_every_method(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidObjectKeyError):
        store.put(key, b"x")
    with pytest.raises(InvalidObjectKeyError):
        store.get(key)
    with pytest.raises(InvalidObjectKeyError):
        store.exists(key)
    with pytest.raises(InvalidObjectKeyError):
        store.delete(key)
    assert list(store.iter_keys()) == []


@pytest.mark.parametrize("prefix", ["/", "../", "a//", "/abs", ".x", "a\x00"], ids=repr)
def test_invalid_prefixes_are_refused(store: ObjectStore, prefix: str) -> None:
    with pytest.raises(InvalidObjectKeyError):
        store.iter_keys(prefix)
    with pytest.raises(InvalidObjectKeyError):
        store.delete_prefix(prefix)


def test_readers_never_see_half_an_object(store: ObjectStore) -> None:
    """A reader racing an overwrite gets the old or the new object, whole."""
    versions = [bytes([n]) * (2 * 1024 * 1024) for n in (1, 2)]
    store.put("racy", versions[0])
    stop = threading.Event()
    seen: list[bytes] = []

    def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            store.put("racy", versions[n % 2])

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(40):
            seen.append(store.get("racy"))
    finally:
        stop.set()
        thread.join()
    assert all(data in versions for data in seen)
    assert list(store.iter_keys()) == ["racy"]  # no temporary object ever listed


def test_describe_names_the_location(store: ObjectStore) -> None:
    text = store.describe()
    assert text.startswith(("file://", "s3://"))
