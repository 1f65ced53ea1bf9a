"""Encryption at rest: AES-256-GCM envelopes, key wrapping and a blind index.

The key hierarchy (``docs/architecture.md``, "Encryption and keys"):

    region master key  (secret: settings or ``data_dir/secrets.json``, later a KMS)
      └── wraps each user's key (random, 32 bytes, stored wrapped in the database)
            ├── encrypts the user's personal data in the database (name, email)
            └── wraps each object's data key (random, 32 bytes; the images work)

Destroying a user's wrapped key (crypto-shredding) makes everything under it unreadable,
copies and backups included. Every ciphertext is bound to its context with associated
data (``aad``), so a blob moved to another row or user does not decrypt.

Email lookups use :func:`blind_index`: an HMAC-SHA256 of the normalised value under a key
derived from the app secret, so equal emails match without being stored in the clear.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from clearcutout.config import Settings
from clearcutout.errors import DecryptionError, KeyringError
from clearcutout.storage.file import make_private_dirs

__all__ = [
    "KEY_BYTES",
    "Keyring",
    "blind_index",
    "decrypt",
    "encrypt",
    "new_key",
    "unwrap_key",
    "wrap_key",
]

KEY_BYTES = 32
_NONCE_BYTES = 12
# Format byte of every envelope: lets a later format (or algorithm) coexist.
_FORMAT_V1 = b"\x01"


def new_key() -> bytes:
    """A fresh random 256-bit key (data key or user key)."""
    return secrets.token_bytes(KEY_BYTES)


def encrypt(key: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
    """Seal ``plaintext`` under ``key``: format byte, random 96-bit nonce, ciphertext+tag."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return _FORMAT_V1 + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def decrypt(key: bytes, blob: bytes, *, aad: bytes) -> bytes:
    """Open a blob made by :func:`encrypt`; raises :class:`DecryptionError` if tampered."""
    if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _FORMAT_V1:
        raise DecryptionError("Encrypted value is malformed.")
    nonce = blob[1 : 1 + _NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, blob[1 + _NONCE_BYTES :], aad)
    except InvalidTag as exc:
        raise DecryptionError("Encrypted value does not match its key.") from exc


def wrap_key(kek: bytes, key: bytes, *, aad: bytes) -> bytes:
    """Wrap a data or user key under a key-encryption key (AES-GCM, bound to ``aad``)."""
    return encrypt(kek, key, aad=b"wrap:" + aad)


def unwrap_key(kek: bytes, wrapped: bytes, *, aad: bytes) -> bytes:
    """Inverse of :func:`wrap_key`."""
    return decrypt(kek, wrapped, aad=b"wrap:" + aad)


def blind_index(key: bytes, value: str) -> bytes:
    """Keyed hash for equality lookups of a normalised value (e.g. an email address)."""
    return hmac.new(key, value.strip().lower().encode("utf-8"), hashlib.sha256).digest()


def chain_hash(prev_hash: str, fields: dict[str, str | int | None]) -> str:
    """SHA-256 (hex) of ``prev_hash`` and ``fields`` as canonical JSON: one link of a
    hash chain (the staff access log). Changing, removing or reordering an entry changes
    its hash or breaks the next entry's ``prev_hash``."""
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{prev_hash}\n{payload}".encode()).hexdigest()


def _derive(secret: bytes, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose.encode()
    ).derive(secret)


def _decode_secret(value: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyringError(f"{what} is not valid base64.") from exc
    if len(raw) != KEY_BYTES:
        raise KeyringError(f"{what} must be {KEY_BYTES} bytes (base64), got {len(raw)}.")
    return raw


@dataclass(frozen=True)
class _Secrets:
    app_secret: bytes
    master_keys: dict[str, bytes]


_file_lock = threading.Lock()


def _load_or_create_secrets_file(path: Path, regions: list[str]) -> _Secrets:
    """Read the secrets file, adding any missing secret; created with mode 0600."""
    with _file_lock:
        data: dict[str, object] = {}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise KeyringError(f"Cannot read the secrets file {path}.") from exc
        changed = False
        if not isinstance(data.get("app_secret"), str):
            data["app_secret"] = base64.b64encode(new_key()).decode()
            changed = True
        masters = data.get("master_keys")
        if not isinstance(masters, dict):
            masters = {}
            data["master_keys"] = masters
        for region in regions:
            if not isinstance(masters.get(region), str):
                masters[region] = base64.b64encode(new_key()).decode()
                changed = True
        if changed:
            make_private_dirs(path.parent)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2)
            tmp.replace(path)
        path.chmod(0o600)
        return _Secrets(
            app_secret=_decode_secret(str(data["app_secret"]), "app_secret"),
            master_keys={
                name: _decode_secret(str(value), f"master key of region {name}")
                for name, value in masters.items()
            },
        )


class Keyring:
    """The app secret and region master keys, and the keys derived from them.

    Secrets given in settings win; anything missing is generated once and persisted in
    the secrets file (the embedded default), so restarts keep reading old data.
    """

    def __init__(self, *, app_secret: bytes, master_keys: dict[str, bytes]) -> None:
        self._app_secret = app_secret
        self._master_keys = dict(master_keys)
        self._derived: dict[str, bytes] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        """Build the keyring from settings, generating and persisting missing secrets."""
        missing_region = [
            name for name, region in settings.regions.items() if region.master_key is None
        ]
        stored: _Secrets | None = None
        if settings.app_secret is None or missing_region:
            stored = _load_or_create_secrets_file(settings.effective_secrets_file, missing_region)
        app_secret = (
            _decode_secret(settings.app_secret.get_secret_value(), "app_secret")
            if settings.app_secret is not None
            else stored.app_secret  # type: ignore[union-attr]
        )
        masters: dict[str, bytes] = {}
        for name, region in settings.regions.items():
            if region.master_key is not None:
                masters[name] = _decode_secret(
                    region.master_key.get_secret_value(), f"master key of region {name}"
                )
            else:
                assert stored is not None
                masters[name] = stored.master_keys[name]
        return cls(app_secret=app_secret, master_keys=masters)

    def derived_key(self, purpose: str) -> bytes:
        """A key for one purpose (``"blind-index:email"``, ``"csrf"``…), via HKDF."""
        key = self._derived.get(purpose)
        if key is None:
            key = self._derived[purpose] = _derive(self._app_secret, purpose)
        return key

    def master_key(self, region: str) -> bytes:
        """The master key of a region; :class:`KeyringError` if the region has none."""
        try:
            return self._master_keys[region]
        except KeyError as exc:
            raise KeyringError(f"No master key for region {region!r}.") from exc

    def master_key_id(self, region: str) -> str:
        """Identifies the master key version used to wrap (for later rotation/KMS)."""
        return f"{region}:v1"

    def email_index(self, email: str) -> bytes:
        """Blind index of an email address."""
        return blind_index(self.derived_key("blind-index:email"), email)

    def sign(self, purpose: str, value: bytes) -> bytes:
        """HMAC-SHA256 of ``value`` under the key for ``purpose``."""
        return hmac.new(self.derived_key(purpose), value, hashlib.sha256).digest()
