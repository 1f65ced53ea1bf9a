"""Input errors (400 and 413): the caller sent something unusable."""

from __future__ import annotations

from collections.abc import Mapping

from clearcutout.errors.base import ClearCutoutError, ServiceError


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


class WebhookSignatureError(InputError):
    """A webhook payload whose ``Stripe-Signature`` does not verify (or is too old)."""

    code = "invalid_signature"
    title = "Invalid signature"
