"""Quality regression on the evaluation set: default settings must keep their IoU.

Each bar is about rembg's figure with the same weights on the same set (README,
Benchmarks): 0.721 (U²-Netp), 0.782 (U²-Net); ISNet with its reference preprocessing 0.798.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clearcutout.config import EngineSettings
from clearcutout.engine import CutoutOptions, Remover


def mean_iou(remover: Remover, dev_set: Path) -> float:
    scores = []
    for image_path in sorted((dev_set / "images").glob("*.jpg")):
        with Image.open(dev_set / "masks" / f"{image_path.stem}.png") as mask_image:
            truth = np.asarray(mask_image.convert("L")) >= 128
        matte = remover.remove(image_path, CutoutOptions(channels="alpha"))
        predicted = np.asarray(matte) >= 128
        union = np.logical_or(predicted, truth).sum()
        scores.append(np.logical_and(predicted, truth).sum() / union if union else 1.0)
    assert len(scores) >= 10, "the evaluation set has too few images"
    return float(np.mean(scores))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "minimum"),
    [("u2netp", 0.72), ("u2net", 0.78), ("isnet-general-use", 0.79)],
)
def test_default_settings_reach_the_quality_bar(
    model: str, minimum: float, dev_set: Path, engine_settings: EngineSettings
) -> None:
    remover = Remover(model, settings=engine_settings)
    assert mean_iou(remover, dev_set) >= minimum
