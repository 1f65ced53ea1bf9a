"""Edge refinement: the banded full-size step equals the whole-image formula; the
allocator tuning is applied once and can be switched off."""

from __future__ import annotations

import platform
import time

import cv2
import numpy as np
import pytest

from clearcutout.config import EngineSettings
from clearcutout.engine import Remover, allocator
from clearcutout.engine.refine import (
    _BLUR_FUSION_WORK_PIXELS,
    _FOREGROUND_WORK_PIXELS,
    _GUIDED_WORK_PIXELS,
    _box,
    _work_size,
    estimate_foreground,
    guided_filter,
)


def _whole_image_guided_filter(
    guide: np.ndarray, alpha: np.ndarray, work_w: int, work_h: int
) -> np.ndarray:
    """The same filter written plainly (float photo, whole-image resizes) as a reference."""
    eps, k = 1e-4, 1.5
    small = cv2.resize(guide, (work_w, work_h), interpolation=cv2.INTER_AREA).astype(np.float64)
    small /= 255.0
    p = cv2.resize(alpha, (work_w, work_h), interpolation=cv2.INTER_AREA).astype(np.float64)
    r = max(1, round(0.002 * float(np.hypot(work_w, work_h))))

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(small), box(p)
    cov = box(small * p[:, :, None]) - mean_i * mean_p[:, :, None]
    sigma = np.empty((work_h, work_w, 3, 3))
    for a in range(3):
        for b in range(3):
            sigma[:, :, a, b] = (
                box(small[:, :, a] * small[:, :, b]) - mean_i[:, :, a] * mean_i[:, :, b]
            )
    sigma += eps * np.eye(3)
    coeff = np.linalg.solve(sigma, cov[..., None])[..., 0]
    offset = mean_p - (coeff * mean_i).sum(axis=2)
    mean_coeff, mean_offset = box(coeff) * k, (box(offset) - 0.5) * k + 0.5
    height, width = alpha.shape
    full_coeff = cv2.resize(mean_coeff, (width, height), interpolation=cv2.INTER_LINEAR)
    full_offset = cv2.resize(mean_offset, (width, height), interpolation=cv2.INTER_LINEAR)
    refined = (full_coeff * (guide.astype(np.float64) / 255.0)).sum(axis=2) + full_offset
    return np.clip(refined, 0.0, 1.0)


@pytest.mark.parametrize("shape", [(1203, 901), (777, 1500), (3001, 250)])
def test_banded_full_size_step_matches_the_whole_image_formula(shape: tuple[int, int]) -> None:
    height, width = shape
    assert height * width > _GUIDED_WORK_PIXELS  # the banded path
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:height, 0:width]
    subject = (
        (yy - height / 2) ** 2 / (0.3 * height) ** 2 + (xx - width / 2) ** 2 / (0.3 * width) ** 2
    ) < 1
    guide = np.where(subject[:, :, None], [200, 60, 40], [30, 90, 160]).astype(np.float64)
    guide += rng.normal(0, 12, guide.shape)
    guide = np.clip(guide, 0, 255).astype(np.uint8)
    blurred = cv2.GaussianBlur(subject.astype(np.float32), (0, 0), 9)
    scale = (_GUIDED_WORK_PIXELS / float(height * width)) ** 0.5
    work_w, work_h = max(1, round(width * scale)), max(1, round(height * scale))

    ours = guided_filter(guide, blurred)
    reference = _whole_image_guided_filter(guide, blurred, work_w, work_h)

    assert ours.shape == (height, width) and ours.dtype == np.float32
    assert float(np.abs(ours - reference).max()) < 2e-3  # no seams between bands
    # And it refines: closer to the true edge than the blurred matte it was given.
    truth = subject.astype(np.float32)
    assert np.abs(ours - truth).mean() < 0.8 * np.abs(blurred - truth).mean()


def test_allocator_tuning_is_applied_once_on_glibc() -> None:
    first = allocator.keep_freed_buffers()
    assert allocator.keep_freed_buffers() == first
    if platform.libc_ver()[0] == "glibc":
        assert first, "glibc refused mallopt"


def test_allocator_tuning_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(
        "clearcutout.engine.pipeline.keep_freed_buffers", lambda: calls.append(True) or True
    )
    remover = Remover("u2netp", settings=EngineSettings(tune_allocator=False))
    remover.load()
    assert calls == []
    Remover("u2netp", settings=EngineSettings(tune_allocator=True)).load()
    assert calls == [True]


# ------------------------------------------------------------------- thin strips stay linear


@pytest.mark.parametrize(
    ("width", "height", "budget"),
    [
        (1, 49_000_000, _GUIDED_WORK_PIXELS),
        (49_000_000, 1, _GUIDED_WORK_PIXELS),
        (2, 10_000_000, _BLUR_FUSION_WORK_PIXELS),
        (1, 49_000_000, _FOREGROUND_WORK_PIXELS),
        (7000, 7000, _GUIDED_WORK_PIXELS),
        (4032, 3024, _FOREGROUND_WORK_PIXELS),
    ],
)
def test_the_work_size_stays_within_its_budget_even_when_a_side_is_one_pixel(
    width: int, height: int, budget: int
) -> None:
    work_w, work_h = _work_size(width, height, budget)

    assert work_w * work_h <= 1.01 * budget
    assert 1 <= work_w <= width and 1 <= work_h <= height
    # The shape is kept as far as a whole pixel allows.
    assert (work_w >= work_h) == (width >= height)


def test_an_ordinary_photo_keeps_the_work_size_plain_scaling_gives() -> None:
    scale = (_GUIDED_WORK_PIXELS / (4032 * 3024)) ** 0.5

    assert _work_size(4032, 3024, _GUIDED_WORK_PIXELS) == (round(4032 * scale), round(3024 * scale))
    assert _work_size(640, 480, _GUIDED_WORK_PIXELS) == (640, 480)


@pytest.mark.parametrize(("height", "width"), [(20_000, 1), (1, 20_000), (3000, 7), (40, 900)])
@pytest.mark.parametrize("radius", [1, 60, 5000])
def test_the_box_filter_of_a_strip_matches_opencvs_with_the_radius_capped_at_each_side(
    height: int, width: int, radius: int
) -> None:
    # A window wider than twice a side covers the reflected signal's whole period, so
    # capping the radius at the side changes only its average over repeats: compare
    # against OpenCV's own call with the same caps, on the image as given.
    rng = np.random.default_rng(height * 31 + width)
    image = rng.random((height, width), dtype=np.float32)
    size = (2 * min(radius, width) + 1, 2 * min(radius, height) + 1)
    expected = cv2.boxFilter(image, -1, size, borderType=cv2.BORDER_REFLECT)

    assert np.abs(_box(image, radius) - expected).max() < 1e-5


def test_a_box_filter_on_an_ordinary_image_is_opencvs_plain_call() -> None:
    rng = np.random.default_rng(7)
    image = rng.random((480, 640, 3), dtype=np.float32)
    expected = cv2.boxFilter(image, -1, (9, 9), borderType=cv2.BORDER_REFLECT)

    assert np.array_equal(_box(image, 4), expected)


def test_refining_a_one_pixel_wide_strip_costs_about_what_its_pixels_do() -> None:
    # 1×1,000,000 took a minute in the refinement alone (radii that follow the diagonal
    # against a one-pixel side); its pixels are a third of a 12 MP photo's.
    height = 1_000_000
    rng = np.random.default_rng(3)
    strip = rng.integers(0, 256, (height, 1, 3), dtype=np.uint8)
    small_matte = rng.random((320, 320), dtype=np.float32)
    alpha = cv2.resize(small_matte, (1, height), interpolation=cv2.INTER_LINEAR)
    started = time.perf_counter()

    refined = guided_filter(strip, small_matte)
    colours = estimate_foreground(strip, np.clip(alpha, 0.1, 0.9))

    assert time.perf_counter() - started < 20  # generous: 7 s on 2 shared cores; over 400 s before
    assert refined.shape == (height, 1)
    assert colours.shape == (height, 1, 3)
    assert float(refined.min()) >= 0.0 and float(refined.max()) <= 1.0
