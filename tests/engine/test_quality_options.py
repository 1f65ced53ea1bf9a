"""The optional extra passes (zoom_pass, flip_average) and the PNG the pipeline writes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from clearcutout import CutoutOptions, Remover
from clearcutout.engine.encode import encode_png
from clearcutout.errors import InvalidOptionError
from tests.support.engine import BALL_CENTRE, SKY_CORNER


@pytest.mark.parametrize(
    ("flip_average", "zoom_pass"), [(False, False), (True, False), (False, True), (True, True)]
)
def test_extra_passes_still_cut_out_the_subject(
    remover: Remover, sample_jpeg: bytes, flip_average: bool, zoom_pass: bool
) -> None:
    options = CutoutOptions(flip_average=flip_average, zoom_pass=zoom_pass)
    image = remover.process(sample_jpeg, options).image
    alpha = np.asarray(image.getchannel("A"))
    assert alpha[BALL_CENTRE[1], BALL_CENTRE[0]] > 200
    assert alpha[SKY_CORNER[1], SKY_CORNER[0]] < 30


@pytest.mark.parametrize("name", ["flip_average", "zoom_pass"])
def test_extra_pass_options_must_be_booleans(name: str) -> None:
    with pytest.raises(InvalidOptionError):
        CutoutOptions(**{name: "yes"})


def test_fully_transparent_pixels_keep_no_background_colour(
    remover: Remover, sample_jpeg: bytes
) -> None:
    data = remover.process(sample_jpeg, CutoutOptions()).encode().data
    rgba = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    transparent = rgba[:, :, 3] == 0
    assert transparent.any()
    assert not rgba[transparent][:, :3].any()


@pytest.mark.parametrize(("mode", "channels"), [("L", 1), ("RGB", 3), ("RGBA", 4)])
@pytest.mark.parametrize("height", [1, 7, 1500])
def test_png_writer_round_trips_pixels_exactly(mode: str, channels: int, height: int) -> None:
    rng = np.random.default_rng(height)
    shape = (height, 701, channels) if channels > 1 else (height, 701)
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    pixels[: height // 2] = 0  # runs of zeros and noise, as in a cutout
    decoded = Image.open(io.BytesIO(encode_png(Image.fromarray(pixels, mode))))
    assert decoded.mode == mode
    assert np.array_equal(np.asarray(decoded), pixels)
    assert not decoded.info  # nothing but pixels
