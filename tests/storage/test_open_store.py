"""Storage URLs from the settings become the right store, or a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

import clearcutout.storage as storage
from clearcutout.storage import (
    FileObjectStore,
    InvalidStorageURLError,
    S3Credentials,
    S3ObjectStore,
    open_store,
)
from tests.support.seaweedfs import SeaweedFS


def test_public_api_is_declared() -> None:
    assert set(storage.__all__) == {
        "EXPIRY_RULE_ID",
        "MAX_KEY_BYTES",
        "FileObjectStore",
        "InvalidObjectKeyError",
        "InvalidStorageURLError",
        "ObjectStore",
        "S3Credentials",
        "S3ObjectStore",
        "open_store",
        "validate_key",
        "validate_prefix",
    }
    for name in storage.__all__:
        assert hasattr(storage, name)


def test_file_url_opens_a_file_store(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/objects")
    assert isinstance(store, FileObjectStore)
    assert store.root == tmp_path / "objects"
    store.put("k", b"v")
    assert (tmp_path / "objects" / "k").read_bytes() == b"v"


def test_file_url_with_escaped_characters(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/with%20space")
    assert isinstance(store, FileObjectStore)
    assert store.root == tmp_path / "with space"


def test_plain_relative_path_is_resolved_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("var/objects")
    assert isinstance(store, FileObjectStore)
    assert store.root == tmp_path / "var" / "objects"


def test_plain_absolute_path(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    assert isinstance(store, FileObjectStore)
    assert store.root == tmp_path


def test_s3_url_opens_an_s3_store_with_its_parts() -> None:
    store = open_store(
        "s3://my-bucket/region/eu?endpoint=http://127.0.0.1:8333&region=eu-central-1",
        credentials=S3Credentials(access_key_id="AK", secret_access_key="SK"),
    )
    assert isinstance(store, S3ObjectStore)
    assert store.bucket == "my-bucket"
    assert store.prefix == "region/eu/"
    assert store.endpoint_url == "http://127.0.0.1:8333"
    assert store.region_name == "eu-central-1"
    assert "SK" not in store.describe()


def test_s3_url_without_prefix_or_options() -> None:
    store = open_store("s3://bucket-only")
    assert isinstance(store, S3ObjectStore)
    assert store.prefix == ""
    assert store.endpoint_url is None


def test_s3_url_store_really_talks_to_the_server(seaweedfs: SeaweedFS, s3_bucket: str) -> None:
    store = open_store(seaweedfs.url(s3_bucket, "via-url"), credentials=seaweedfs.credentials)
    store.put("k", b"through the URL")
    assert seaweedfs.store(s3_bucket, prefix="via-url").get("k") == b"through the URL"
    assert store.delete_prefix("k") == 1


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ftp://host/path", "unsupported storage URL scheme 'ftp'"),
        ("gs://bucket", "unsupported storage URL scheme 'gs'"),
        ("file://server/share", "three slashes"),
        ("file:///tmp/x?mode=1", "query"),
        ("s3://", "no bucket"),
        ("s3:///prefix", "no bucket"),
        ("s3://bucket?endpint=http://x", "unknown parameter"),
        ("s3://bucket?region=", "exactly one value"),
        ("s3://bucket?region=a&region=b", "exactly one value"),
        ("s3://bucket?endpoint=127.0.0.1:8333", "http:// or https://"),
        ("s3://bucket/a/../b", "'..'"),
        ("s3://bucket/.hidden", "starting with '.'"),
    ],
)
def test_bad_urls_get_a_clear_error(url: str, message: str) -> None:
    with pytest.raises(InvalidStorageURLError, match=message.replace("?", r"\?")):
        open_store(url)


def test_credentials_in_the_url_are_refused_and_not_echoed() -> None:
    with pytest.raises(InvalidStorageURLError, match="settings") as info:
        open_store("s3://AKIDEXAMPLE:topsecret@bucket/x")
    assert "topsecret" not in str(info.value)
    with pytest.raises(InvalidStorageURLError) as info:
        open_store("webdav://user:topsecret@host/x")
    assert "topsecret" not in str(info.value)
