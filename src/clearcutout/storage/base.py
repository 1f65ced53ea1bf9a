"""The object store contract and the key rules every backend shares.

A store keeps opaque bytes under string keys; it knows nothing of owners or encryption
(the service layer encrypts before ``put`` and decrypts after ``get``).

Keys are ``/``-separated segments drawn from the POSIX portable filename character set
(``A–Z a–z 0–9 . _ -``), and no segment starts with ``.``. One rule for every backend
keeps keys portable between ``file://`` and ``s3://`` and makes escaping the store
impossible by construction: no ``..``, no absolute path, no NUL, no backslash, no hidden
file, and temporary files (which start with ``.``) can never collide with a key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Protocol, runtime_checkable

from clearcutout.errors import InvalidObjectKeyError

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_SEGMENT_BYTES",
    "ObjectStore",
    "validate_key",
    "validate_prefix",
]

# S3's limit on a key; the file backend adds the filesystem's limit on one name.
MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255

_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def _explain(key: str, what: str) -> str | None:
    """Why ``key`` is not a valid key, or None when it is."""
    if not key:
        return f"{what} is empty"
    if "\x00" in key:
        return f"{what} contains a NUL character"
    if key.startswith("/"):
        return f"{what} is an absolute path"
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return f"{what} is longer than {MAX_KEY_BYTES} bytes"
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            return f"{what} has an empty, '.' or '..' segment"
        if len(segment) > MAX_SEGMENT_BYTES:
            return f"{what} has a segment longer than {MAX_SEGMENT_BYTES} bytes"
        if segment.startswith("."):
            return f"{what} has a segment starting with '.'"
        if not _SEGMENT.fullmatch(segment):
            return f"{what} has characters outside A-Z a-z 0-9 . _ - and /"
    return None


def validate_key(key: str) -> str:
    """Return ``key`` unchanged, or raise :class:`InvalidObjectKeyError` saying what is wrong."""
    if not isinstance(key, str):
        raise InvalidObjectKeyError(f"object key must be a str, not {type(key).__name__}")
    reason = _explain(key, "object key")
    if reason is not None:
        raise InvalidObjectKeyError(f"{reason}: {key!r}")
    return key


def validate_prefix(prefix: str, *, allow_empty: bool = True) -> str:
    """Return ``prefix`` unchanged if it could begin a valid key (``""`` means all keys).

    A prefix is a plain string prefix, as in S3: ``"jobs/1"`` matches ``jobs/1/a`` and
    ``jobs/10/a``; end it with ``/`` to mean one "directory".
    """
    if not isinstance(prefix, str):
        raise InvalidObjectKeyError(f"key prefix must be a str, not {type(prefix).__name__}")
    if prefix == "":
        if allow_empty:
            return prefix
        raise InvalidObjectKeyError("key prefix is empty")
    body = prefix[:-1] if prefix.endswith("/") else prefix
    reason = _explain(body, "key prefix")
    if reason is not None:
        raise InvalidObjectKeyError(f"{reason}: {prefix!r}")
    return prefix


@runtime_checkable
class ObjectStore(Protocol):
    """Opaque bytes under validated keys; every method validates its key first."""

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any old object; readers see all or none."""
        ...

    def get(self, key: str) -> bytes:
        """The object's bytes; raises ``ObjectNotFoundError`` when there is none."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; removing a missing object is not an error (idempotent)."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        ...

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Every key that starts with ``prefix``, each once.

        The order is the backend's: AWS S3 and the file store list in byte order, but
        SeaweedFS lists segment by segment (``a/b`` before ``a-c``), so sort if it matters.
        """
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix`` (non-empty); the count.

        Half-written files under the prefix (a writer that was killed) go too.
        """
        ...

    def iter_objects(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        """Every key that starts with ``prefix`` and when it was last written (UTC)."""
        ...

    def sweep_partials(self, older_than: datetime) -> int:
        """Remove half-written files (a writer killed mid-write) last touched before
        ``older_than``; the count. A store that writes atomically has none."""
        ...

    def describe(self) -> str:
        """Where the objects live, for logs and ``clearcutout`` output; never a secret."""
        ...
