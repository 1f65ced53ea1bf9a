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

The classes live in submodules, one group each: ``base`` (the two roots and the
rate-limit window), ``inputs`` (what the caller sent wrong), ``refusals`` (what the
service layer explains) and ``faults`` (models, dependencies, the operator's set-up).
Import them from here.
"""

from __future__ import annotations

from clearcutout.errors.base import (
    ClearCutoutError,
    RateLimit,
    ServiceError,
)
from clearcutout.errors.faults import (
    BusyError,
    ConfigurationError,
    DatabaseNotMigratedError,
    DatabaseUnavailableError,
    DecryptionError,
    IllegalTransitionError,
    InferenceError,
    InvalidObjectKeyError,
    InvalidStorageURLError,
    KeyringError,
    MailDeliveryError,
    ModelChecksumError,
    ModelError,
    ModelUnavailableError,
    PaymentProviderError,
    StorageError,
    TlsConfigError,
    UnknownModelError,
)
from clearcutout.errors.inputs import (
    AgeRequirementError,
    AspectRatioError,
    EmptyImageError,
    FileTooLargeError,
    ImageMetadataError,
    ImageSourceError,
    ImageTooLargeError,
    InputError,
    InvalidBodyError,
    InvalidOptionError,
    InvalidTokenError,
    MissingSourceError,
    MultipleSourcesError,
    NoForegroundError,
    TooManyScansError,
    TruncatedImageError,
    UnknownParameterError,
    UnsupportedImageError,
    UrlFetchError,
    ValidationError,
    WebhookSignatureError,
)
from clearcutout.errors.refusals import (
    ApiKeyError,
    AuthenticationError,
    CsrfError,
    EmailNotVerifiedError,
    ExportExpiredError,
    ExportNotReadyError,
    IdempotencyKeyError,
    InsufficientCreditsError,
    JobExpiredError,
    JobNotReadyError,
    JobNotRetryableError,
    NotFoundError,
    ObjectNotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RegionMoveRefusedError,
    SecondFactorRequiredError,
    ThrottledError,
    UrlFetchBusyError,
)

__all__ = [
    "AgeRequirementError",
    "ApiKeyError",
    "AspectRatioError",
    "AuthenticationError",
    "BusyError",
    "ClearCutoutError",
    "ConfigurationError",
    "CsrfError",
    "DatabaseNotMigratedError",
    "DatabaseUnavailableError",
    "DecryptionError",
    "EmailNotVerifiedError",
    "EmptyImageError",
    "ExportExpiredError",
    "ExportNotReadyError",
    "FileTooLargeError",
    "IdempotencyKeyError",
    "IllegalTransitionError",
    "ImageMetadataError",
    "ImageSourceError",
    "ImageTooLargeError",
    "InferenceError",
    "InputError",
    "InsufficientCreditsError",
    "InvalidBodyError",
    "InvalidObjectKeyError",
    "InvalidOptionError",
    "InvalidStorageURLError",
    "InvalidTokenError",
    "JobExpiredError",
    "JobNotReadyError",
    "JobNotRetryableError",
    "KeyringError",
    "MailDeliveryError",
    "MissingSourceError",
    "ModelChecksumError",
    "ModelError",
    "ModelUnavailableError",
    "MultipleSourcesError",
    "NoForegroundError",
    "NotFoundError",
    "ObjectNotFoundError",
    "PaymentProviderError",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitedError",
    "RegionMoveRefusedError",
    "SecondFactorRequiredError",
    "ServiceError",
    "StorageError",
    "ThrottledError",
    "TlsConfigError",
    "TooManyScansError",
    "TruncatedImageError",
    "UnknownModelError",
    "UnknownParameterError",
    "UnsupportedImageError",
    "UrlFetchBusyError",
    "UrlFetchError",
    "ValidationError",
    "WebhookSignatureError",
]
