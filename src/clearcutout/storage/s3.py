"""The ``s3://`` backend (boto3): AWS S3 or any S3-compatible server (SeaweedFS, MinIO…).

Every botocore error is translated here, at the boundary, into :class:`StorageError` (or
:class:`ObjectNotFoundError` for a missing key), so callers never import botocore. A
bucket lifecycle rule that expires objects after N days backs up the application's own
retention sweeper: if the sweeper stops, the bucket still forgets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from clearcutout.errors import ObjectNotFoundError, StorageError
from clearcutout.storage.base import validate_key, validate_prefix

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import LifecycleRuleOutputTypeDef, LifecycleRuleTypeDef

__all__ = ["EXPIRY_RULE_ID", "S3Credentials", "S3ObjectStore"]

logger = logging.getLogger(__name__)

# Our lifecycle rules are recognised by this ID (plus the prefix they cover), so rules an
# operator added to the same bucket are left alone.
EXPIRY_RULE_ID = "clearcutout-expiry"
# DeleteObjects takes at most 1000 keys per request.
_DELETE_BATCH = 1000
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True)
class S3Credentials:
    """An access key pair; the secret never appears in ``repr`` (and so not in logs)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


class S3ObjectStore:
    """Objects in one bucket, optionally under a key prefix (several regions may share)."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        prefix: str = "",
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 15.0,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 bucket name is required")
        if (access_key_id is None) != (secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        validate_prefix(prefix)
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self.region_name = region_name
        config = Config(
            # S3-compatible servers are usually reached by IP or one host name, so path
            # style; AWS itself picks the right style on its own.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            signature_version="s3v4",
            # Two tries at most, each bounded: a hung server costs a request about
            # 2 × (connect + read) seconds, then a 503 (botocore's defaults waited ~300 s).
            retries={"max_attempts": 2, "mode": "standard"},
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            # botocore >= 1.36 adds CRC trailers that several S3-compatible servers
            # reject; integrity is checked above us anyway (AES-GCM authenticates).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # Without keys, boto3's default chain applies (environment, instance role, …).
        self._client: S3Client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region_name,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )

    def __repr__(self) -> str:
        return f"S3ObjectStore({self.describe()!r})"

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}"
        details = [part for part in (self.endpoint_url, self.region_name) if part]
        return f"{where} ({', '.join(details)})" if details else where

    def _key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _fail(self, action: str, exc: Exception) -> StorageError:
        """A :class:`StorageError` for ``exc``, naming the action but no key or secret."""
        reason = _error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
        # The message reaches clients: what failed, never where (endpoint, bucket).
        logger.warning(
            "storage.failed store=%s action=%r reason=%s", self.describe(), action, reason
        )
        return StorageError(f"Object storage failed to {action}: {reason}.")

    # -- objects -------------------------------------------------------------------

    def put(self, key: str, data: bytes) -> None:
        full_key = self._key(key)
        try:
            self._client.put_object(Bucket=self.bucket, Key=full_key, Body=bytes(data))
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("store an object", exc) from exc

    def get(self, key: str) -> bytes:
        full_key = self._key(key)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=full_key)
            return response["Body"].read()
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise ObjectNotFoundError(f"no object under key {key!r}") from None
            raise self._fail("read an object", exc) from exc
        except BotoCoreError as exc:
            raise self._fail("read an object", exc) from exc

    def exists(self, key: str) -> bool:
        full_key = self._key(key)
        try:
            self._client.head_object(Bucket=self.bucket, Key=full_key)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                return False
            raise self._fail("look up an object", exc) from exc
        except BotoCoreError as exc:
            raise self._fail("look up an object", exc) from exc
        return True

    def delete(self, key: str) -> None:
        full_key = self._key(key)
        try:
            # S3's DeleteObject succeeds for a missing key: idempotent by itself.
            self._client.delete_object(Bucket=self.bucket, Key=full_key)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("delete an object", exc) from exc

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix)
        return self._iter_full_keys(self.prefix + prefix)

    def _iter_full_keys(self, full_prefix: str) -> Iterator[str]:
        strip = len(self.prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
                for item in page.get("Contents", []):
                    yield item["Key"][strip:]
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("list objects", exc) from exc

    def iter_objects(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        validate_prefix(prefix)
        strip = len(self.prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", []):
                    modified = item["LastModified"]
                    if modified.tzinfo is None:
                        modified = modified.replace(tzinfo=UTC)
                    yield item["Key"][strip:], modified
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("list objects", exc) from exc

    def sweep_partials(self, older_than: datetime) -> int:
        # A PUT is stored whole or not at all: S3 keeps no half-written object.
        return 0

    def delete_prefix(self, prefix: str) -> int:
        # An empty prefix would wipe the whole store: refuse it, a caller bug is likelier.
        validate_prefix(prefix, allow_empty=False)
        full_prefix = self.prefix + prefix
        deleted = 0
        while True:
            # Always list from the start: no continuation token to go stale while we
            # delete, and objects written meanwhile are caught by the next round.
            try:
                page = self._client.list_objects_v2(
                    Bucket=self.bucket, Prefix=full_prefix, MaxKeys=_DELETE_BATCH
                )
            except (BotoCoreError, ClientError) as exc:
                raise self._fail("list objects", exc) from exc
            keys = [item["Key"] for item in page.get("Contents", [])]
            if not keys:
                break
            try:
                response = self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
                )
            except (BotoCoreError, ClientError) as exc:
                raise self._fail("delete objects", exc) from exc
            errors = response.get("Errors", [])
            if errors:
                codes = sorted({str(error.get("Code", "Unknown")) for error in errors})
                logger.warning("storage.failed store=%s action='delete objects'", self.describe())
                raise StorageError(
                    f"Object storage failed to delete {len(errors)} of "
                    f"{len(keys)} objects: {', '.join(codes)}."
                )
            deleted += len(keys)
        logger.info("storage.delete_prefix store=%s deleted=%d", self.describe(), deleted)
        return deleted

    # -- bucket --------------------------------------------------------------------

    def ensure_bucket(self) -> bool:
        """Create the bucket when it does not exist; True when it was created now."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return False
        except ClientError as exc:
            if _error_code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
                raise self._fail("check the bucket", exc) from exc
        except BotoCoreError as exc:
            raise self._fail("check the bucket", exc) from exc
        try:
            if self.region_name and self.region_name != "us-east-1":
                self._client.create_bucket(
                    Bucket=self.bucket,
                    CreateBucketConfiguration={"LocationConstraint": self.region_name},  # type: ignore[typeddict-item]
                )
            else:
                # us-east-1 (and servers without regions) reject an explicit constraint.
                self._client.create_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _error_code(exc) in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                return False  # created by a concurrent caller
            raise self._fail("create the bucket", exc) from exc
        except BotoCoreError as exc:
            raise self._fail("create the bucket", exc) from exc
        logger.info("storage.bucket_created store=%s", self.describe())
        return True

    def _rule_id(self, prefix: str) -> str:
        full_prefix = self.prefix + prefix
        return f"{EXPIRY_RULE_ID}:{full_prefix}" if full_prefix else EXPIRY_RULE_ID

    def _lifecycle_rules(self) -> list[LifecycleRuleOutputTypeDef]:
        try:
            response = self._client.get_bucket_lifecycle_configuration(Bucket=self.bucket)
        except ClientError as exc:
            if _error_code(exc) == "NoSuchLifecycleConfiguration":
                return []
            raise self._fail("read the lifecycle rules", exc) from exc
        except BotoCoreError as exc:
            raise self._fail("read the lifecycle rules", exc) from exc
        return list(response.get("Rules", []))

    def install_expiry_rule(self, days: int, prefix: str = "") -> None:
        """Make the bucket expire objects under ``prefix`` (in this store) after ``days``.

        Replaces our earlier rule for the same prefix and keeps every other rule, because
        S3 replaces a bucket's whole lifecycle configuration at once.
        """
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise ValueError(f"expiry days must be a positive integer, not {days!r}")
        validate_prefix(prefix)
        rule_id = self._rule_id(prefix)
        kept = [rule for rule in self._lifecycle_rules() if rule.get("ID") != rule_id]
        ours: dict[str, Any] = {
            "ID": rule_id,
            "Status": "Enabled",
            "Filter": {"Prefix": self.prefix + prefix},
            "Expiration": {"Days": days},
        }
        rules: list[Mapping[str, Any]] = [*kept, ours]
        try:
            self._client.put_bucket_lifecycle_configuration(
                Bucket=self.bucket,
                LifecycleConfiguration={"Rules": _as_rule_inputs(rules)},
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("install the lifecycle rule", exc) from exc
        logger.info("storage.expiry_rule_installed store=%s days=%d", self.describe(), days)

    def expiry_rule_days(self, prefix: str = "") -> int | None:
        """The days after which our enabled rule for ``prefix`` expires objects, if any."""
        validate_prefix(prefix)
        rule_id = self._rule_id(prefix)
        for rule in self._lifecycle_rules():
            if rule.get("ID") == rule_id and rule.get("Status") == "Enabled":
                days = rule.get("Expiration", {}).get("Days")
                return int(days) if days is not None else None
        return None


def _as_rule_inputs(rules: list[Mapping[str, Any]]) -> list[LifecycleRuleTypeDef]:
    """Rules read back from S3 are sent again as they came; the shapes are the same."""
    return [dict(rule) for rule in rules]  # type: ignore[misc]
