"""The one error tree of ClearCutout.

Every error the project raises on purpose derives from :class:`ClearCutoutError`. Each
carries a human-readable ``message`` (one line, safe to show a user), a stable ``code``
(machine-readable, reused by the remove.bg-compatible API where remove.bg has one) and
the ``http_status`` the web layer answers with. Third-party errors (Pillow, ONNX Runtime,
boto3, …) are translated at the boundary with ``raise … from exc``; the CLI prints
``message`` on one line, the API renders ``{"errors": [{"code", "title", "detail"}]}``.

    ClearCutoutError
    ├── InputError (400)                 the caller sent something we cannot use
    │   ├── EmptyImageError              zero bytes
    │   ├── UnsupportedImageError        not an image we can decode
    │   ├── TruncatedImageError          an image cut short
    │   ├── ImageTooLargeError           over the pixel limit (decompression bombs too)
    │   ├── FileTooLargeError            over the byte limit
    │   └── InvalidOptionError           an option value out of range or malformed
    ├── ModelError (503)                 a model cannot be used
    │   ├── UnknownModelError (400)      no such model in the registry
    │   ├── ModelUnavailableError        not cached and cannot be fetched (offline)
    │   └── ModelChecksumError           a fetched file does not match its checksum
    ├── InferenceError (500)             ONNX Runtime failed on a valid input
    ├── ObjectNotFoundError (404)        no stored object under that key
    └── StorageError (503)               the object store failed (disk, S3, network)
"""

from __future__ import annotations


class ClearCutoutError(Exception):
    """Root of every error raised on purpose by ClearCutout."""

    code: str = "error"
    title: str = "Error"
    http_status: int = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InputError(ClearCutoutError):
    code = "invalid_input"
    title = "Invalid input"
    http_status = 400


class EmptyImageError(InputError):
    code = "failed_to_read_image"
    title = "Empty image"


class UnsupportedImageError(InputError):
    code = "invalid_file_type"
    title = "Unsupported file type"


class TruncatedImageError(InputError):
    code = "failed_to_read_image"
    title = "Truncated image"


class ImageTooLargeError(InputError):
    code = "resolution_too_high"
    title = "Resolution too high"


class FileTooLargeError(InputError):
    code = "file_too_large"
    title = "File too large"
    http_status = 413


class InvalidOptionError(InputError):
    """An option value is malformed; ``code`` names the option (remove.bg's codes)."""

    title = "Invalid parameter"


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
    http_status = 500


class ObjectNotFoundError(ClearCutoutError):
    """No object under that key: never stored, deleted, or expired by retention."""

    code = "object_not_found"
    title = "Not found"
    http_status = 404


class StorageError(ClearCutoutError):
    """The object store could not do its work (disk full, S3 unreachable or refusing)."""

    code = "storage_unavailable"
    title = "Storage unavailable"
    http_status = 503


class RequestBodyError(InputError):
    """A request body that is none of the kinds an API reads (multipart, JSON, form) or
    cannot be parsed as the kind it says it is."""

    title = "Invalid request body"
