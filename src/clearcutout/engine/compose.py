"""Composition and encoding of a cutout, with remove.bg's option semantics.

The pipeline hands over the foreground colours and the matte at the working resolution;
this module turns them into the image a user asked for (crop, scale, position, shadow,
background colour or photo, matte only) and encodes it (PNG, WebP, JPEG, remove.bg's
ZIP). It also owns the parsers that give the plain option strings of
:class:`~clearcutout.engine.options.CutoutOptions` their meaning, so an option is
validated and interpreted by one piece of code.

Pure image work: NumPy, OpenCV and Pillow; no I/O, no configuration. Images stay
``uint8`` except for the per-pixel weights of alpha blending, and nothing is encoded
with metadata (EXIF, GPS, ICC, XMP): what leaves here is pixels only.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageColor

from clearcutout.engine.options import PREVIEW_PIXELS, CutoutOptions
from clearcutout.errors import InvalidOptionError

__all__ = [
    "Box",
    "Composition",
    "EncodedImage",
    "Length",
    "Margins",
    "compose",
    "encode",
    "parse_bg_color",
    "parse_crop_margin",
    "parse_position",
    "parse_roi",
    "parse_scale",
    "subject_box",
    "target_dimensions",
    "validate_options",
]

RGBA = tuple[int, int, int, int]
Position = Literal["original"] | tuple[float, float]
UInt8Array = NDArray[np.uint8]

#: Matte values at or below this (about 4 % opacity) are noise, not subject: they do
#: not count for the crop or the reported foreground box.
SUBJECT_ALPHA_THRESHOLD: Final = 10
#: remove.bg's limits on ``crop_margin``: 50 % of the subject for a percentage, 500 px
#: for an absolute value; larger values are clamped, not refused.
MAX_MARGIN_PERCENT: Final = 50.0
MAX_MARGIN_PX: Final = 500
#: ``shadow_opacity`` when none is given (remove.bg's "auto").
DEFAULT_SHADOW_OPACITY: Final = 50

_SIZE_PIXELS: Final[dict[str, int | None]] = {
    "preview": PREVIEW_PIXELS,
    "small": PREVIEW_PIXELS,
    "regular": PREVIEW_PIXELS,
    "medium": 1_500_000,
    "hd": 4_000_000,
    "full": None,
    "4k": None,
    "auto": None,
    "50MP": None,
}
_FORMATS: Final = ("auto", "png", "webp", "jpg", "zip")
_CHANNELS: Final = ("rgba", "alpha")
_SHADOW_TYPES: Final = ("none", "drop", "3D", "car", "auto")
_NUMBER = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(px|%)?")
_HEX = re.compile(r"#?([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_WHITE: Final = (255, 255, 255)
_JPEG_QUALITY: Final = 90
_WEBP_QUALITY: Final = 90


def _shown(value: object) -> str:
    """An option value quoted for an error message, cut short so a message stays a line."""
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


# -- typed results ------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    """An axis-aligned pixel rectangle; also remove.bg's ``X-Foreground-*`` box."""

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def is_empty(self) -> bool:
        return self.width <= 0 or self.height <= 0


_EMPTY_BOX: Final = Box(0, 0, 0, 0)


@dataclass(frozen=True)
class Length:
    """A length as a user wrote it: pixels, or a percentage of some reference size."""

    value: float
    percent: bool

    def resolve(self, reference: float) -> float:
        return self.value * reference / 100.0 if self.percent else self.value


@dataclass(frozen=True)
class Margins:
    """Crop margins in pixels, in CSS order."""

    top: int
    right: int
    bottom: int
    left: int


@dataclass(frozen=True)
class Composition:
    """The composed image (RGBA, RGB when a background fills it, L for the matte only).

    ``foreground`` is the subject's box in ``image``; ``has_transparency`` says whether any
    pixel is not fully opaque (``format=auto`` picks PNG for those, JPEG otherwise).
    """

    image: Image.Image
    foreground: Box
    has_transparency: bool


@dataclass(frozen=True)
class EncodedImage:
    """Encoded bytes with their media type and file extension."""

    data: bytes
    media_type: str
    extension: str


# -- parsers ------------------------------------------------------------------------------


def _parse_length(token: str) -> Length | None:
    match = _NUMBER.fullmatch(token)
    if match is None:
        return None
    return Length(float(match.group(1)), match.group(2) == "%")


def _require_str(value: object, name: str, code: str) -> str:
    if not isinstance(value, str):
        raise InvalidOptionError(f"{name} must be a string, not {type(value).__name__}.", code=code)
    return value


def parse_bg_color(text: str | None) -> RGBA | None:
    """``bg_color`` as RGBA: hex (``81d4fa``, ``fff``, 4/8 digits with alpha) or a CSS name.

    ``None`` or an empty string means no colour (a transparent background).
    """
    if text is None:
        return None
    text = _require_str(text, "bg_color", "invalid_bg_color").strip()
    if not text:
        return None
    hex_match = _HEX.fullmatch(text)
    if hex_match is not None:
        digits = hex_match.group(1)
        if len(digits) <= 4:
            digits = "".join(digit * 2 for digit in digits)
        if len(digits) == 6:
            digits += "ff"
        red, green, blue, alpha = (int(digits[i : i + 2], 16) for i in range(0, 8, 2))
        return red, green, blue, alpha
    name = text.lower()
    if name in ImageColor.colormap:
        red, green, blue = ImageColor.getrgb(name)[:3]
        return red, green, blue, 255
    raise InvalidOptionError(
        f"bg_color {_shown(text)} is not a colour; use hex such as 81d4fa, fff or "
        "81d4fa80 (with alpha), or a CSS colour name such as 'white'.",
        code="invalid_bg_color",
    )


def _parse_roi_lengths(text: str) -> tuple[Length, Length, Length, Length]:
    """The four ROI coordinates, checked as far as possible without the image size."""
    text = _require_str(text, "roi", "invalid_roi")
    tokens = text.split()
    lengths = [_parse_length(token) for token in tokens]
    if len(tokens) != 4 or any(length is None for length in lengths):
        raise InvalidOptionError(
            f"roi {_shown(text)} is not a region; give four non-negative coordinates "
            "'x1 y1 x2 y2' in px or %, such as '0% 0% 100% 100%'.",
            code="invalid_roi",
        )
    x1, y1, x2, y2 = (length for length in lengths if length is not None)
    if any(length.percent and length.value > 100.0 for length in (x1, y1, x2, y2)):
        raise InvalidOptionError(
            f"roi {_shown(text)} reaches outside the image; percentages go up to 100%.",
            code="roi_exceeds_bounds",
        )
    for start, end in ((x1, x2), (y1, y2)):
        if start.percent == end.percent and end.value <= start.value:
            raise InvalidOptionError(
                f"roi {_shown(text)} is empty; x2 must be right of x1 and y2 below y1.",
                code="roi_region_empty",
            )
    return x1, y1, x2, y2


def parse_roi(text: str, width: int, height: int) -> Box:
    """``roi`` (``"x1 y1 x2 y2"``, each px or %) as a box inside a ``width``×``height`` image.

    Coordinates are edges, so ``100%`` is the image's right or bottom edge. A pixel
    coordinate past the image raises ``roi_exceeds_bounds``; a region with no area once
    rounded to pixels raises ``roi_region_empty``.
    """
    x1, y1, x2, y2 = _parse_roi_lengths(text)
    left, right = round(x1.resolve(width)), round(x2.resolve(width))
    top, bottom = round(y1.resolve(height)), round(y2.resolve(height))
    if right > width or bottom > height:
        raise InvalidOptionError(
            f"roi {_shown(text)} reaches outside the {width}×{height} image.",
            code="roi_exceeds_bounds",
        )
    if right <= left or bottom <= top:
        raise InvalidOptionError(
            f"roi {_shown(text)} covers no pixel of the {width}×{height} image.",
            code="roi_region_empty",
        )
    return Box(left, top, right - left, bottom - top)


def _parse_margin_lengths(text: str) -> tuple[Length, Length, Length, Length]:
    """``crop_margin`` as four lengths (top, right, bottom, left), before clamping."""
    text = _require_str(text, "crop_margin", "invalid_crop_margin")
    tokens = text.split()
    lengths = [_parse_length(token) for token in tokens]
    if len(tokens) not in (1, 2, 4) or any(length is None for length in lengths):
        raise InvalidOptionError(
            f"crop_margin {_shown(text)} is not a margin; give 1, 2 or 4 non-negative "
            "values in px or % (CSS order), such as '30px' or '10% 5%'.",
            code="invalid_crop_margin",
        )
    values = [length for length in lengths if length is not None]
    if len(values) == 1:
        values *= 4
    elif len(values) == 2:
        values *= 2
    top, right, bottom, left = values
    return top, right, bottom, left


def _clamped_margin(length: Length, subject_size: int) -> int:
    if length.percent:
        return round(min(length.value, MAX_MARGIN_PERCENT) * subject_size / 100.0)
    return round(min(length.value, float(MAX_MARGIN_PX)))


def parse_crop_margin(text: str, subject_width: int, subject_height: int) -> Margins:
    """``crop_margin`` in pixels around a subject of the given size.

    One value applies to every side, two are vertical then horizontal, four are top,
    right, bottom, left (CSS). A percentage is of the subject's height for top and bottom
    and of its width for left and right. Each side is clamped to remove.bg's limits: 50 %
    of the subject for a percentage, 500 px for a pixel value.
    """
    top, right, bottom, left = _parse_margin_lengths(text)
    return Margins(
        top=_clamped_margin(top, subject_height),
        right=_clamped_margin(right, subject_width),
        bottom=_clamped_margin(bottom, subject_height),
        left=_clamped_margin(left, subject_width),
    )


def parse_scale(text: str) -> float | None:
    """``scale`` as a fraction of the canvas (``"10%"``–``"100%"``); ``original`` is None."""
    text = _require_str(text, "scale", "invalid_scale")
    if text.strip().lower() == "original":
        return None
    length = _parse_length(text.strip())
    if length is None or not length.percent or not 10.0 <= length.value <= 100.0:
        raise InvalidOptionError(
            f"scale {_shown(text)} is not accepted; use a percentage from '10%' to "
            "'100%', or 'original'.",
            code="invalid_scale",
        )
    return length.value / 100.0


def parse_position(text: str) -> Position:
    """``position`` as ``"original"`` or fractions ``(x, y)`` of the free space.

    ``0%`` puts the subject against the left (top) edge, ``100%`` against the right
    (bottom) edge; ``center`` is ``50% 50%``; one percentage applies to both axes.
    """
    text = _require_str(text, "position", "invalid_position")
    keyword = text.strip().lower()
    if keyword == "original":
        return "original"
    if keyword == "center":
        return 0.5, 0.5
    lengths = [_parse_length(token) for token in keyword.split()]
    fractions = [
        length.value / 100.0
        for length in lengths
        if length is not None and length.percent and length.value <= 100.0
    ]
    if len(lengths) not in (1, 2) or len(fractions) != len(lengths):
        raise InvalidOptionError(
            f"position {_shown(text)} is not accepted; use 'original', 'center', or one "
            "or two percentages from '0%' to '100%' (horizontal, vertical).",
            code="invalid_position",
        )
    if len(fractions) == 1:
        return fractions[0], fractions[0]
    return fractions[0], fractions[1]


def target_dimensions(width: int, height: int, size: str) -> tuple[int, int]:
    """Output dimensions for remove.bg's ``size``: a pixel budget, aspect kept, never upscaled.

    ``preview``/``small``/``regular`` ≈ 0.25 MP, ``medium`` 1.5 MP, ``hd`` 4 MP;
    ``full``, ``4k``, ``auto`` and ``50MP`` keep the original size.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image dimensions must be positive, not {width}×{height}")
    if not isinstance(size, str) or size not in _SIZE_PIXELS:
        raise InvalidOptionError(
            f"size {_shown(size)} is not accepted; use one of " + ", ".join(_SIZE_PIXELS) + ".",
            code="invalid_size",
        )
    budget = _SIZE_PIXELS[size]
    if budget is None or width * height <= budget:
        return width, height
    factor = math.sqrt(budget / (width * height))
    # The small epsilon keeps exact fits (1250×800 → 625×400) from flooring one pixel short.
    return max(1, int(width * factor + 1e-6)), max(1, int(height * factor + 1e-6))


def _check_choice(value: object, name: str, choices: tuple[str, ...], code: str) -> None:
    if value not in choices:
        raise InvalidOptionError(
            f"{name} {_shown(value)} is not accepted; use one of " + ", ".join(choices) + ".",
            code=code,
        )


def _check_bool(value: object, name: str, code: str) -> None:
    if not isinstance(value, bool):
        raise InvalidOptionError(f"{name} must be true or false, not {_shown(value)}.", code=code)


def validate_options(options: CutoutOptions) -> None:
    """Parse every option once so a bad value fails when the options are built, not later."""
    _check_bool(options.refine, "refine", "invalid_refine")
    _check_bool(
        options.foreground_estimation, "foreground_estimation", "invalid_foreground_estimation"
    )
    _check_bool(options.semitransparency, "semitransparency", "invalid_semitransparency")
    _check_bool(options.crop, "crop", "invalid_crop")
    _parse_roi_lengths(options.roi)
    target_dimensions(1, 1, options.size)
    _parse_margin_lengths(options.crop_margin)
    parse_scale(options.scale)
    parse_position(options.position)
    parse_bg_color(options.bg_color)
    _check_choice(options.shadow_type, "shadow_type", _SHADOW_TYPES, "invalid_shadow_type")
    opacity = options.shadow_opacity
    if opacity is not None and (
        isinstance(opacity, bool) or not isinstance(opacity, int) or not 0 <= opacity <= 100
    ):
        raise InvalidOptionError(
            f"shadow_opacity {_shown(opacity)} is not accepted; use a whole number from 0 "
            "to 100, or leave it out for the default.",
            code="invalid_shadow_opacity",
        )
    _check_choice(options.channels, "channels", _CHANNELS, "invalid_channels")
    _check_choice(options.format, "format", _FORMATS, "invalid_format")
    if options.format == "zip" and options.channels == "alpha":
        raise InvalidOptionError(
            "format 'zip' holds a colour image and its matte, so it needs channels 'rgba'; "
            "for the matte alone use format 'png'.",
            code="invalid_format",
        )


# -- composition --------------------------------------------------------------------------


def _u8(array: NDArray[Any]) -> UInt8Array:
    """OpenCV's stubs type every result loosely; these calls return uint8 for uint8 input."""
    return cast("UInt8Array", array)


def subject_box(alpha: UInt8Array) -> Box:
    """Bounding box of the matte's pixels above the noise threshold; empty if none."""
    _, mask = cv2.threshold(alpha, SUBJECT_ALPHA_THRESHOLD, 255, cv2.THRESH_BINARY)
    left, top, width, height = cv2.boundingRect(mask)
    if width == 0 or height == 0:
        return _EMPTY_BOX
    return Box(int(left), int(top), int(width), int(height))


def _check_arrays(rgb: UInt8Array, alpha: UInt8Array, background: UInt8Array | None) -> None:
    """Programming errors (wrong shapes or dtypes) fail loudly, before any work."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be H×W×3 uint8, not {rgb.shape} {rgb.dtype}")
    if alpha.dtype != np.uint8 or alpha.shape != rgb.shape[:2]:
        raise ValueError(f"alpha must be H×W uint8 matching rgb, not {alpha.shape} {alpha.dtype}")
    if background is not None and (
        background.dtype != np.uint8
        or background.ndim != 3
        or background.shape[2] != 3
        or background.shape[0] == 0
        or background.shape[1] == 0
    ):
        raise ValueError(
            f"background must be H×W×3 uint8, not {background.shape} {background.dtype}"
        )


def _crop(
    rgb: UInt8Array, alpha: UInt8Array, box: Box, margin_text: str
) -> tuple[UInt8Array, UInt8Array, Box]:
    """Cut to the subject plus margins; margins past the image edge are transparent."""
    if box.is_empty:
        # Nothing was found: a 1×1 transparent pixel is a valid image of "nothing".
        return np.zeros((1, 1, 3), np.uint8), np.zeros((1, 1), np.uint8), _EMPTY_BOX
    margins = parse_crop_margin(margin_text, box.width, box.height)
    height, width = alpha.shape
    want_left, want_top = box.left - margins.left, box.top - margins.top
    want_right, want_bottom = box.right + margins.right, box.bottom + margins.bottom
    left, top = max(0, want_left), max(0, want_top)
    right, bottom = min(width, want_right), min(height, want_bottom)
    pads = (top - want_top, want_bottom - bottom, left - want_left, want_right - right)
    rgb, alpha = rgb[top:bottom, left:right], alpha[top:bottom, left:right]
    if any(pads):
        rgb = _u8(cv2.copyMakeBorder(rgb, *pads, cv2.BORDER_CONSTANT, value=(0, 0, 0)))
        alpha = _u8(cv2.copyMakeBorder(alpha, *pads, cv2.BORDER_CONSTANT, value=0))
    return rgb, alpha, Box(margins.left, margins.top, box.width, box.height)


def _resize(image: UInt8Array, width: int, height: int) -> UInt8Array:
    shrinking = width * height < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return _u8(cv2.resize(image, (width, height), interpolation=interpolation))


def _place(
    rgb: UInt8Array, alpha: UInt8Array, box: Box, scale: float | None, position: Position
) -> tuple[UInt8Array, UInt8Array, Box]:
    """Scale the subject to ``scale`` of the canvas and move it to ``position``.

    The canvas keeps its size. Colours are resized as straight (not premultiplied) alpha:
    they are the decontaminated foreground colours, so no background bleeds in.
    """
    height, width = alpha.shape
    if box.is_empty:
        return np.zeros_like(rgb), np.zeros_like(alpha), _EMPTY_BOX
    subject_rgb = rgb[box.top : box.bottom, box.left : box.right]
    subject_alpha = alpha[box.top : box.bottom, box.left : box.right]
    new_width, new_height = box.width, box.height
    if scale is not None:
        factor = min(scale * width / box.width, scale * height / box.height)
        new_width = min(width, max(1, round(box.width * factor)))
        new_height = min(height, max(1, round(box.height * factor)))
        subject_rgb = _resize(subject_rgb, new_width, new_height)
        subject_alpha = _resize(subject_alpha, new_width, new_height)
    # remove.bg: setting scale implies position=center ("original" is only the default).
    fraction_x, fraction_y = (0.5, 0.5) if position == "original" else position
    left = round(fraction_x * (width - new_width))
    top = round(fraction_y * (height - new_height))
    out_rgb = np.zeros_like(rgb)
    out_alpha = np.zeros_like(alpha)
    out_rgb[top : top + new_height, left : left + new_width] = subject_rgb
    out_alpha[top : top + new_height, left : left + new_width] = subject_alpha
    return out_rgb, out_alpha, Box(left, top, new_width, new_height)


def _soft_blur(mask: UInt8Array, sigma: float) -> UInt8Array:
    """Gaussian blur of a large sigma, cheaply: blur a downscaled copy, then scale back.

    A shadow has no fine detail, so the downscale loses nothing visible and keeps the
    cost independent of the sigma on 12-megapixel images.
    """
    height, width = mask.shape
    factor = max(1.0, sigma / 3.0)
    if factor <= 1.0:
        return _u8(cv2.GaussianBlur(mask, (0, 0), sigma))
    small_size = (max(1, round(width / factor)), max(1, round(height / factor)))
    small = cv2.resize(mask, small_size, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor)
    return _u8(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR))


def _drop_shadow(alpha: UInt8Array, box: Box, opacity: int) -> UInt8Array:
    """A soft shadow: the matte offset down and a little right, blurred, at ``opacity`` %.

    Offset and softness are fractions of the subject's size, so the look is the same at
    any resolution (a preview and a full-size result match).
    """
    height, width = alpha.shape
    size = max(box.width, box.height)
    offset_x = max(1, round(0.02 * size))
    offset_y = max(1, round(0.04 * size))
    sigma = max(1.0, 0.03 * size)
    shifted = np.zeros_like(alpha)
    if offset_x < width and offset_y < height:
        shifted[offset_y:, offset_x:] = alpha[: height - offset_y, : width - offset_x]
    blurred = _soft_blur(shifted, sigma)
    return _u8(cv2.convertScaleAbs(blurred, alpha=opacity / 100.0))


def _over(
    top_rgb: UInt8Array,
    top_alpha: UInt8Array,
    under_rgb: UInt8Array,
    under_alpha: UInt8Array | None,
) -> None:
    """Porter–Duff "over" of straight-alpha uint8 layers, written into the under layer.

    ``under_alpha=None`` means opaque. ``cv2.blendLinear`` computes (w₁·a + w₂·b) /
    (w₁ + w₂), which is exactly the straight colour of "over" with w₁ = α_top and
    w₂ = α_under·(1 − α_top). Only the box where the top layer has any opacity is
    blended: elsewhere the under layer already is the result.
    """
    left, top, width, height = cv2.boundingRect(top_alpha)
    if width == 0 or height == 0:
        return
    rows, cols = slice(top, top + height), slice(left, left + width)
    top_weight = top_alpha[rows, cols].astype(np.float32)
    under_weight = 255.0 - top_weight
    if under_alpha is not None:
        under_weight *= under_alpha[rows, cols].astype(np.float32) * (1.0 / 255.0)
    under_rgb[rows, cols] = cv2.blendLinear(
        top_rgb[rows, cols], under_rgb[rows, cols], top_weight, under_weight
    )
    if under_alpha is not None:
        under_alpha[rows, cols] = cv2.convertScaleAbs(top_weight + under_weight)


def _solid(height: int, width: int, colour: tuple[int, ...]) -> UInt8Array:
    """A new H×W×3 image of one colour (one row repeated: far faster than broadcasting)."""
    row = np.tile(np.array(colour, dtype=np.uint8), (width, 1))
    return np.broadcast_to(row, (height, width, 3)).copy()


def _cover(background: UInt8Array, width: int, height: int) -> UInt8Array:
    """A new array: the background scaled to fill ``width``×``height``, aspect kept, centred."""
    source_height, source_width = background.shape[:2]
    factor = max(width / source_width, height / source_height)
    crop_width = min(source_width, max(1, round(width / factor)))
    crop_height = min(source_height, max(1, round(height / factor)))
    left = (source_width - crop_width) // 2
    top = (source_height - crop_height) // 2
    region = background[top : top + crop_height, left : left + crop_width]
    return _resize(region, width, height)


def compose(
    rgb: UInt8Array,
    alpha: UInt8Array,
    options: CutoutOptions,
    *,
    background: UInt8Array | None = None,
) -> Composition:
    """Build the output image from foreground colours and matte, as ``options`` say.

    Order, as remove.bg: crop (with ``crop_margin``) → scale and position → shadow →
    ``bg_color`` or ``background`` photo. ``channels="alpha"`` returns the matte after the
    geometric steps (mode L). An empty matte gives an empty foreground box; with
    ``crop`` the image is then a single transparent pixel.
    """
    _check_arrays(rgb, alpha, background)
    bg_color = parse_bg_color(options.bg_color)
    if background is not None and bg_color is not None:
        raise InvalidOptionError(
            "Give either bg_color or a background image, not both.",
            code="multiple_bg_sources",
        )
    box = subject_box(alpha)
    if options.crop:
        rgb, alpha, box = _crop(rgb, alpha, box, options.crop_margin)
    scale = parse_scale(options.scale)
    position = parse_position(options.position)
    if scale is not None or position != "original":
        rgb, alpha, box = _place(rgb, alpha, box, scale, position)

    if options.channels == "alpha":
        return Composition(Image.fromarray(np.ascontiguousarray(alpha)), box, False)

    if options.shadow_type != "none" and not box.is_empty:
        opacity = options.shadow_opacity
        shadow = _drop_shadow(alpha, box, DEFAULT_SHADOW_OPACITY if opacity is None else opacity)
        shadow_rgb = np.zeros_like(rgb)  # a black shadow
        _over(rgb, alpha, shadow_rgb, shadow)
        rgb, alpha = shadow_rgb, shadow

    height, width = alpha.shape
    if background is not None:
        backdrop = _cover(background, width, height)  # a new array, safe to paint on
        _over(rgb, alpha, backdrop, None)
        return Composition(Image.fromarray(backdrop), box, False)
    if bg_color is not None:
        colour_rgb = _solid(height, width, bg_color[:3])
        if bg_color[3] == 255:
            _over(rgb, alpha, colour_rgb, None)
            return Composition(Image.fromarray(colour_rgb), box, False)
        colour_alpha = np.full_like(alpha, bg_color[3])
        _over(rgb, alpha, colour_rgb, colour_alpha)
        rgb, alpha = colour_rgb, colour_alpha
    rgba = cv2.merge((rgb, alpha))
    return Composition(Image.fromarray(rgba), box, int(alpha.min()) < 255)


# -- encoding -----------------------------------------------------------------------------


def _flatten(image: Image.Image) -> Image.Image:
    """An opaque copy for formats without alpha: RGBA goes onto white, L and RGB stay."""
    if image.mode != "RGBA":
        return image
    flat = Image.new("RGB", image.size, _WHITE)
    flat.paste(image, mask=image.getchannel("A"))
    return flat


def _bare(image: Image.Image) -> Image.Image:
    """The image without ``info`` or ``encoderinfo``: Pillow's PNG writer, for one, falls
    back to ``info["icc_profile"]``, and ``encoderinfo`` set on an image overrides save
    parameters, so either could carry metadata from a decoded upload into the output."""
    if not image.info and not getattr(image, "encoderinfo", None):
        return image
    bare = image.copy()  # copies pixels and info, never encoderinfo
    bare.info = {}
    return bare


def _save(image: Image.Image, image_format: str, **params: int) -> bytes:
    """Encode the bare pixels with explicit parameters only, so no metadata rides along."""
    buffer = io.BytesIO()
    _bare(image).save(buffer, format=image_format, **params)
    return buffer.getvalue()


def _png(image: Image.Image) -> bytes:
    # Level 1: a fraction of the time of the default level for a few percent more bytes.
    return _save(image, "PNG", compress_level=1)


def _jpeg(image: Image.Image) -> bytes:
    return _save(_flatten(image), "JPEG", quality=_JPEG_QUALITY)


def _zip(image: Image.Image) -> bytes:
    """remove.bg's ZIP: ``color.jpg`` (straight colours) and ``alpha.png`` (the matte)."""
    if image.mode == "L":
        raise InvalidOptionError(
            "format 'zip' needs channels 'rgba'; for the matte alone use format 'png'.",
            code="invalid_format",
        )
    if image.mode == "RGBA":
        colour, matte = image.convert("RGB"), image.getchannel("A")
    else:
        colour, matte = image, Image.new("L", image.size, 255)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in (("color.jpg", _jpeg(colour)), ("alpha.png", _png(matte))):
            # A fixed timestamp: the archive says nothing about when it was made.
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_STORED  # already compressed
            archive.writestr(entry, data)
    return buffer.getvalue()


def encode(composition: Composition, options: CutoutOptions) -> EncodedImage:
    """Encode as ``options.format``, never with metadata (EXIF, GPS, ICC, XMP).

    ``auto`` is PNG when the result has transparency (and for a matte, which JPEG's
    artefacts would damage), JPEG otherwise.
    """
    image = composition.image
    image_format = options.format
    if image_format == "auto":
        lossless = composition.has_transparency or image.mode == "L"
        image_format = "png" if lossless else "jpg"
    if image_format == "png":
        return EncodedImage(_png(image), "image/png", "png")
    if image_format == "jpg":
        return EncodedImage(_jpeg(image), "image/jpeg", "jpg")
    if image_format == "webp":
        # method 0 is libwebp's fastest; alpha stays lossless (alpha_quality defaults to 100).
        data = _save(image, "WEBP", quality=_WEBP_QUALITY, method=0)
        return EncodedImage(data, "image/webp", "webp")
    if image_format == "zip":
        return EncodedImage(_zip(image), "application/zip", "zip")
    raise InvalidOptionError(
        f"format {_shown(image_format)} is not accepted; use one of " + ", ".join(_FORMATS) + ".",
        code="invalid_format",
    )
