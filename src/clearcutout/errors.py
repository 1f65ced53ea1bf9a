"""The one error tree of ClearCutout.

Every error the project raises on purpose derives from :class:`ClearCutoutError`. Each
carries a one-line ``message`` (safe to show a person), a stable ``code`` (machine-
readable, remove.bg's own code wherever remove.bg has one) and the ``http_status`` the
web layer answers with. Third-party errors (Pillow, ONNX Runtime, boto3, smtplib, …) are
translated at the boundary with ``raise … from exc``. The CLI prints ``message`` on one
line; the API renders ``{"errors": [{"code", "title", "detail"}]}`` (``web/errors.py``);
the remove.bg-compatible API answers in remove.bg's statuses (``web/routes/removebg.py``).

:class:`ServiceError` marks the refusals the service layer explains to a person: the
message is a gettext msgid (``template``) filled with ``params``, so pages show it
translated and forms show it beside the field. ``keep_changes`` asks the unit of work
(``service/context.py``) to commit even though the request fails: a refused login or an
API-key attempt stays counted.

The tree, with the status where a class sets one and the code (``a | b``: codes an
instance may carry instead of its class's; ``+ ServiceError``: also a service error)::

    ClearCutoutError (500)                 error
    ├── InputError (400)                   invalid_input: the caller sent something unusable
    │   ├── EmptyImageError                failed_to_read_image: zero bytes, no pixels
    │   ├── TruncatedImageError            failed_to_read_image: an image cut short
    │   ├── UnsupportedImageError          invalid_file_type: not an image we decode
    │   ├── ImageTooLargeError             resolution_too_high: over the pixel limit
    │   ├── AspectRatioError               aspect_ratio_too_high: a strip (1×1,000,000)
    │   ├── ImageMetadataError             metadata_too_large: a zlib bomb in a PNG's text or
    │   │                                  colour profile
    │   ├── TooManyScansError              too_many_scans: a progressive JPEG of 1,000 scans
    │   ├── FileTooLargeError (413)        file_too_large: over the byte limit
    │   ├── InvalidOptionError             invalid_input | invalid_<option>: invalid_size,
    │   │                                  invalid_format, invalid_channels, invalid_bg_color,
    │   │                                  invalid_roi, roi_exceeds_bounds, roi_region_empty,
    │   │                                  invalid_crop, invalid_crop_margin, invalid_scale,
    │   │                                  invalid_position, invalid_semitransparency,
    │   │                                  invalid_shadow_type, invalid_shadow_opacity,
    │   │                                  multiple_shadow_params, multiple_bg_sources,
    │   │                                  invalid_bg_image_url, invalid_store,
    │   │                                  invalid_quality, invalid_type_level, …
    │   ├── ImageSourceError               invalid_input | failed_to_read_image (base64)
    │   │   ├── MissingSourceError         missing_source: no image given
    │   │   └── MultipleSourcesError       multiple_sources: more than one image given
    │   ├── UnknownParameterError          unknown_parameter: a field the jobs API lacks
    │   ├── InvalidBodyError               invalid_input: a body that is no form or JSON
    │   ├── UrlFetchError                  invalid_image_url | failed_image_download |
    │   │                                  invalid_bg_image_url | failed_bg_download
    │   ├── NoForegroundError              unknown_foreground: the matte is empty
    │   ├── WebhookSignatureError          invalid_signature: a Stripe event not signed
    │   │                                  with our webhook secret
    │   ├── ValidationError + ServiceError validation_failed: a form field (``field``)
    │   │   └── AgeRequirementError        age_requirement: under the minimum age
    │   └── InvalidTokenError + ServiceError invalid_token: an emailed link used or expired
    ├── ServiceError                       (no code of its own)
    │   ├── AuthenticationError (401)      unauthenticated | invalid_credentials |
    │   │   │                              invalid_api_key | account_locked; keeps changes
    │   │   └── EmailNotVerifiedError (403) email_not_verified
    │   ├── PermissionDeniedError (403)    forbidden: e.g. an API key without the scope
    │   │   ├── CsrfError                  csrf_failed: the form's CSRF echo is missing
    │   │   └── SecondFactorRequiredError  second_factor_required: a staff page before
    │   │                                  the TOTP code of this session
    │   ├── ApiKeyError (403)              auth_failed | missing_api_key | invalid_api_key |
    │   │                                  insufficient_scope (remove.bg); keeps changes
    │   ├── InsufficientCreditsError (402) insufficient_credits: the credits left cannot pay
    │   ├── NotFoundError (404)            not_found | job_not_found | export_not_found
    │   │   └── ObjectNotFoundError        object_not_found: no stored object under a key
    │   ├── JobNotReadyError (409)         job_not_ready
    │   ├── JobNotRetryableError (409)     job_not_retryable: only a failed job with its
    │   │                                  original can be retried
    │   ├── IdempotencyKeyError (422)      idempotency_key_reused: the key came with
    │   │                                  another request
    │   ├── ExportNotReadyError (409)      export_not_ready
    │   ├── RegionMoveRefusedError (409)   region_move_refused: jobs or an export pending
    │   ├── JobExpiredError (410)          job_expired: retention deleted the images
    │   ├── ExportExpiredError (410)       export_expired: the download link ran out
    │   └── ThrottledError (429)           rate_limit_exceeded (``retry_after_s``); keeps
    │       │                              changes
    │       ├── RateLimitedError           rate_limit_exceeded: remove.bg's per-key window
    │       └── UrlFetchBusyError          rate_limit_exceeded: every URL-download slot is
    │                                      taken
    ├── ModelError (503)                   model_error: a model cannot be used
    │   ├── UnknownModelError (400)        unknown_model: no such model in the registry
    │   ├── ModelUnavailableError          model_unavailable: not cached, cannot be fetched
    │   └── ModelChecksumError             model_checksum_mismatch: a corrupt model file
    ├── InferenceError                     inference_failed: ONNX Runtime failed
    ├── StorageError (503)                 storage_unavailable: disk, S3 or network failed
    │                                      (transient, ``retry_after_s``)
    ├── DatabaseUnavailableError (503)     database_unavailable: the database failed or is
    │                                      locked (transient, ``retry_after_s``)
    ├── BusyError (503)                    server_busy: no processing slot or worker answer
    │                                      in time (``retry_after_s``)
    ├── InvalidObjectKeyError              invalid_object_key: a bug (also a ValueError)
    ├── DecryptionError                    decryption_failed: wrong key, altered data
    ├── IllegalTransitionError (409)       illegal_transition: a job move the state
    │                                      machine forbids (a bug in the caller)
    ├── MailDeliveryError (502)            mail_delivery_failed
    ├── PaymentProviderError (502)         payment_provider_error: Stripe failed or refused
    └── ConfigurationError                 configuration_error: the operator's set-up
        ├── KeyringError                   keyring_error: master keys unreadable or missing
        ├── TlsConfigError                 tls_config: certificate or key unusable
        ├── DatabaseNotMigratedError (503) database_not_migrated: run ``clearcutout db
        │                                  upgrade``
        └── InvalidStorageURLError         invalid_storage_url (also a ValueError)

Codes without a class of their own: ``internal_error`` (a job that crashed unexpectedly,
``workers/tasks.py``), ``job_abandoned`` (a job whose worker kept dying), and the web
layer's ``invalid_input`` (a request FastAPI cannot parse), ``not_found`` and
``method_not_allowed`` (no such route). ``tests/test_errors.py`` checks that every class
and code is listed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class ClearCutoutError(Exception):
    """Root of every error raised on purpose by ClearCutout."""

    code: str = "error"
    title: str = "Error"
    http_status: int = 500
    # A fault of something we depend on (storage, database) that passes by itself: a job
    # waits and tries again later, a client is told when (``Retry-After``).
    transient: bool = False
    retry_after_s: int = 5

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ServiceError(ClearCutoutError):
    """A refusal the service layer explains to a person; ``keep_changes`` asks the
    boundary to commit anyway.

    ``template`` is the English message with ``%(name)s`` placeholders (the gettext msgid,
    so the web layer can show it translated), ``params`` fills them.
    """

    keep_changes: bool = False

    def __init__(
        self,
        template: str,
        *,
        params: Mapping[str, str | int] | None = None,
        code: str | None = None,
    ) -> None:
        self.template = template
        self.params: dict[str, str | int] = dict(params or {})
        super().__init__(template % self.params if self.params else template, code=code)


# -- input: 400 ---------------------------------------------------------------------------


class InputError(ClearCutoutError):
    code = "invalid_input"
    title = "Invalid input"
    http_status = 400


class EmptyImageError(InputError):
    code = "failed_to_read_image"
    title = "Empty image"


class TruncatedImageError(InputError):
    code = "failed_to_read_image"
    title = "Truncated image"


class UnsupportedImageError(InputError):
    code = "invalid_file_type"
    title = "Unsupported file type"


class ImageTooLargeError(InputError):
    code = "resolution_too_high"
    title = "Resolution too high"


class AspectRatioError(InputError):
    """Longer side over ``max_aspect_ratio`` × the shorter: no photo, and the model sees a
    320×320 squash of it."""

    code = "aspect_ratio_too_high"
    title = "Aspect ratio too high"


class ImageMetadataError(InputError):
    """Metadata that inflates past Pillow's safety limits (1 MB per text chunk or colour
    profile, 64 MB in all): a zlib bomb riding in an ancillary chunk."""

    code = "metadata_too_large"
    title = "Image metadata too large"


class TooManyScansError(InputError):
    """A progressive JPEG with more scans than any encoder writes; each scan is a pass over
    the whole image, so their number, not the file's size, sets the decoding time."""

    code = "too_many_scans"
    title = "Too many JPEG scans"


class FileTooLargeError(InputError):
    code = "file_too_large"
    title = "File too large"
    http_status = 413


class InvalidOptionError(InputError):
    """An option value is malformed; ``code`` names the option (remove.bg's codes)."""

    title = "Invalid parameter"


class ImageSourceError(InputError):
    """The image is not given the way its field promises (bad base64: ``code`` says so)."""

    title = "Invalid image source"


class MissingSourceError(ImageSourceError):
    code = "missing_source"
    title = "No image given"


class MultipleSourcesError(ImageSourceError):
    code = "multiple_sources"
    title = "More than one image given"


class UnknownParameterError(InputError):
    code = "unknown_parameter"
    title = "Unknown parameter"


class InvalidBodyError(InputError):
    """The body cannot be read as any of the accepted kinds (form, multipart, JSON)."""

    title = "Invalid request body"


class UrlFetchError(InputError):
    """A URL we refuse to fetch, or a download that failed (remove.bg's codes)."""

    title = "Image download failed"


class NoForegroundError(InputError):
    """The matte is empty: nothing to cut out (remove.bg: ``unknown_foreground``)."""

    code = "unknown_foreground"
    title = "No foreground found"


class ValidationError(InputError, ServiceError):
    """A form or API field is invalid; ``field`` names it."""

    code = "validation_failed"
    title = "Invalid value"

    def __init__(
        self,
        template: str,
        *,
        field: str | None = None,
        params: Mapping[str, str | int] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(template, params=params, code=code)
        self.field = field


class AgeRequirementError(ValidationError):
    """Under the minimum age: refused before anything is stored."""

    code = "age_requirement"
    title = "Age requirement not met"


class InvalidTokenError(InputError, ServiceError):
    """An emailed link is unknown, used or expired."""

    code = "invalid_token"
    title = "Invalid or expired link"


# -- refusals the service layer explains ----------------------------------------------------


class AuthenticationError(ServiceError):
    """Wrong email or password, no live session, an unknown API key."""

    code = "unauthenticated"
    title = "Not authenticated"
    http_status = 401
    keep_changes = True


class EmailNotVerifiedError(AuthenticationError):
    code = "email_not_verified"
    title = "Email address not confirmed"
    http_status = 403


class PermissionDeniedError(ServiceError):
    code = "forbidden"
    title = "Forbidden"
    http_status = 403


class CsrfError(PermissionDeniedError):
    code = "csrf_failed"
    title = "Request forgery check failed"


class SecondFactorRequiredError(PermissionDeniedError):
    """A staff page asked for before this session proved the second factor; pages
    redirect to ``location`` (enrolment or the code prompt)."""

    code = "second_factor_required"
    title = "Second factor required"

    def __init__(self, message: str, *, location: str) -> None:
        super().__init__(message)
        self.location = location


@dataclass(frozen=True)
class RateLimit:
    """A caller's rate-limit window, as the ``X-RateLimit-*`` headers report it."""

    limit: int
    remaining: int
    reset: int  # Unix time when the window has room again


class ApiKeyError(ServiceError):
    """``X-Api-Key`` missing, unknown, revoked, or without the scope (remove.bg: 403)."""

    code = "auth_failed"
    title = "Authentication failed"
    http_status = 403
    keep_changes = True  # the counted attempt stays counted

    def __init__(self, message: str, *, rate: RateLimit, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.rate = rate


class InsufficientCreditsError(ServiceError):
    """The credits left cannot pay for the image (remove.bg: 402)."""

    code = "insufficient_credits"
    title = "Insufficient credits"
    http_status = 402


class NotFoundError(ServiceError):
    """No such thing, or not the caller's: both look the same (the one 404 base)."""

    code = "not_found"
    title = "Not found"
    http_status = 404


class ObjectNotFoundError(NotFoundError):
    """No stored object under that key: never stored, deleted, or expired by retention."""

    code = "object_not_found"


class JobNotReadyError(ServiceError):
    code = "job_not_ready"
    title = "Job not finished"
    http_status = 409


class JobNotRetryableError(ServiceError):
    code = "job_not_retryable"
    title = "Job cannot be retried"
    http_status = 409


class IdempotencyKeyError(ServiceError):
    code = "idempotency_key_reused"
    title = "Idempotency key reused"
    http_status = 422


class ExportNotReadyError(ServiceError):
    code = "export_not_ready"
    title = "Export not ready"
    http_status = 409


class RegionMoveRefusedError(ServiceError):
    code = "region_move_refused"
    title = "Region cannot change now"
    http_status = 409


class JobExpiredError(ServiceError):
    code = "job_expired"
    title = "Job expired"
    http_status = 410


class ExportExpiredError(ServiceError):
    code = "export_expired"
    title = "Export expired"
    http_status = 410


class ThrottledError(ServiceError):
    """Too many attempts; ``retry_after_s`` becomes the ``Retry-After`` header."""

    code = "rate_limit_exceeded"
    title = "Too many attempts"
    http_status = 429
    keep_changes = True

    def __init__(
        self,
        template: str,
        *,
        retry_after_s: int,
        params: Mapping[str, str | int] | None = None,
    ) -> None:
        super().__init__(template, params=params)
        self.retry_after_s = retry_after_s


class UrlFetchBusyError(ThrottledError):
    """Every URL-download slot of the process is taken (slow servers must not hold all
    of the web app's threads); the caller retries shortly."""

    title = "Too many downloads"

    def __init__(self, *, retry_after_s: int = 5) -> None:
        super().__init__(
            "Too many image downloads are running; try again in a few seconds.",
            retry_after_s=retry_after_s,
        )


class RateLimitedError(ThrottledError):
    """Over remove.bg's ``rate_limit_per_minute`` (429 with ``Retry-After``)."""

    title = "Rate limit exceeded"

    def __init__(self, *, rate: RateLimit, retry_after_s: int) -> None:
        super().__init__(
            "Too many requests: the limit is %(limit)s per minute.",
            retry_after_s=retry_after_s,
            params={"limit": rate.limit},
        )
        self.rate = rate


class WebhookSignatureError(InputError):
    """A webhook payload whose ``Stripe-Signature`` does not verify (or is too old)."""

    code = "invalid_signature"
    title = "Invalid signature"


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
