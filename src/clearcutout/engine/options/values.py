"""What each option's text means: the grammar of ``roi``, ``crop_margin``, ``scale``,
``position``, ``bg_color`` and ``size``, shared by validation and composition.

Each parser raises :class:`~clearcutout.errors.InvalidOptionError` with remove.bg's code
for the option (``invalid_roi``, ``roi_exceeds_bounds``, …).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final, Literal

from PIL import ImageColor

from clearcutout.engine.geometry import Box
from clearcutout.errors import InvalidOptionError

RGBA = tuple[int, int, int, int]
Position = Literal["original"] | tuple[float, float]

DEFAULT_ROI: Final = "0% 0% 100% 100%"
#: remove.bg's "preview" is about 0.25 megapixels (e.g. 625×400).
PREVIEW_PIXELS: Final = 250_000
#: ``shadow_opacity`` when none is given (remove.bg's "auto").
DEFAULT_SHADOW_OPACITY: Final = 50
#: remove.bg's limits on ``crop_margin``: 50 % of the subject for a percentage, 500 px
#: for an absolute value; larger values are clamped, not refused.
MAX_MARGIN_PERCENT: Final = 50.0
MAX_MARGIN_PX: Final = 500
SIZE_PIXELS: Final[dict[str, int | None]] = {
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
_NUMBER = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(px|%)?")
_HEX = re.compile(r"#?([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")


def shown(value: object) -> str:
    """An option value quoted for an error message, cut short so a message stays a line."""
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


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


def _parse_length(token: str) -> Length | None:
    match = _NUMBER.fullmatch(token)
    if match is None:
        return None
    return Length(float(match.group(1)), match.group(2) == "%")


def _require_str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidOptionError(
            f"{name} must be a string, not {type(value).__name__}.", code=f"invalid_{name}"
        )
    return value


def parse_bg_color(text: str | None) -> RGBA | None:
    """``bg_color`` as RGBA: hex (``81d4fa``, ``fff``, 4/8 digits with alpha) or a CSS name.

    ``None`` or an empty string means no colour (a transparent background).
    """
    if text is None:
        return None
    text = _require_str(text, "bg_color").strip()
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
        f"bg_color {shown(text)} is not a colour; use hex such as 81d4fa, fff or "
        "81d4fa80 (with alpha), or a CSS colour name such as 'white'.",
        code="invalid_bg_color",
    )


def parse_roi_lengths(text: str) -> tuple[Length, Length, Length, Length]:
    """The four ROI coordinates, checked as far as possible without the image size."""
    text = _require_str(text, "roi")
    tokens = text.split()
    lengths = [_parse_length(token) for token in tokens]
    if len(tokens) != 4 or any(length is None for length in lengths):
        raise InvalidOptionError(
            f"roi {shown(text)} is not a region; give four non-negative coordinates "
            f"'x1 y1 x2 y2' in px or %, such as '{DEFAULT_ROI}'.",
            code="invalid_roi",
        )
    x1, y1, x2, y2 = (length for length in lengths if length is not None)
    if any(length.percent and length.value > 100.0 for length in (x1, y1, x2, y2)):
        raise InvalidOptionError(
            f"roi {shown(text)} reaches outside the image; percentages go up to 100%.",
            code="roi_exceeds_bounds",
        )
    for start, end in ((x1, x2), (y1, y2)):
        if start.percent == end.percent and end.value <= start.value:
            raise InvalidOptionError(
                f"roi {shown(text)} is empty; x2 must be right of x1 and y2 below y1.",
                code="roi_region_empty",
            )
    return x1, y1, x2, y2


def parse_roi(text: str, width: int, height: int) -> Box:
    """``roi`` (``"x1 y1 x2 y2"``, each px or %) as a box inside a ``width``×``height`` image.

    Coordinates are edges, so ``100%`` is the image's right or bottom edge. A pixel
    coordinate past the image raises ``roi_exceeds_bounds``; a region with no area once
    rounded to pixels raises ``roi_region_empty``.
    """
    x1, y1, x2, y2 = parse_roi_lengths(text)
    left, right = round(x1.resolve(width)), round(x2.resolve(width))
    top, bottom = round(y1.resolve(height)), round(y2.resolve(height))
    if right > width or bottom > height:
        raise InvalidOptionError(
            f"roi {shown(text)} reaches outside the {width}×{height} image.",
            code="roi_exceeds_bounds",
        )
    if right <= left or bottom <= top:
        raise InvalidOptionError(
            f"roi {shown(text)} covers no pixel of the {width}×{height} image.",
            code="roi_region_empty",
        )
    return Box(left, top, right - left, bottom - top)


def parse_margin_lengths(text: str) -> tuple[Length, Length, Length, Length]:
    """``crop_margin`` as four lengths (top, right, bottom, left), before clamping."""
    text = _require_str(text, "crop_margin")
    tokens = text.split()
    lengths = [_parse_length(token) for token in tokens]
    if len(tokens) not in (1, 2, 4) or any(length is None for length in lengths):
        raise InvalidOptionError(
            f"crop_margin {shown(text)} is not a margin; give 1, 2 or 4 non-negative "
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
    top, right, bottom, left = parse_margin_lengths(text)
    return Margins(
        top=_clamped_margin(top, subject_height),
        right=_clamped_margin(right, subject_width),
        bottom=_clamped_margin(bottom, subject_height),
        left=_clamped_margin(left, subject_width),
    )


def parse_scale(text: str) -> float | None:
    """``scale`` as a fraction of the canvas (``"10%"``–``"100%"``); ``original`` is None."""
    text = _require_str(text, "scale")
    if text.strip().lower() == "original":
        return None
    length = _parse_length(text.strip())
    if length is None or not length.percent or not 10.0 <= length.value <= 100.0:
        raise InvalidOptionError(
            f"scale {shown(text)} is not accepted; use a percentage from '10%' to "
            "'100%', or 'original'.",
            code="invalid_scale",
        )
    return length.value / 100.0


def parse_position(text: str) -> Position:
    """``position`` as ``"original"`` or fractions ``(x, y)`` of the free space.

    ``0%`` puts the subject against the left (top) edge, ``100%`` against the right
    (bottom) edge; ``center`` is ``50% 50%``; one percentage applies to both axes.
    """
    text = _require_str(text, "position")
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
            f"position {shown(text)} is not accepted; use 'original', 'center', or one "
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
    if not isinstance(size, str) or size not in SIZE_PIXELS:
        raise InvalidOptionError(
            f"size {shown(size)} is not accepted; use one of " + ", ".join(SIZE_PIXELS) + ".",
            code="invalid_size",
        )
    budget = SIZE_PIXELS[size]
    if budget is None or width * height <= budget:
        return width, height
    factor = math.sqrt(budget / (width * height))
    # The small epsilon keeps exact fits (1250×800 → 625×400) from flooring one pixel short.
    return max(1, int(width * factor + 1e-6)), max(1, int(height * factor + 1e-6))
