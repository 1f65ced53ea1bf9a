"""Encrypted object storage per region (envelope encryption, see ``clearcutout.crypto``).

Every object gets its own random AES-256-GCM data key. The data key is wrapped by the
owner's user key (itself wrapped by the region's master key, ``service.infra.userkeys``) and
travels in a small header in front of the ciphertext, so an object is self-contained:
whoever holds the owner's key can open it, and nobody can once that key is destroyed
(crypto-shredding). Both the data key and the content are bound by associated data to
the object key and the owner id, so a blob copied to another key or user does not open.

Sealed object layout::

    b"CCO1" | len(wrapped data key) (2 bytes, big endian) | wrapped data key | envelope

Plaintext never reaches a store: :func:`put_object` seals before ``store.put`` and
:func:`get_object` opens after ``store.get``. Keys are laid out per user
(``users/<user id>/jobs/<job id>/<name>``) so one prefix holds everything of a person
(the data export, a region move and account deletion).
"""

from __future__ import annotations

import threading

from clearcutout import crypto
from clearcutout.config import Settings
from clearcutout.errors import DecryptionError
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra.userkeys import user_key
from clearcutout.storage import ObjectStore, S3Credentials, open_store

__all__ = [
    "MAGIC",
    "delete_object",
    "get_object",
    "job_object_key",
    "open_sealed",
    "put_object",
    "region_store",
    "seal",
    "user_prefix",
]

MAGIC = b"CCO1"
_LENGTH_BYTES = 2

_stores: dict[tuple[str, str, str | None, tuple[float, float]], ObjectStore] = {}
_stores_lock = threading.Lock()


def storage_url(settings: Settings, region: str) -> str:
    """The storage URL of ``region``: configured, or ``data_dir/storage/<region>``."""
    configured = settings.regions[region].storage_url
    if configured:
        return configured
    return (settings.data_dir / "storage" / region).absolute().as_uri()


def region_store(settings: Settings, region: str) -> ObjectStore:
    """The object store of ``region`` (one per URL and credentials, kept per process)."""
    if region not in settings.regions:
        raise KeyError(f"unknown region {region!r}")
    region_settings = settings.regions[region]
    url = storage_url(settings, region)
    access_key = region_settings.s3_access_key_id
    timeouts = (settings.storage_connect_timeout_s, settings.storage_read_timeout_s)
    cache_key = (region, url, access_key, timeouts)
    with _stores_lock:
        store = _stores.get(cache_key)
        if store is None:
            credentials = None
            if access_key and region_settings.s3_secret_access_key is not None:
                credentials = S3Credentials(
                    access_key_id=access_key,
                    secret_access_key=region_settings.s3_secret_access_key.get_secret_value(),
                )
            store = _stores[cache_key] = open_store(
                url,
                credentials=credentials,
                connect_timeout_s=timeouts[0],
                read_timeout_s=timeouts[1],
            )
        return store


def user_prefix(user_id: str) -> str:
    """Where every object of one user lives (ends with ``/``)."""
    return f"users/{user_id}/"


def job_object_key(user_id: str, job_id: str, name: str) -> str:
    """The key of one object of a job: ``name`` is ``original`` or ``result``."""
    return f"{user_prefix(user_id)}jobs/{job_id}/{name}"


def _aad(owner_id: str, object_key: str) -> bytes:
    return f"object:{owner_id}:{object_key}".encode()


def seal(owner_key: bytes, *, owner_id: str, object_key: str, data: bytes) -> bytes:
    """Encrypt ``data`` under a fresh data key wrapped by ``owner_key``."""
    data_key = crypto.new_key()
    aad = _aad(owner_id, object_key)
    wrapped = crypto.wrap_key(owner_key, data_key, aad=aad)
    header = MAGIC + len(wrapped).to_bytes(_LENGTH_BYTES, "big") + wrapped
    return header + crypto.encrypt(data_key, data, aad=aad)


def open_sealed(owner_key: bytes, *, owner_id: str, object_key: str, blob: bytes) -> bytes:
    """Inverse of :func:`seal`; :class:`DecryptionError` for a foreign or altered blob."""
    start = len(MAGIC) + _LENGTH_BYTES
    if len(blob) < start or blob[: len(MAGIC)] != MAGIC:
        raise DecryptionError("Stored object is not a sealed ClearCutout object.")
    length = int.from_bytes(blob[len(MAGIC) : start], "big")
    wrapped, envelope = blob[start : start + length], blob[start + length :]
    aad = _aad(owner_id, object_key)
    data_key = crypto.unwrap_key(owner_key, wrapped, aad=aad)
    return crypto.decrypt(data_key, envelope, aad=aad)


def put_object(
    ctx: ServiceContext, *, owner_id: str, region: str, object_key: str, data: bytes
) -> None:
    """Seal ``data`` for ``owner_id`` and store it in ``region``."""
    sealed = seal(user_key(ctx, owner_id), owner_id=owner_id, object_key=object_key, data=data)
    region_store(ctx.settings, region).put(object_key, sealed)


def get_object(ctx: ServiceContext, *, owner_id: str, region: str, object_key: str) -> bytes:
    """Read and open an object; ``ObjectNotFoundError`` when it is gone."""
    blob = region_store(ctx.settings, region).get(object_key)
    return open_sealed(user_key(ctx, owner_id), owner_id=owner_id, object_key=object_key, blob=blob)


def delete_object(settings: Settings, *, region: str, object_key: str) -> None:
    """Delete an object now (idempotent)."""
    region_store(settings, region).delete(object_key)
