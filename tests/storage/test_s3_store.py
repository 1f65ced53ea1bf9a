"""What only the ``s3://`` backend promises, against a real SeaweedFS server."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config

from clearcutout.errors import ObjectNotFoundError, StorageError
from clearcutout.storage import EXPIRY_RULE_ID, S3ObjectStore
from tests.support.seaweedfs import SeaweedFS

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client


def _raw_client(server: SeaweedFS) -> S3Client:
    """A plain boto3 client, to look at the bucket without going through our code."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name=server.region,
        aws_access_key_id=server.credentials.access_key_id,
        aws_secret_access_key=server.credentials.secret_access_key,
        config=Config(s3={"addressing_style": "path"}),
    )


def test_ensure_bucket_creates_a_missing_bucket_once(
    seaweedfs: SeaweedFS, fresh_bucket: str
) -> None:
    store = seaweedfs.store(fresh_bucket)
    with pytest.raises(StorageError, match="NoSuchBucket"):
        store.put("k", b"v")
    assert store.ensure_bucket() is True
    assert store.ensure_bucket() is False
    store.put("k", b"v")
    assert store.get("k") == b"v"
    names = [b["Name"] for b in _raw_client(seaweedfs).list_buckets()["Buckets"]]
    assert fresh_bucket in names


def test_objects_live_under_the_store_prefix(seaweedfs: SeaweedFS, s3_bucket: str) -> None:
    eu = seaweedfs.store(s3_bucket, prefix="region-eu")
    us = seaweedfs.store(s3_bucket, prefix="region-us/")
    assert eu.prefix == "region-eu/"
    eu.put("users/1/a", b"eu data")
    us.put("users/1/a", b"us data")
    assert eu.get("users/1/a") == b"eu data"
    assert list(us.iter_keys()) == ["users/1/a"]
    raw = _raw_client(seaweedfs).get_object(Bucket=s3_bucket, Key="region-eu/users/1/a")
    assert raw["Body"].read() == b"eu data"
    assert eu.delete_prefix("users/") == 1
    assert us.get("users/1/a") == b"us data"
    us.delete_prefix("users/")


def test_expiry_rule_is_installed_and_read_back(seaweedfs: SeaweedFS, fresh_bucket: str) -> None:
    store = seaweedfs.store(fresh_bucket)
    store.ensure_bucket()
    assert store.expiry_rule_days() is None
    store.install_expiry_rule(30)
    assert store.expiry_rule_days() == 30
    rules = _raw_client(seaweedfs).get_bucket_lifecycle_configuration(Bucket=fresh_bucket)["Rules"]
    assert len(rules) == 1
    assert rules[0]["ID"] == EXPIRY_RULE_ID
    assert rules[0]["Status"] == "Enabled"
    assert rules[0]["Expiration"] == {"Days": 30}
    assert rules[0]["Filter"].get("Prefix", "") == ""


def test_reinstalling_the_expiry_rule_replaces_it(seaweedfs: SeaweedFS, fresh_bucket: str) -> None:
    store = seaweedfs.store(fresh_bucket)
    store.ensure_bucket()
    store.install_expiry_rule(30)
    store.install_expiry_rule(7)
    assert store.expiry_rule_days() == 7
    rules = _raw_client(seaweedfs).get_bucket_lifecycle_configuration(Bucket=fresh_bucket)["Rules"]
    assert [rule["ID"] for rule in rules] == [EXPIRY_RULE_ID]


def test_expiry_rules_per_prefix_and_operator_rules_coexist(
    seaweedfs: SeaweedFS, fresh_bucket: str
) -> None:
    raw = _raw_client(seaweedfs)
    eu = seaweedfs.store(fresh_bucket, prefix="eu")
    eu.ensure_bucket()
    raw.put_bucket_lifecycle_configuration(
        Bucket=fresh_bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "operator-logs",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "logs/"},
                    "Expiration": {"Days": 90},
                }
            ]
        },
    )
    us = seaweedfs.store(fresh_bucket, prefix="us")
    eu.install_expiry_rule(30)
    us.install_expiry_rule(14, "uploads/")
    assert eu.expiry_rule_days() == 30
    assert us.expiry_rule_days("uploads/") == 14
    assert us.expiry_rule_days() is None
    rules = {
        rule["ID"]: rule
        for rule in raw.get_bucket_lifecycle_configuration(Bucket=fresh_bucket)["Rules"]
    }
    assert set(rules) == {
        "operator-logs",
        f"{EXPIRY_RULE_ID}:eu/",
        f"{EXPIRY_RULE_ID}:us/uploads/",
    }
    assert rules["operator-logs"]["Expiration"] == {"Days": 90}
    assert rules[f"{EXPIRY_RULE_ID}:eu/"]["Filter"] == {"Prefix": "eu/"}
    assert rules[f"{EXPIRY_RULE_ID}:us/uploads/"]["Filter"] == {"Prefix": "us/uploads/"}


def test_delete_prefix_deletes_more_than_one_batch(s3_store: S3ObjectStore) -> None:
    # DeleteObjects takes at most 1000 keys per request.
    for i in range(1005):
        s3_store.put(f"bulk/{i:05d}", b"")
    assert s3_store.delete_prefix("bulk/") == 1005
    assert list(s3_store.iter_keys()) == []


@pytest.mark.parametrize("days", [0, -1, True, 1.5])
def test_expiry_rule_needs_a_positive_whole_number_of_days(
    s3_store: S3ObjectStore, days: object
) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        s3_store.install_expiry_rule(days)  # type: ignore[arg-type]


def test_wrong_secret_is_a_storage_error_without_the_secret(
    seaweedfs: SeaweedFS, s3_bucket: str
) -> None:
    store = S3ObjectStore(
        s3_bucket,
        endpoint_url=seaweedfs.endpoint_url,
        region_name=seaweedfs.region,
        access_key_id=seaweedfs.credentials.access_key_id,
        secret_access_key="wrong-secret-value",
    )
    with pytest.raises(StorageError) as info:
        store.get("anything")
    assert not isinstance(info.value, ObjectNotFoundError)
    assert info.value.http_status == 503
    assert "SignatureDoesNotMatch" in info.value.message
    assert "wrong-secret-value" not in info.value.message
    assert isinstance(info.value.__cause__, Exception)  # the botocore error, kept as cause


def test_unreachable_server_is_a_storage_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    store = S3ObjectStore(
        "clearcutout-tests",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        access_key_id="k",
        secret_access_key="s",
    )
    for action in (
        lambda: store.put("k", b"v"),
        lambda: store.get("k"),
        lambda: store.exists("k"),
        lambda: store.delete("k"),
        lambda: list(store.iter_keys()),
        lambda: store.delete_prefix("k/"),
        lambda: store.ensure_bucket(),
    ):
        with pytest.raises(StorageError, match="EndpointConnectionError"):
            action()


def test_describe_and_repr_never_show_the_secret(seaweedfs: SeaweedFS) -> None:
    store = seaweedfs.store("some-bucket", prefix="eu")
    secret = seaweedfs.credentials.secret_access_key
    assert store.describe() == (
        f"s3://some-bucket/eu/ ({seaweedfs.endpoint_url}, {seaweedfs.region})"
    )
    assert secret not in store.describe()
    assert secret not in repr(store)
    assert secret not in repr(seaweedfs.credentials)
