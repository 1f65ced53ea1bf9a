"""A photo with nothing in it is recognised before inference; real photos never are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clearcutout.engine import Remover
from clearcutout.engine.subject import MIN_EDGE_PIXELS, edge_pixels, is_featureless
from clearcutout.errors import NoForegroundError


def plain(colour: tuple[int, int, int], size: tuple[int, int] = (480, 640)) -> np.ndarray:
    return np.full((*size, 3), colour, dtype=np.uint8)


@pytest.mark.parametrize("colour", [(255, 255, 255), (128, 128, 128), (0, 0, 0), (230, 220, 200)])
def test_plain_frames_are_featureless(colour: tuple[int, int, int]) -> None:
    assert is_featureless(plain(colour))


def test_sensor_noise_and_a_smooth_gradient_are_featureless() -> None:
    rng = np.random.default_rng(7)
    noisy = np.clip(plain((200, 200, 200)) + rng.normal(0, 8, (480, 640, 3)), 0, 255)
    assert is_featureless(noisy.astype(np.uint8))
    gradient = np.tile(np.linspace(50, 220, 640)[None, :, None], (480, 1, 3)).astype(np.uint8)
    assert is_featureless(gradient)


def test_a_small_subject_or_a_colour_only_edge_is_not_featureless() -> None:
    tiny = plain((255, 255, 255), (4000, 3000))
    tiny[2000:2060, 1500:1560] = 40  # 0.03 % of a 12 MP photo
    assert not is_featureless(tiny)
    # Red beside green of about the same brightness: no luminance edge, still a subject.
    halves = plain((0, 150, 0))
    halves[:, 320:] = (255, 60, 40)
    assert not is_featureless(halves)


def test_no_photo_of_the_development_set_is_featureless(dev_set: Path) -> None:
    counts = {
        path.name: edge_pixels(np.asarray(Image.open(path).convert("RGB")))
        for path in sorted((dev_set / "images").iterdir())
    }
    assert len(counts) >= 50
    assert min(counts.values()) > 100 * MIN_EDGE_PIXELS, min(counts.items(), key=lambda i: i[1])


def test_require_subject_refuses_a_blank_photo_before_inference(remover: Remover) -> None:
    blank = Image.fromarray(plain((255, 255, 255)))
    with pytest.raises(NoForegroundError):
        remover.process(blank, require_subject=True)
    # Without the flag (the library, the CLI) the photo is processed as before.
    assert remover.process(blank).width == 640
