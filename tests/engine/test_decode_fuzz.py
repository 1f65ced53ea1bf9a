"""Property-based fuzzing of the decode path (Hypothesis, a fixed number of examples).

Whatever bytes arrive, decoding and the submission's header check end one of two ways:
pixels of a consistent shape, or one of our input errors (a 4xx with a one-line message).
Never a Pillow, NumPy or OpenCV exception, which the web layer would answer with a 500.
The inputs are valid small images of every decoded format with bytes flipped, cut,
repeated or inserted, and arbitrary bytes behind each format's magic number.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pillow_heif
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from clearcutout.config import Settings
from clearcutout.engine.decode import check_jpeg_scans, decode_image
from clearcutout.errors import InputError
from clearcutout.service.jobs.submission import check_image

pillow_heif.register_heif_opener()

# Pillow warns (UserWarning) about damaged EXIF and TIFF tags, then carries on: that is
# the behaviour under test, not a failure of it.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

LIMIT = 4_000_000
FUZZ = settings(
    max_examples=150,
    derandomize=True,  # the same examples on every run: CI failures reproduce
    database=None,  # nothing written to the working tree
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _seed(fmt: str, **params: Any) -> bytes:
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    if fmt == "GIF":
        image = image.convert("P")
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


SEEDS = {
    "JPEG": _seed("JPEG", quality=80),
    "JPEG progressive": _seed("JPEG", quality=80, progressive=True),
    "PNG": _seed("PNG"),
    "WEBP": _seed("WEBP", quality=80),
    "TIFF": _seed("TIFF", compression="tiff_deflate"),
    "BMP": _seed("BMP"),
    "GIF": _seed("GIF"),
    "HEIF": _seed("HEIF", quality=50),
    "AVIF": _seed("AVIF", quality=50),
}


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid seed image with a few random edits."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 6))):
        edit = draw(st.sampled_from(["flip", "cut", "insert", "repeat", "set"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if edit == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        elif edit == "repeat":
            data[at:at] = bytes(data[at : at + draw(st.integers(1, 64))]) * draw(st.integers(2, 20))
        elif data:
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80]))
    return bytes(data)


MAGIC = [
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"RIFF\x00\x00\x00\x00WEBPVP8",
    b"II*\x00",
    b"MM\x00*",
    b"BM",
    b"GIF89a",
    b"\x00\x00\x00\x18ftypheic",
    b"\x00\x00\x00\x1cftypavif",
]


@st.composite
def magic_then_noise(draw: st.DrawFn) -> bytes:
    return draw(st.sampled_from(MAGIC)) + draw(st.binary(max_size=400))


def _decodes_or_refuses(data: bytes) -> None:
    try:
        decoded = decode_image(data, max_pixels=LIMIT)
    except InputError as exc:
        assert exc.message and "\n" not in exc.message
        assert 400 <= exc.http_status < 500
        return
    assert decoded.rgb.dtype == np.uint8 and decoded.rgb.ndim == 3
    assert decoded.rgb.shape[2] == 3 and decoded.width * decoded.height <= LIMIT
    if decoded.alpha is not None:
        assert decoded.alpha.shape == decoded.rgb.shape[:2]


def _header_checks_or_refuses(data: bytes) -> None:
    try:
        width, height = check_image(Settings(max_megapixels=LIMIT / 1e6), data)
    except InputError as exc:
        assert 400 <= exc.http_status < 500
        return
    assert width > 0 and height > 0 and width * height <= LIMIT


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_every_seed_decodes(fmt: str) -> None:
    assert decode_image(SEEDS[fmt], max_pixels=LIMIT).width == 16


@FUZZ
@given(data=mutated())
def test_a_damaged_image_decodes_or_is_refused_with_an_input_error(data: bytes) -> None:
    _decodes_or_refuses(data)
    _header_checks_or_refuses(data)


@FUZZ
@given(data=st.one_of(magic_then_noise(), st.binary(max_size=200)))
def test_noise_behind_a_magic_number_is_refused_with_an_input_error(data: bytes) -> None:
    _decodes_or_refuses(data)
    _header_checks_or_refuses(data)


@FUZZ
@given(data=st.binary(max_size=600).map(lambda tail: b"\xff\xd8" + tail))
def test_the_jpeg_scan_count_never_fails_on_its_own(data: bytes) -> None:
    try:
        check_jpeg_scans(data, max_scans=3)
    except InputError as exc:
        assert exc.code == "too_many_scans"
