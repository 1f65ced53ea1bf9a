"""Hostile files, built in memory by the tests (never checked in).

Each :class:`Hostile` is one file an attacker could upload: decompression bombs of every
format we decode, huge sizes declared by tiny files, thin strips, damaged files, zlib
bombs in a PNG's ancillary chunks, a progressive JPEG with a thousand scans, animations
with thousands of frames, huge EXIF and ICC blocks, polyglots and wrong extensions.
``outcome`` says what the service must do with it: refuse it with ``code`` (a 4xx), or
cut it out. The builders are cached: the corpus is built once per test run.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pillow_heif
from PIL import Image

from tests.support.photos import resized_sample

pillow_heif.register_heif_opener()


@dataclass(frozen=True)
class Hostile:
    """One hostile file: its bytes, the name it is uploaded under, what must happen."""

    kind: str
    data: bytes
    filename: str
    #: ``None``: a correct cutout; else the error code of the 4xx refusal.
    code: str | None

    @property
    def refused(self) -> bool:
        return self.code is not None


def _encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _photo(width: int = 128, height: int = 96) -> Image.Image:
    """The sample photo (orange ball, blue cup): a subject the model finds."""
    return Image.open(io.BytesIO(resized_sample(width, height, "PNG"))).convert("RGB")


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_with(*extra: bytes, before_idat: bool = True) -> bytes:
    """A small valid PNG with ``extra`` chunks before (or after) its image data."""
    plain = _encode(_photo(), "PNG")
    ihdr_end = 8 + 25  # signature, IHDR
    idat_at = plain.index(b"IDAT") - 4
    if before_idat:
        return plain[:ihdr_end] + b"".join(extra) + plain[ihdr_end:]
    iend_at = len(plain) - 12
    return plain[:idat_at] + plain[idat_at:iend_at] + b"".join(extra) + plain[iend_at:]


def png_header_only(width: int, height: int, *, bit_depth: int = 8, colour: int = 2) -> bytes:
    """A PNG declaring ``width``×``height`` with a token of image data (tens of bytes)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + png_chunk(b"IEND", b"")
    )


@functools.cache
def _zlib_bomb(size: int = 64 << 20) -> bytes:
    """``size`` zero bytes deflated (~1,000:1): 64 MB inflated from 64 KB."""
    compressor = zlib.compressobj(9)
    block = b"\x00" * (1 << 20)
    out = [compressor.compress(block) for _ in range(size >> 20)]
    return b"".join(out) + compressor.flush()


def _png_bomb() -> bytes:
    """20,000×20,000 one-bit PNG: 400 MP in ~50 KB of real, all-zero image data."""
    rows = (b"\x00" + b"\x00" * 2_500) * 20_000
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20_000, 20_000, 1, 0, 0, 0, 0))
        + png_chunk(b"IDAT", zlib.compress(rows, 9))
        + png_chunk(b"IEND", b"")
    )


def _tiff_bomb() -> bytes:
    """A deflate-compressed 12,000×12,000 grey TIFF: 144 MP in ~150 KB."""
    return _encode(Image.new("L", (12_000, 12_000), 0), "TIFF", compression="tiff_deflate")


def _gif_bomb() -> bytes:
    """A GIF whose logical screen and frame declare 65,535×65,535 (4.3 GP)."""
    small = _encode(Image.new("P", (8, 8), 0), "GIF")
    screen = struct.pack("<HH", 65_535, 65_535)
    data = bytearray(small)
    data[6:10] = screen
    frame = data.index(b"\x2c")  # the image descriptor
    data[frame + 5 : frame + 9] = screen
    return bytes(data)


def _bmp_bomb() -> bytes:
    """An RLE8 BMP header declaring 30,000×30,000 (900 MP) in a few hundred bytes."""
    small = bytearray(_encode(Image.new("P", (4, 4), 0), "BMP"))
    small[18:26] = struct.pack("<ii", 30_000, 30_000)
    return bytes(small)


def _jpeg_bomb() -> bytes:
    """A baseline JPEG whose frame header declares 65,000×65,000 (4.2 GP)."""
    data = bytearray(_encode(_photo(), "JPEG", quality=80))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65_000, 65_000)
    return bytes(data)


def _webp_bomb() -> bytes:
    """A lossless WebP whose header declares 16,384×16,384 (268 MP, the format's most)."""
    data = bytearray(_encode(Image.new("RGB", (64, 64), (9, 9, 9)), "WEBP", lossless=True))
    header = data.index(b"VP8L") + 9  # after the chunk size and the 0x2f signature
    bits = int.from_bytes(data[header : header + 4], "little")
    bits = (bits & ~((1 << 28) - 1)) | (16_383 << 14) | 16_383
    data[header : header + 4] = bits.to_bytes(4, "little")
    return bytes(data)


def _heif_bomb() -> bytes:
    """A small HEIF whose image-spatial-extents box declares 30,000×30,000 (900 MP)."""
    data = bytearray(_encode(Image.new("RGB", (64, 64), (9, 9, 9)), "HEIF", quality=10))
    ispe = data.index(b"ispe")
    data[ispe + 8 : ispe + 16] = struct.pack(">II", 30_000, 30_000)
    return bytes(data)


def _many_scan_jpeg(scans: int = 1_000) -> bytes:
    """A 2,000×2,000 progressive JPEG whose next-to-last scan is repeated ``scans`` times.

    Each repeat is 34 bytes (one end-of-band run over the whole image), but libjpeg walks
    every block for each scan, and a repeated scan only warns: ~70 KB that took 5 s to
    decode here (1,000 scans at 4,000×4,000: 20 s).
    """
    data = _encode(Image.new("RGB", (2_000, 2_000), (90, 120, 150)), "JPEG", progressive=True)
    positions = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xDA]
    start, stop = positions[-2], positions[-1]
    return data[:stop] + data[start:stop] * scans + data[stop:]


def _many_frame_gif(frames: int = 1_000) -> bytes:
    """A 128×96 GIF of ``frames`` frames, each different (so none is merged away)."""
    first = _photo().convert("P")
    images = []
    for i in range(frames):
        frame = first.copy()
        frame.putpixel((i % 128, (i // 128) % 96), i % 200)
        images.append(frame)
    return _encode(first, "GIF", save_all=True, append_images=images, duration=20)


def _many_frame_tiff(frames: int = 300) -> bytes:
    """A TIFF of ``frames`` pages (Pillow walks its IFD chain to count them)."""
    first = _photo()
    pages = [Image.new("L", (8, 8), i % 256) for i in range(frames)]
    return _encode(first, "TIFF", save_all=True, append_images=pages)


def _huge_exif_jpeg() -> bytes:
    """A JPEG with the largest EXIF block one segment allows (64 KB) and bogus IFD counts."""
    exif = Image.Exif()
    exif[0x010E] = "x" * 60_000  # ImageDescription
    exif[0x0112] = 6  # orientation: rotate
    return _encode(_photo(), "JPEG", exif=exif.tobytes())


def _huge_icc_jpeg() -> bytes:
    """A JPEG carrying a 4 MB (garbage) ICC profile split over 64 APP2 segments."""
    return _encode(_photo(), "JPEG", icc_profile=b"\x00" * 4_000_000)


def _huge_exif_png() -> bytes:
    """A PNG with a 4 MB eXIf chunk."""
    return _png_with(png_chunk(b"eXIf", b"MM\x00\x2a\x00\x00\x00\x08" + b"\xff" * 4_000_000))


def _iccp_bomb() -> bytes:
    """A PNG whose iCCP profile inflates to 64 MB."""
    return _png_with(png_chunk(b"iCCP", b"bomb\x00\x00" + _zlib_bomb()))


def _ztxt_bomb(*, before_idat: bool) -> bytes:
    """A PNG whose zTXt text inflates to 64 MB."""
    return _png_with(png_chunk(b"zTXt", b"Comment\x00\x00" + _zlib_bomb()), before_idat=before_idat)


def _itxt_bomb() -> bytes:
    """A PNG whose compressed iTXt text inflates to 64 MB."""
    body = b"Comment\x00\x01\x00\x00\x00" + _zlib_bomb()
    return _png_with(png_chunk(b"iTXt", body))


def _many_text_chunks() -> bytes:
    """A PNG with 2,000 zTXt chunks of 64 KB inflated each (128 MB of text)."""
    chunk = png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"a" * 65_536, 9))
    return _png_with(*([chunk] * 2_000))


def _truncated(fmt: str, **params: Any) -> bytes:
    data = _encode(_photo(320, 240), fmt, **params)
    return data[: len(data) // 2]


def _corrupt_png() -> bytes:
    """A PNG whose image data is noise (CRC fixed up so only the inflate fails)."""
    data = bytearray(_encode(_photo(), "PNG"))
    start = data.index(b"IDAT") + 4
    length = struct.unpack(">I", data[start - 8 : start - 4])[0]
    rng = np.random.default_rng(5)
    data[start : start + length] = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
    crc = zlib.crc32(bytes(data[start - 4 : start + length]))
    data[start + length : start + length + 4] = struct.pack(">I", crc)
    return bytes(data)


def _png_zip_polyglot() -> bytes:
    """A valid PNG with a ZIP archive appended (a file that is both)."""
    archive = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("payload.html", "<script>alert(1)</script>")
    return _encode(_photo(), "PNG") + archive.getvalue()


def _gif_html_polyglot() -> bytes:
    """A GIF whose comment carries HTML and script."""
    return _encode(_photo().convert("P"), "GIF", comment=b"<html><script>alert(1)</script>")


def _jpeg_html_polyglot() -> bytes:
    """HTML up front, a JPEG after it: not an image by its first bytes."""
    return b"<html><script>alert(1)</script></html>" + _encode(_photo(), "JPEG")


def _svg() -> bytes:
    return b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect/></svg>'


#: (kind, builder, upload name, expected code or None for a cutout)
_CORPUS: list[tuple[str, Callable[[], bytes], str, str | None]] = [
    ("bomb: PNG 20000x20000", _png_bomb, "bomb.png", "resolution_too_high"),
    ("bomb: TIFF 12000x12000", _tiff_bomb, "bomb.tiff", "resolution_too_high"),
    ("bomb: GIF 65535x65535", _gif_bomb, "bomb.gif", "resolution_too_high"),
    ("bomb: BMP 30000x30000", _bmp_bomb, "bomb.bmp", "resolution_too_high"),
    ("bomb: JPEG 65000x65000", _jpeg_bomb, "bomb.jpg", "resolution_too_high"),
    ("bomb: WebP 16384x16384", _webp_bomb, "bomb.webp", "resolution_too_high"),
    ("bomb: HEIF 30000x30000", _heif_bomb, "bomb.heic", "resolution_too_high"),
    (
        "header: PNG 1x49000000",
        lambda: png_header_only(1, 49_000_000),
        "strip.png",
        "aspect_ratio_too_high",
    ),
    (
        "header: PNG 100000x100000",
        lambda: png_header_only(100_000, 100_000),
        "huge.png",
        "resolution_too_high",
    ),
    (
        "strip: PNG 1x1000000",
        lambda: _encode(Image.new("RGB", (1, 1_000_000), (90, 90, 90)), "PNG"),
        "strip.png",
        "aspect_ratio_too_high",
    ),
    (
        "strip: PNG 1000000x1",
        lambda: _encode(Image.new("RGB", (1_000_000, 1), (90, 90, 90)), "PNG"),
        "strip.png",
        "aspect_ratio_too_high",
    ),
    ("truncated: JPEG", lambda: _truncated("JPEG", quality=90), "cut.jpg", "failed_to_read_image"),
    ("truncated: PNG", lambda: _truncated("PNG"), "cut.png", "failed_to_read_image"),
    ("truncated: WebP", lambda: _truncated("WEBP", quality=90), "cut.webp", "failed_to_read_image"),
    ("corrupt: PNG data", _corrupt_png, "noise.png", "failed_to_read_image"),
    ("zlib bomb: iCCP", _iccp_bomb, "iccp.png", "metadata_too_large"),
    (
        "zlib bomb: zTXt before IDAT",
        lambda: _ztxt_bomb(before_idat=True),
        "ztxt.png",
        "metadata_too_large",
    ),
    (
        "zlib bomb: zTXt after IDAT",
        lambda: _ztxt_bomb(before_idat=False),
        "ztxt2.png",
        "metadata_too_large",
    ),
    ("zlib bomb: iTXt", _itxt_bomb, "itxt.png", "metadata_too_large"),
    ("2000 zTXt chunks", _many_text_chunks, "texts.png", "metadata_too_large"),
    ("progressive JPEG, 1000 scans", _many_scan_jpeg, "scans.jpg", "too_many_scans"),
    ("GIF, 1000 frames", _many_frame_gif, "frames.gif", None),
    ("TIFF, 300 frames", _many_frame_tiff, "frames.tiff", None),
    ("huge EXIF: JPEG 60 KB", _huge_exif_jpeg, "exif.jpg", None),
    ("huge ICC: JPEG 4 MB", _huge_icc_jpeg, "icc.jpg", None),
    ("huge EXIF: PNG 4 MB", _huge_exif_png, "exif.png", None),
    ("polyglot: PNG+ZIP", _png_zip_polyglot, "poly.png", None),
    ("polyglot: GIF+HTML", _gif_html_polyglot, "poly.gif", None),
    ("polyglot: HTML+JPEG", _jpeg_html_polyglot, "poly.jpg", "invalid_file_type"),
    ("SVG", _svg, "image.svg", "invalid_file_type"),
    ("wrong extension: PNG as .jpg", lambda: _encode(_photo(), "PNG"), "photo.jpg", None),
    ("wrong extension: JPEG as .gif", lambda: _encode(_photo(), "JPEG"), "photo.gif", None),
]

KINDS = [kind for kind, _, _, _ in _CORPUS]


@functools.cache
def hostile(kind: str) -> Hostile:
    """The corpus entry ``kind`` (built on first use, then cached)."""
    for name, build, filename, code in _CORPUS:
        if name == kind:
            return Hostile(kind=name, data=build(), filename=filename, code=code)
    raise KeyError(kind)
