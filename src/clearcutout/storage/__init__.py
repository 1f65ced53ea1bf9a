"""Object storage: opaque bytes under keys, on local disk (``file://``) or S3 (``s3://``).

Storage knows nothing of who owns an object and nothing of encryption: the service layer
encrypts before it stores and decrypts after it reads. Pick a backend with
:func:`open_store` from a URL in the settings.
"""

from clearcutout.errors import InvalidObjectKeyError, InvalidStorageURLError
from clearcutout.storage.base import MAX_KEY_BYTES, ObjectStore, validate_key, validate_prefix
from clearcutout.storage.factory import open_store
from clearcutout.storage.file import FileObjectStore
from clearcutout.storage.s3 import EXPIRY_RULE_ID, S3Credentials, S3ObjectStore

__all__ = [
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
]
