"""Faults of what the service depends on (models, storage, the database, mail, Stripe) and
of the operator's set-up."""

from __future__ import annotations

from clearcutout.errors.base import ClearCutoutError


class PaymentProviderError(ClearCutoutError):
    """Stripe could not be reached or refused the call (translated from its errors)."""

    code = "payment_provider_error"
    title = "Payment provider unavailable"
    http_status = 502


# -- models and processing ------------------------------------------------------------------


class ModelError(ClearCutoutError):
    code = "model_error"
    title = "Model unavailable"
    http_status = 503


class UnknownModelError(ModelError):
    code = "unknown_model"
    title = "Unknown model"
    http_status = 400


class ModelUnavailableError(ModelError):
    code = "model_unavailable"


class ModelChecksumError(ModelError):
    code = "model_checksum_mismatch"
    title = "Model file corrupt"


class InferenceError(ClearCutoutError):
    code = "inference_failed"
    title = "Processing failed"


# -- storage, keys, jobs, mail --------------------------------------------------------------


class StorageError(ClearCutoutError):
    """The object store could not do its work (disk full, S3 unreachable or refusing).

    The message says what failed, never where (no path, endpoint or bucket): it reaches
    clients. Logs name the store.
    """

    code = "storage_unavailable"
    title = "Storage unavailable"
    http_status = 503
    transient = True


class DatabaseUnavailableError(ClearCutoutError):
    """The database failed (connection lost, disk full, locked too long): try later."""

    code = "database_unavailable"
    title = "Database unavailable"
    http_status = 503
    transient = True


class BusyError(ClearCutoutError):
    """Every synchronous processing slot is taken, or no worker answered before the
    deadline; ``retry_after_s`` becomes the ``Retry-After`` header."""

    code = "server_busy"
    title = "Server busy"
    http_status = 503

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InvalidObjectKeyError(ClearCutoutError, ValueError):
    """An object key or prefix breaks the key rules: a bug in the caller, never input."""

    code = "invalid_object_key"
    title = "Invalid object key"


class DecryptionError(ClearCutoutError):
    """Sealed data does not open with the key given (foreign, altered or shredded)."""

    code = "decryption_failed"
    title = "Data cannot be decrypted"


class IllegalTransitionError(ClearCutoutError):
    """A state change the job state machine does not allow (a bug in the caller)."""

    code = "illegal_transition"
    title = "Illegal job state change"
    http_status = 409


class MailDeliveryError(ClearCutoutError):
    code = "mail_delivery_failed"
    title = "Email could not be sent"
    http_status = 502


# -- the operator's set-up ------------------------------------------------------------------


class ConfigurationError(ClearCutoutError):
    """Something the operator configured cannot be used; the message says what to fix."""

    code = "configuration_error"
    title = "Configuration error"


class KeyringError(ConfigurationError):
    code = "keyring_error"
    title = "Encryption keys unavailable"


class TlsConfigError(ConfigurationError):
    code = "tls_config"
    title = "TLS configuration error"


class DatabaseNotMigratedError(ConfigurationError):
    code = "database_not_migrated"
    title = "Database not migrated"
    http_status = 503


class InvalidStorageURLError(ConfigurationError, ValueError):
    """A storage URL that cannot be used: a configuration mistake, said plainly."""

    code = "invalid_storage_url"
    title = "Invalid storage URL"
