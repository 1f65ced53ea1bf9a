"""Decoding uploads: every supported format, orientation, colour modes, ICC and the errors.

Every input is built here with Pillow / pillow_heif; no image file is committed.
"""

from __future__ import annotations

import io
import resource
import struct
import zlib
from typing import Any

import numpy as np
import pillow_heif
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageCms

from clearcutout.engine.decode import MAX_JPEG_SCANS, check_jpeg_scans, decode_image
from clearcutout.errors import (
    AspectRatioError,
    ClearCutoutError,
    EmptyImageError,
    ImageMetadataError,
    ImageTooLargeError,
    TooManyScansError,
    TruncatedImageError,
    UnsupportedImageError,
)
from tests.support.hostile import hostile

pillow_heif.register_heif_opener()

LIMIT = 50_000_000
RED = (220, 30, 40)
GREEN = (20, 200, 60)
BLUE = (30, 40, 210)


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def split_image(left: tuple[int, int, int], right: tuple[int, int, int]) -> Image.Image:
    """64×48, left half one colour, right half another (so orientation mix-ups show)."""
    pixels = np.zeros((48, 64, 3), np.uint8)
    pixels[:, :32] = left
    pixels[:, 32:] = right
    return Image.fromarray(pixels)


def colour_at(rgb: NDArray[np.uint8], row: int, col: int) -> NDArray[np.int64]:
    return np.asarray(rgb[row, col], dtype=np.int64)


def assert_close(actual: NDArray[Any], expected: tuple[int, ...], tolerance: int) -> None:
    difference = np.abs(np.asarray(actual, np.int64) - np.asarray(expected, np.int64))
    assert difference.max() <= tolerance, f"{actual.tolist()} is not ≈ {expected}"


def assert_clear_message(error: ClearCutoutError) -> None:
    assert error.message
    assert "\n" not in error.message
    assert "Traceback" not in error.message
    assert 'File "' not in error.message


# ------------------------------------------------------------------------------- formats

FORMATS = [
    ("JPEG", {"quality": 95}, "JPEG", 12),
    ("PNG", {}, "PNG", 0),
    ("WEBP", {"lossless": True}, "WEBP", 0),
    ("TIFF", {}, "TIFF", 0),
    ("BMP", {}, "BMP", 0),
    ("GIF", {}, "GIF", 12),
    ("HEIF", {"quality": 95}, "HEIF", 16),
    ("AVIF", {"quality": 95}, "AVIF", 16),
]


@pytest.mark.parametrize(
    ("fmt", "params", "reported", "tolerance"), FORMATS, ids=[row[0] for row in FORMATS]
)
def test_every_supported_format_decodes_to_srgb_pixels_of_the_right_size(
    fmt: str, params: dict[str, Any], reported: str, tolerance: int
) -> None:
    data = encode(split_image(RED, BLUE), fmt, **params)

    decoded = decode_image(data, max_pixels=LIMIT)

    assert decoded.source_format == reported
    assert (decoded.width, decoded.height) == (64, 48)
    assert decoded.rgb.dtype == np.uint8
    assert decoded.rgb.shape == (48, 64, 3)
    assert decoded.alpha is None
    assert_close(colour_at(decoded.rgb, 24, 8), RED, tolerance)
    assert_close(colour_at(decoded.rgb, 24, 56), BLUE, tolerance)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_the_first_frame_of_an_animation_is_the_one_decoded(fmt: str) -> None:
    first = Image.new("RGB", (32, 32), RED)
    second = Image.new("RGB", (32, 32), GREEN)
    params: dict[str, Any] = {"lossless": True} if fmt == "WEBP" else {}
    data = encode(first, fmt, save_all=True, append_images=[second], duration=100, **params)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2

    decoded = decode_image(data, max_pixels=LIMIT)

    assert_close(colour_at(decoded.rgb, 16, 16), RED, 12)


# ---------------------------------------------------------------------------- orientation


@pytest.mark.parametrize(
    ("orientation", "size", "red_corner"),
    [
        (1, (40, 20), "top-left"),
        (3, (40, 20), "bottom-right"),  # rotated 180°
        (6, (20, 40), "top-right"),  # display rotated 90° clockwise
        (8, (20, 40), "bottom-left"),  # display rotated 90° anticlockwise
    ],
)
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_orientation_is_applied(
    fmt: str, orientation: int, size: tuple[int, int], red_corner: str
) -> None:
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:] = BLUE
    pixels[:6, :6] = RED  # top-left corner as stored
    exif = Image.Exif()
    exif[274] = orientation
    data = encode(Image.fromarray(pixels), fmt, exif=exif.tobytes(), quality=95)

    decoded = decode_image(data, max_pixels=LIMIT)

    assert (decoded.width, decoded.height) == size
    width, height = size
    corners = {
        "top-left": (2, 2),
        "top-right": (2, width - 3),
        "bottom-left": (height - 3, 2),
        "bottom-right": (height - 3, width - 3),
    }
    for name, (row, col) in corners.items():
        expected = RED if name == red_corner else BLUE
        assert_close(colour_at(decoded.rgb, row, col), expected, 40)


# ------------------------------------------------------------------------------ colour modes


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
@pytest.mark.parametrize(
    ("cmyk", "rgb"),
    [
        ((0, 255, 255, 0), (255, 0, 0)),
        ((255, 0, 255, 0), (0, 255, 0)),
        ((0, 0, 0, 0), (255, 255, 255)),
        ((0, 0, 0, 255), (0, 0, 0)),
    ],
)
def test_cmyk_images_come_out_as_rgb_with_the_right_colours(
    fmt: str, cmyk: tuple[int, int, int, int], rgb: tuple[int, int, int]
) -> None:
    data = encode(Image.new("CMYK", (16, 16), cmyk), fmt, quality=95)

    decoded = decode_image(data, max_pixels=LIMIT)

    assert decoded.rgb.shape == (16, 16, 3)
    assert_close(colour_at(decoded.rgb, 8, 8), rgb, 10)


@pytest.mark.parametrize(
    ("value16", "value8"), [(0, 0), (257, 1), (32768, 128), (65535, 255), (13107, 51)]
)
def test_16_bit_grey_png_is_scaled_to_8_bits_not_clipped(value16: int, value8: int) -> None:
    image = Image.fromarray(np.full((8, 8), value16, np.uint16))
    data = encode(image, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")

    decoded = decode_image(data, max_pixels=LIMIT)

    assert decoded.rgb.shape == (8, 8, 3)
    assert_close(decoded.rgb[4, 4], (value8, value8, value8), 1)


def test_a_16_bit_grey_gradient_keeps_its_order_across_the_whole_range() -> None:
    ramp = np.linspace(0, 65535, 256).astype(np.uint16)[None, :].repeat(4, axis=0)
    decoded = decode_image(encode(Image.fromarray(ramp), "PNG"), max_pixels=LIMIT)

    row = decoded.rgb[0, :, 0].astype(int)
    assert row[0] == 0
    assert row[-1] == 255
    assert np.all(np.diff(row) >= 0)
    assert len(set(row.tolist())) > 200  # not clipped to a few values


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_grey_and_rgb_images_have_no_alpha(mode: str) -> None:
    decoded = decode_image(encode(Image.new(mode, (8, 8), 90), "PNG"), max_pixels=LIMIT)

    assert decoded.alpha is None
    assert_close(decoded.rgb[0, 0], (90, 0, 0) if mode == "RGB" else (90, 90, 90), 0)


def _palette_with_transparent_left_half() -> Image.Image:
    image = Image.new("P", (32, 16), 1)
    image.putpalette([255, 0, 0, *BLUE] + [0, 0, 0] * 254)
    image.paste(0, (0, 0, 16, 16))
    return image


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_transparency_becomes_alpha_and_hidden_pixels_show_white(fmt: str) -> None:
    data = encode(_palette_with_transparent_left_half(), fmt, transparency=0)

    decoded = decode_image(data, max_pixels=LIMIT)

    assert decoded.alpha is not None
    assert decoded.alpha[8, 4] == 0
    assert decoded.alpha[8, 28] == 255
    assert_close(decoded.rgb[8, 4], (255, 255, 255), 0)  # not the red hidden underneath
    assert_close(decoded.rgb[8, 28], BLUE, 0)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_grey_with_alpha_keeps_its_alpha(fmt: str) -> None:
    grey = Image.new("L", (32, 16), 50)
    alpha = Image.new("L", (32, 16), 255)
    alpha.paste(0, (0, 0, 16, 16))
    image = Image.merge("LA", (grey, alpha))
    data = encode(image, fmt, lossless=True) if fmt == "WEBP" else encode(image, fmt)

    decoded = decode_image(data, max_pixels=LIMIT)

    assert decoded.alpha is not None
    assert decoded.alpha[8, 4] == 0
    assert decoded.alpha[8, 28] == 255
    assert_close(decoded.rgb[8, 4], (255, 255, 255), 0)
    assert_close(decoded.rgb[8, 28], (50, 50, 50), 1)


def test_half_transparent_rgba_keeps_alpha_and_blends_towards_white() -> None:
    image = Image.new("RGBA", (8, 8), (0, 0, 0, 128))

    decoded = decode_image(encode(image, "PNG"), max_pixels=LIMIT)

    assert decoded.alpha is not None
    assert decoded.alpha[0, 0] == 128
    assert_close(decoded.rgb[0, 0], (127, 127, 127), 1)


def test_a_fully_opaque_alpha_channel_is_reported_as_no_alpha() -> None:
    decoded = decode_image(encode(Image.new("RGBA", (8, 8), (*RED, 255)), "PNG"), max_pixels=LIMIT)

    assert decoded.alpha is None
    assert_close(decoded.rgb[0, 0], RED, 0)


@pytest.mark.parametrize(
    ("mode", "colour", "key"),
    [("RGB", (10, 20, 30), (10, 20, 30)), ("L", 7, 7)],
)
def test_png_colour_key_transparency_becomes_alpha(mode: str, colour: Any, key: Any) -> None:
    """A tRNS chunk on an RGB or grey PNG marks one colour as transparent."""
    image = Image.new(mode, (16, 8), colour)
    image.paste(200 if mode == "L" else (200, 100, 50), (8, 0, 16, 8))
    data = encode(image, "PNG", transparency=key)

    decoded = decode_image(data, max_pixels=LIMIT)

    assert decoded.alpha is not None
    assert decoded.alpha[4, 2] == 0
    assert decoded.alpha[4, 12] == 255
    assert_close(decoded.rgb[4, 2], (255, 255, 255), 0)


# ------------------------------------------------------------------------------------ ICC


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + b"\0" * 4 + _s15(x) + _s15(y) + _s15(z)


def linear_rgb_icc_profile() -> bytes:
    """A minimal ICC v2 matrix/TRC display profile: sRGB primaries (D50), gamma 1.0."""
    text = b"Linear RGB test profile\0"
    desc = (
        b"desc"
        + b"\0" * 4
        + struct.pack(">I", len(text))
        + text
        + struct.pack(">II", 0, 0)  # no Unicode description
        + struct.pack(">HB", 0, 0)  # no ScriptCode description
        + b"\0" * 67
    )
    curve = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, 0x0100) + b"\0\0"  # gamma 1.0
    tags = [
        (b"desc", desc),
        (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", _xyz(0.4361, 0.2225, 0.0139)),
        (b"gXYZ", _xyz(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", _xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text" + b"\0" * 4 + b"public domain\0\0\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table = struct.pack(">I", len(tags))
    body = b""
    for signature, data in tags:
        padded = data + b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += padded
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"\0" * 4  # preferred CMM
        + bytes([2, 0x10, 0, 0])  # version 2.1
        + b"mntr"
        + b"RGB "
        + b"XYZ "
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\0" * 4  # platform
        + b"\0" * 4  # flags
        + b"\0" * 8  # manufacturer, model
        + b"\0" * 8  # attributes
        + struct.pack(">I", 0)  # perceptual intent
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + b"\0" * 4  # creator
    )
    header += b"\0" * (128 - len(header))
    return header + table + body


def test_the_hand_built_profile_is_a_valid_icc_profile() -> None:
    profile = ImageCms.ImageCmsProfile(io.BytesIO(linear_rgb_icc_profile()))

    assert "Linear RGB" in ImageCms.getProfileDescription(profile)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "WEBP"])
def test_an_embedded_icc_profile_is_converted_to_srgb(fmt: str) -> None:
    image = Image.new("RGB", (16, 16), (128, 128, 128))
    params: dict[str, Any] = {"icc_profile": linear_rgb_icc_profile(), "quality": 100}
    if fmt == "WEBP":
        params["lossless"] = True
    data = encode(image, fmt, **params)

    decoded = decode_image(data, max_pixels=LIMIT)

    # 128 in linear light is 0.502, which sRGB encodes as ≈ 187.
    assert_close(decoded.rgb[8, 8], (187, 187, 187), 4)


def test_an_icc_profile_on_rgba_keeps_the_alpha() -> None:
    image = Image.new("RGBA", (16, 16), (128, 128, 128, 255))
    image.paste((128, 128, 128, 0), (0, 0, 8, 16))
    data = encode(image, "PNG", icc_profile=linear_rgb_icc_profile())

    decoded = decode_image(data, max_pixels=LIMIT)

    assert decoded.alpha is not None
    assert decoded.alpha[8, 2] == 0
    assert decoded.alpha[8, 12] == 255
    assert_close(decoded.rgb[8, 12], (187, 187, 187), 4)


def test_an_embedded_srgb_profile_leaves_colours_alone() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(split_image(RED, BLUE), "PNG", icc_profile=srgb)

    decoded = decode_image(data, max_pixels=LIMIT)

    assert_close(decoded.rgb[24, 8], RED, 1)
    assert_close(decoded.rgb[24, 56], BLUE, 1)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize(
    "profile",
    [b"not an icc profile at all" * 8, linear_rgb_icc_profile()[:140]],
    ids=["garbage", "cut-short"],
)
def test_a_broken_icc_profile_falls_back_to_the_pixels(fmt: str, profile: bytes) -> None:
    data = encode(Image.new("RGB", (16, 16), (128, 128, 128)), fmt, icc_profile=profile)

    decoded = decode_image(data, max_pixels=LIMIT)

    assert_close(decoded.rgb[8, 8], (128, 128, 128), 2)


# ------------------------------------------------------------------------------- the limit


@pytest.mark.parametrize(
    ("size", "max_pixels"),
    [((101, 100), 10_000), ((2000, 1000), 1_000_000), ((10, 10), 99)],
)
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_an_image_over_the_pixel_limit_is_refused_naming_megapixels(
    fmt: str, size: tuple[int, int], max_pixels: int
) -> None:
    data = encode(Image.new("RGB", size, RED), fmt)

    with pytest.raises(ImageTooLargeError) as caught:
        decode_image(data, max_pixels=max_pixels)

    assert "megapixels" in caught.value.message
    assert f"{size[0] * size[1] / 1e6:.1f}" in caught.value.message
    assert f"{max_pixels / 1e6:.3g} megapixels" in caught.value.message
    assert_clear_message(caught.value)


def test_an_image_exactly_at_the_limit_is_accepted() -> None:
    decoded = decode_image(encode(Image.new("RGB", (100, 100), RED), "PNG"), max_pixels=10_000)

    assert (decoded.width, decoded.height) == (100, 100)


@pytest.mark.parametrize("side", [10_000, 20_000])
def test_a_huge_image_that_is_tiny_on_disk_is_refused_before_decoding(side: int) -> None:
    # 100 MP is over Pillow's warning threshold, 400 MP over its hard "bomb" ceiling: both
    # must surface as our own clear error, not a Pillow warning or message.
    data = encode(Image.new("1", (side, side), 0), "PNG")
    assert len(data) < 200_000
    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    with pytest.raises(ImageTooLargeError) as caught:
        decode_image(data, max_pixels=LIMIT)

    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kib) / 1024
    assert grown_mib < 100  # decoding would need 300 MB (RGB) or more
    assert f"{side * side / 1e6:.1f} megapixels" in caught.value.message
    assert "50 megapixels" in caught.value.message
    assert "DOS" not in caught.value.message
    assert_clear_message(caught.value)


def _strip_png(width: int, height: int) -> bytes:
    """A PNG header declaring ``width``×``height`` and one tiny IDAT (never decoded)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 4))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("width", "height"), [(1, 1_000_000), (1_000_000, 1), (1, 49_000_000), (101, 1), (1, 101)]
)
def test_a_strip_over_the_aspect_ratio_limit_is_refused_from_its_header(
    width: int, height: int
) -> None:
    data = _strip_png(width, height)
    assert len(data) < 100

    with pytest.raises(AspectRatioError) as caught:
        decode_image(data, max_pixels=LIMIT, max_aspect_ratio=100)

    assert caught.value.code == "aspect_ratio_too_high"
    assert caught.value.http_status == 400
    assert f"{width}×{height}" in caught.value.message
    assert "100 times" in caught.value.message
    assert_clear_message(caught.value)


@pytest.mark.parametrize(("width", "height"), [(100, 1), (1, 100), (3000, 30)])
def test_a_strip_exactly_at_the_aspect_ratio_limit_is_decoded(width: int, height: int) -> None:
    data = encode(Image.new("RGB", (width, height), RED), "PNG")

    decoded = decode_image(data, max_pixels=LIMIT, max_aspect_ratio=100)

    assert (decoded.width, decoded.height) == (width, height)


def test_the_aspect_ratio_limit_is_the_callers_to_raise() -> None:
    data = encode(Image.new("RGB", (1000, 1), RED), "PNG")

    decoded = decode_image(data, max_pixels=LIMIT, max_aspect_ratio=1000)

    assert (decoded.width, decoded.height) == (1000, 1)
    with pytest.raises(AspectRatioError):
        decode_image(data, max_pixels=LIMIT)  # the default, 100


@pytest.mark.parametrize(
    "kind",
    [
        "zlib bomb: iCCP",
        "zlib bomb: zTXt before IDAT",
        "zlib bomb: zTXt after IDAT",
        "zlib bomb: iTXt",
        "2000 zTXt chunks",
    ],
)
def test_a_zlib_bomb_in_a_pngs_metadata_is_refused_as_metadata_too_large(kind: str) -> None:
    item = hostile(kind)
    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    with pytest.raises(ImageMetadataError) as caught:
        decode_image(item.data, max_pixels=LIMIT)

    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kib) / 1024
    assert grown_mib < 100  # the bombs unpack to 64 MB and more
    assert caught.value.code == "metadata_too_large"
    assert caught.value.http_status == 400
    assert_clear_message(caught.value)


def test_a_progressive_jpeg_with_a_thousand_scans_is_refused_before_decoding() -> None:
    data = hostile("progressive JPEG, 1000 scans").data

    with pytest.raises(TooManyScansError) as caught:
        decode_image(data, max_pixels=LIMIT)

    assert caught.value.code == "too_many_scans"
    assert f"more than {MAX_JPEG_SCANS}" in caught.value.message
    assert_clear_message(caught.value)


@pytest.mark.parametrize("progressive", [False, True])
def test_ordinary_jpegs_pass_the_scan_count(progressive: bool) -> None:
    # Progressive JPEGs from libjpeg have 10 scans; an EXIF block and an ICC profile
    # (whose bytes may look like markers) are skipped by their lengths.
    exif = Image.Exif()
    exif[0x010E] = "\xff\xda" * 500
    data = encode(
        split_image(RED, BLUE),
        "JPEG",
        progressive=progressive,
        exif=exif.tobytes(),
        icc_profile=b"\xff\xda\x00\x02" * 20_000,
    )

    check_jpeg_scans(data, max_scans=1 if not progressive else 10)
    with pytest.raises(TooManyScansError):
        check_jpeg_scans(data, max_scans=0 if not progressive else 9)
    assert decode_image(data, max_pixels=LIMIT).width == 64


# ------------------------------------------------------------------------------- the errors


def test_empty_bytes_are_reported_as_an_empty_file() -> None:
    with pytest.raises(EmptyImageError) as caught:
        decode_image(b"", max_pixels=LIMIT)

    assert "empty" in caught.value.message
    assert_clear_message(caught.value)


@pytest.mark.parametrize(
    "data",
    [
        b"Hello, this is a text file.\nNot an image.\n",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
        b"\x00" * 64,
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    ],
    ids=["text", "pdf", "zeros", "svg"],
)
def test_a_file_that_is_not_an_image_is_reported_as_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedImageError) as caught:
        decode_image(data, max_pixels=LIMIT)

    assert "JPEG" in caught.value.message  # says what we can read
    assert_clear_message(caught.value)


@pytest.mark.parametrize("fmt", ["ICO", "PCX", "TGA", "PPM"])
def test_a_format_pillow_reads_but_we_do_not_support_is_refused(fmt: str) -> None:
    data = encode(Image.new("RGB", (32, 32), RED), fmt)
    assert Image.open(io.BytesIO(data)).format is not None

    with pytest.raises(UnsupportedImageError) as caught:
        decode_image(data, max_pixels=LIMIT)

    assert "not supported" in caught.value.message
    assert_clear_message(caught.value)


def _noise(size: int = 200) -> Image.Image:
    generator = np.random.default_rng(7)
    return Image.fromarray(generator.integers(0, 256, (size, size, 3), dtype=np.uint8))


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.95])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "TIFF", "BMP", "WEBP", "HEIF"])
def test_a_truncated_image_is_reported_as_truncated(fmt: str, fraction: float) -> None:
    data = encode(_noise(), fmt)
    cut = data[: int(len(data) * fraction)]

    with pytest.raises(TruncatedImageError) as caught:
        decode_image(cut, max_pixels=LIMIT)

    assert_clear_message(caught.value)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_truncated_jpeg_or_png_says_the_file_ends_early(fmt: str) -> None:
    data = encode(_noise(), fmt)

    with pytest.raises(TruncatedImageError) as caught:
        decode_image(data[: len(data) // 2], max_pixels=LIMIT)

    assert "truncated" in caught.value.message
