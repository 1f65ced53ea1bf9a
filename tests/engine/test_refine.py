"""Edge refinement: the banded full-size step equals the whole-image formula; the
allocator tuning is applied once and can be switched off."""

from __future__ import annotations

import platform

import cv2
import numpy as np
import pytest

from clearcutout.config import EngineSettings
from clearcutout.engine import Remover, allocator
from clearcutout.engine.refine import _GUIDED_WORK_PIXELS, guided_filter


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
