"""Composition of a cutout, with remove.bg's option semantics.

The pipeline hands over the foreground colours and the matte at the working resolution;
this module turns them into the image a user asked for: crop, scale, position, shadow,
background colour or photo, or the matte only. What the options' values mean is
:mod:`clearcutout.engine.options`'; encoding the result is :mod:`clearcutout.engine.encode`'s.

Pure image work: NumPy and OpenCV, Pillow for the resulting image; no I/O, no
configuration. Images stay ``uint8`` except for the per-pixel weights of alpha blending.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, cast

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from clearcutout.engine.geometry import EMPTY_BOX, Box
from clearcutout.engine.options import (
    DEFAULT_SHADOW_OPACITY,
    CutoutOptions,
    Position,
    parse_bg_color,
    parse_crop_margin,
    parse_position,
    parse_scale,
)
from clearcutout.errors import InvalidOptionError

__all__ = ["Composition", "compose", "subject_box"]

UInt8Array = NDArray[np.uint8]

#: Matte values at or below this (about 4 % opacity) are noise, not subject: they do
#: not count for the crop or the reported foreground box.
SUBJECT_ALPHA_THRESHOLD: Final = 10


@dataclass(frozen=True)
class Composition:
    """The composed image (RGBA, RGB when a background fills it, L for the matte only).

    ``foreground`` is the subject's box in ``image``; ``has_transparency`` says whether any
    pixel is not fully opaque (``format=auto`` picks PNG for those, JPEG otherwise).
    """

    image: Image.Image
    foreground: Box
    has_transparency: bool


def _u8(array: NDArray[Any]) -> UInt8Array:
    """OpenCV's stubs type every result loosely; these calls return uint8 for uint8 input."""
    return cast("UInt8Array", array)


def subject_box(alpha: UInt8Array) -> Box:
    """Bounding box of the matte's pixels above the noise threshold; empty if none."""
    _, mask = cv2.threshold(alpha, SUBJECT_ALPHA_THRESHOLD, 255, cv2.THRESH_BINARY)
    left, top, width, height = cv2.boundingRect(mask)
    if width == 0 or height == 0:
        return EMPTY_BOX
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
        return np.zeros((1, 1, 3), np.uint8), np.zeros((1, 1), np.uint8), EMPTY_BOX
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
        return np.zeros_like(rgb), np.zeros_like(alpha), EMPTY_BOX
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
