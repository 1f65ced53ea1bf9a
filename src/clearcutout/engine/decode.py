"""Decode any supported upload into an sRGB ``uint8`` array, or fail with a clear error.

Handles JPEG, PNG, WebP, TIFF, BMP, GIF (first frame), HEIC/HEIF and AVIF; applies the
EXIF orientation; converts CMYK, 16-bit, palette and grey images to RGB; converts from
an embedded ICC profile to sRGB so colours survive; refuses images over the pixel limit
or thinner than the aspect-ratio limit *before* decoding their pixels (decompression
bombs, 1×49,000,000 strips), progressive JPEGs with more scans than any encoder writes,
and zlib bombs in metadata. Every failure of the decoder, whatever Pillow raises, comes
out as one of our input errors (a 4xx), never as a crash. Metadata is never carried
along: what comes out is pixels only.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from dataclasses import dataclass

import numpy as np
import pillow_heif
from numpy.typing import NDArray
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from clearcutout.errors import (
    AspectRatioError,
    EmptyImageError,
    ImageMetadataError,
    ImageTooLargeError,
    InputError,
    TooManyScansError,
    TruncatedImageError,
    UnsupportedImageError,
)

pillow_heif.register_heif_opener()

SUPPORTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "HEIF", "AVIF", "MPO"})
_SRGB = ImageCms.createProfile("sRGB")
#: The default of ``EngineSettings.max_aspect_ratio`` (longest side ÷ shortest side).
MAX_ASPECT_RATIO = 100.0
#: Scans a progressive JPEG may have. Encoders write up to about a dozen (libjpeg's
#: default script has 10, mozjpeg's a few more); each scan is a pass over every block of
#: the image, so a file that repeats one scan 1,000 times took 48 s to decode.
MAX_JPEG_SCANS = 100

#: What Pillow's decoders raise on a damaged or hostile file. Its plugins parse with
#: ``struct``, slicing and dictionaries, so a malformed header can surface as any of
#: these; each becomes an input error (a 4xx), never a crash (a 500).
READ_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    OverflowError,
)


@dataclass(frozen=True)
class DecodedImage:
    """Pixels of an upload: ``rgb`` is H×W×3 ``uint8``; ``alpha`` is H×W or ``None``."""

    rgb: NDArray[np.uint8]
    alpha: NDArray[np.uint8] | None
    source_format: str

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def decode_image(
    data: bytes, *, max_pixels: int, max_aspect_ratio: float = MAX_ASPECT_RATIO
) -> DecodedImage:
    """Decode encoded image bytes (any supported format)."""
    image = open_image(data, max_pixels=max_pixels)
    return decode_pil(image, max_pixels=max_pixels, max_aspect_ratio=max_aspect_ratio)


def probe_image(
    data: bytes, *, max_pixels: int, max_aspect_ratio: float = MAX_ASPECT_RATIO
) -> tuple[int, int]:
    """``(width, height)`` from the header alone, refusing what decoding would refuse.

    Lets a job be turned down before anything is stored, at the cost of a header read.
    """
    with open_image(data, max_pixels=max_pixels) as image:
        _check_supported(image.format)
        check_pixel_limit(
            image.width, image.height, max_pixels=max_pixels, max_aspect_ratio=max_aspect_ratio
        )
        if image.width == 0 or image.height == 0:
            raise EmptyImageError("The image has no pixels.")
        return image.width, image.height


def open_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Open the bytes (reading the header only); every failure is one of the tree's errors."""
    if not data:
        raise EmptyImageError("The file is empty (0 bytes).")
    check_jpeg_scans(data)
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 MP on while opening; our own limit is checked right after.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise UnsupportedImageError(
            "The file is not an image we can read (supported: JPEG, PNG, WebP, TIFF, BMP, "
            "GIF, HEIC/HEIF, AVIF)."
        ) from exc
    except Image.DecompressionBombError as exc:
        raise _bomb_error(exc, max_pixels=max_pixels) from exc
    except READ_ERRORS as exc:
        # A fixed message: the decoder's own words are neither translatable nor useful.
        raise read_error(exc, "The image could not be read: its header is damaged.") from exc


def _bomb_error(exc: Image.DecompressionBombError, *, max_pixels: int) -> ImageTooLargeError:
    """Pillow refuses over 2 × MAX_IMAGE_PIXELS at open time, before our own limit is asked."""
    found = re.search(r"\((\d+) pixels\) exceeds limit of (\d+)", str(exc))
    if found is None:
        return ImageTooLargeError(
            f"The image has too many pixels; the limit is {_megapixels(max_pixels)} megapixels."
        )
    pixels, ceiling = int(found.group(1)), int(found.group(2))
    return ImageTooLargeError(
        f"The image is {pixels / 1e6:.1f} megapixels; the limit is "
        f"{_megapixels(min(max_pixels, ceiling))} megapixels."
    )


def read_error(exc: BaseException, message: str) -> InputError:
    """Our error for one of Pillow's :data:`READ_ERRORS`; ``message`` unless it is a
    metadata bomb, which gets its own code."""
    text = str(exc).lower()
    if "decompressed data too large" in text or "too much memory used in text chunks" in text:
        return ImageMetadataError(
            "The image's metadata (a compressed text chunk or colour profile) unpacks to more "
            "than the limit of 1 MB per chunk and 64 MB in all."
        )
    return TruncatedImageError(message)


def check_jpeg_scans(data: bytes, *, max_scans: int = MAX_JPEG_SCANS) -> None:
    """Refuse a JPEG with more than ``max_scans`` scans, counted from its markers.

    Walks the segments by their lengths (so markers inside EXIF or ICC blocks, or an
    embedded thumbnail, are not counted) and skips entropy-coded data, where 0xFF is
    always followed by 0x00 (stuffing) or a restart marker. Other formats pass.
    """
    if not data.startswith(b"\xff\xd8"):
        return
    scans, position, end = 0, 2, len(data)
    while True:
        position = data.find(b"\xff", position)
        if position < 0 or position + 1 >= end:
            return
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker in (0x00, 0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length of its own
            position += 2
            continue
        if marker == 0xD9:  # EOI: what follows (an MPO's second picture) is not decoded
            return
        if position + 4 > end:
            return
        if marker == 0xDA:
            scans += 1
            if scans > max_scans:
                raise TooManyScansError(
                    f"The JPEG has more than {max_scans} progressive scans; encoders write "
                    "about ten."
                )
        (length,) = struct.unpack_from(">H", data, position + 2)
        position += 2 + max(length, 2)


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.3g}"


def _one_line(exc: BaseException) -> str:
    """A third-party message (libheif's ends in a newline) squeezed onto one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def decode_pil(
    image: Image.Image, *, max_pixels: int, max_aspect_ratio: float = MAX_ASPECT_RATIO
) -> DecodedImage:
    """Normalise an opened (possibly not yet loaded) PIL image."""
    source_format = image.format or "RAW"
    _check_supported(image.format)
    check_pixel_limit(
        image.width, image.height, max_pixels=max_pixels, max_aspect_ratio=max_aspect_ratio
    )
    try:
        with warnings.catch_warnings():
            # We enforce our own (configurable) limit above; Pillow's would only get in the way.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)
            image.load()
            image = ImageOps.exif_transpose(image) or image
    except Image.DecompressionBombError as exc:
        raise _bomb_error(exc, max_pixels=max_pixels) from exc
    except READ_ERRORS as exc:
        message = _one_line(exc)
        if "truncated" in message or "broken" in message or "premature" in message.lower():
            raise TruncatedImageError(
                "The image is truncated: the file ends before its pixels do."
            ) from exc
        raise read_error(exc, f"The image could not be decoded: {message}") from exc
    if image.width == 0 or image.height == 0:
        raise EmptyImageError("The image has no pixels.")

    image = _to_srgb(image)
    alpha = _alpha_of(image)
    rgb = _rgb_of(image)
    return DecodedImage(rgb=rgb, alpha=alpha, source_format=source_format)


def _check_supported(image_format: str | None) -> None:
    """``None`` is a PIL image made in memory (the library's input), not a file format."""
    if image_format is not None and image_format not in SUPPORTED_FORMATS:
        raise UnsupportedImageError(
            f"{image_format} images are not supported (supported: JPEG, PNG, WebP, TIFF, "
            "BMP, GIF, HEIC/HEIF, AVIF)."
        )


def check_pixel_limit(
    width: int, height: int, *, max_pixels: int, max_aspect_ratio: float = MAX_ASPECT_RATIO
) -> None:
    """Refuse, from the declared size alone, what would cost more than its file says.

    The aspect-ratio limit bounds what a thin strip costs beyond its pixels: the model
    sees any image squashed to 320×320 (a 1×1,000,000 strip becomes noise), and each
    step has a cost per row or column as well as per pixel.
    """
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"The image is {width}×{height} = {width * height / 1e6:.1f} megapixels; the limit "
            f"is {_megapixels(max_pixels)} megapixels."
        )
    if max(width, height) > max_aspect_ratio * max(1, min(width, height)):
        raise AspectRatioError(
            f"The image is {width}×{height}; its longer side may be at most "
            f"{max_aspect_ratio:g} times its shorter side."
        )


def _to_srgb(image: Image.Image) -> Image.Image:
    """Apply an embedded ICC profile so colours stay what the photographer saw."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK", "L", "LA"):
        return image
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(profile) or ""
        if image.mode in ("RGB", "RGBA") and "srgb" in description.lower():
            return image
        alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
        base = image.convert("RGB") if image.mode in ("RGBA", "LA", "L") else image
        if base.mode == "RGB" and image.mode in ("L", "LA"):
            return image  # a grey profile on grey pixels: nothing to gain
        converted = ImageCms.profileToProfile(base, profile, _SRGB, outputMode="RGB")
        if converted is None:
            return image
        if alpha is not None:
            converted.putalpha(alpha)
        return converted
    except (ImageCms.PyCMSError, OSError, ValueError):
        # A broken profile should not cost the user their cutout: fall back to the pixels.
        return image


def _has_alpha(image: Image.Image) -> bool:
    # A PNG tRNS chunk makes one palette entry, grey level or RGB colour transparent.
    return image.mode in ("RGBA", "LA", "PA") or (
        image.mode in ("P", "L", "RGB") and "transparency" in image.info
    )


def _alpha_of(image: Image.Image) -> NDArray[np.uint8] | None:
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.uint8)
        if alpha.min() == 255:
            return None
        return alpha
    return None


def _rgb_of(image: Image.Image) -> NDArray[np.uint8]:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit and 32-bit grey: scale to 8 bits instead of clipping at 255.
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or values.max() > 255 else 255.0
        if mode == "F":
            top = max(float(values.max()), 1.0) if values.max() > 1.0 else 1.0
        grey = np.clip(values * (255.0 / top), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if _has_alpha(image):
        # Fully transparent pixels carry arbitrary colour; show the model white there.
        rgba = np.asarray(image.convert("RGBA"), dtype=np.uint8)
        alpha = rgba[:, :, 3:4].astype(np.uint16)
        rgb = rgba[:, :, :3].astype(np.uint16)
        blended = (rgb * alpha + 255 * (255 - alpha) + 127) // 255
        return np.ascontiguousarray(blended.astype(np.uint8))
    if mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
