"""Turn a storage URL from the settings into a store.

``file:///abs/path`` or a plain path (relative paths are made absolute now, so a later
``chdir`` cannot move the store), and
``s3://bucket/optional/prefix?endpoint=http://127.0.0.1:8333&region=eu-central-1``.
Credentials never travel in the URL (URLs end up in logs); they come from the settings.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from clearcutout.errors import InvalidStorageURLError
from clearcutout.storage.base import ObjectStore
from clearcutout.storage.file import FileObjectStore
from clearcutout.storage.s3 import S3Credentials, S3ObjectStore

__all__ = ["open_store"]

_S3_QUERY_KEYS = frozenset({"endpoint", "region"})


def open_store(
    url: str,
    *,
    credentials: S3Credentials | None = None,
    connect_timeout_s: float = 3.0,
    read_timeout_s: float = 15.0,
) -> ObjectStore:
    """The store a URL names; no I/O happens until the store is used.

    The timeouts bound every call to a network store (seconds).
    """
    url = url.strip()
    if not url:
        raise InvalidStorageURLError("the storage URL is empty")
    if "://" not in url:
        return FileObjectStore(Path(url).expanduser().absolute())
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        return _open_file(url)
    if scheme == "s3":
        return _open_s3(url, credentials, connect_timeout_s, read_timeout_s)
    raise InvalidStorageURLError(
        f"unsupported storage URL scheme {scheme!r} in {_redact(url)!r}: "
        "use file:///absolute/path, a plain path, or s3://bucket/prefix"
    )


def _redact(url: str) -> str:
    """The URL with any user:password part removed, safe for an error message."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


def _open_file(url: str) -> FileObjectStore:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise InvalidStorageURLError(
            f"file URL {url!r} names a host; use file:///absolute/path (three slashes)"
        )
    if parts.query or parts.fragment:
        raise InvalidStorageURLError(f"file URL {url!r} must not have a query or fragment")
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise InvalidStorageURLError(f"file URL {url!r} needs an absolute path")
    return FileObjectStore(Path(path))


def _open_s3(
    url: str, credentials: S3Credentials | None, connect_timeout_s: float, read_timeout_s: float
) -> S3ObjectStore:
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise InvalidStorageURLError(
            f"s3 URL {_redact(url)!r} carries credentials; put them in the settings instead"
        )
    bucket = parts.netloc
    if not bucket:
        raise InvalidStorageURLError(f"s3 URL {url!r} names no bucket: use s3://bucket/prefix")
    if parts.fragment:
        raise InvalidStorageURLError(f"s3 URL {url!r} must not have a fragment")
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    unknown = sorted(set(query) - _S3_QUERY_KEYS)
    if unknown:
        raise InvalidStorageURLError(
            f"s3 URL {url!r} has unknown parameter(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(_S3_QUERY_KEYS))}"
        )
    for name, values in query.items():
        if len(values) != 1 or not values[0]:
            raise InvalidStorageURLError(f"s3 URL {url!r} needs exactly one value for {name}")
    endpoint = query["endpoint"][0] if "endpoint" in query else None
    if endpoint is not None and urlsplit(endpoint).scheme not in ("http", "https"):
        raise InvalidStorageURLError(f"s3 URL {url!r}: endpoint must be an http:// or https:// URL")
    prefix = unquote(parts.path).strip("/")
    try:
        return S3ObjectStore(
            bucket,
            endpoint_url=endpoint,
            region_name=query["region"][0] if "region" in query else None,
            access_key_id=credentials.access_key_id if credentials else None,
            secret_access_key=credentials.secret_access_key if credentials else None,
            prefix=f"{prefix}/" if prefix else "",
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
        )
    except ValueError as exc:
        raise InvalidStorageURLError(f"s3 URL {url!r}: {exc}") from exc
