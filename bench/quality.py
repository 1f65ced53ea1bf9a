"""Cutout quality on image/mask pairs: our engine (default, and refinement off) vs rembg.

Folder layout: ``images/NAME.jpg`` + ``masks/NAME.png`` (8-bit, 255 = foreground). A
scene is the name before its last ``_`` (``davis16_camel_00012`` → ``davis16_camel``);
frames of a scene are correlated, so per-scene means are reported beside the overall
per-image means.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from bench.metrics import score
from bench.rembg_env import RembgWorker
from clearcutout import CutoutOptions, Remover

METRICS = ("iou", "mae", "boundary_f", "sad", "grad")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


@dataclass(frozen=True)
class Pair:
    name: str
    image: Path
    mask: Path

    @property
    def scene(self) -> str:
        return self.name.rsplit("_", 1)[0] if "_" in self.name else self.name


def find_pairs(folder: Path) -> list[Pair]:
    pairs = []
    for image in sorted((folder / "images").iterdir()):
        mask = folder / "masks" / f"{image.stem}.png"
        if image.suffix.lower() in IMAGE_SUFFIXES and mask.exists():
            pairs.append(Pair(image.stem, image, mask))
    if not pairs:
        raise SystemExit(f"no images/NAME + masks/NAME.png pairs under {folder}")
    return pairs


def load_truth(pair: Pair) -> np.ndarray:
    with Image.open(pair.mask) as mask:
        return np.asarray(mask.convert("L"), dtype=np.float32) / 255.0


def our_alpha(remover: Remover, pair: Pair, options: CutoutOptions) -> np.ndarray:
    cutout = remover.process(pair.image, options.replace(channels="alpha"))
    return np.asarray(cutout.image.convert("L"), dtype=np.float32) / 255.0


def summarise(per_image: dict[str, dict[str, float]], pairs: list[Pair]) -> dict[str, object]:
    scenes: dict[str, list[str]] = {}
    for pair in pairs:
        scenes.setdefault(pair.scene, []).append(pair.name)

    def mean(names: list[str]) -> dict[str, float]:
        out = {}
        for metric in METRICS:
            values = [per_image[n][metric] for n in names if metric in per_image[n]]
            if values:
                out[metric] = float(np.mean(values))
        return out

    per_scene = {scene: mean(names) for scene, names in scenes.items()}
    overall = mean([p.name for p in pairs])
    overall["min_scene_iou"] = min(s["iou"] for s in per_scene.values())
    return {"overall": overall, "per_scene": per_scene, "per_image": per_image}


def variants(model: str) -> dict[str, CutoutOptions]:
    """Our engine's settings under test: the defaults, refinement off, the extra passes.

    Flip averaging is shown for U²-Netp only: with U²-Net it gained +0.003 IoU on dev
    and cost one scene 0.03, not worth a second inference.
    """
    chosen = {
        "ours": CutoutOptions(),
        "ours, refinement off": CutoutOptions(
            refine=False, foreground_estimation=False, flip_average=False, zoom_pass=False
        ),
        "ours + zoom_pass": CutoutOptions(zoom_pass=True),
    }
    if model == "u2netp":
        chosen["ours + zoom_pass + flip_average"] = CutoutOptions(zoom_pass=True, flip_average=True)
    return chosen


def run(
    model: str,
    data: Path,
    *,
    rembg: RembgWorker | None,
    remover: Remover,
) -> dict[str, dict[str, object]]:
    """Scores per method: ``ours``, ``ours-raw`` and (when given a worker) ``rembg``."""
    pairs = find_pairs(data)
    truths = {pair.name: load_truth(pair) for pair in pairs}
    results: dict[str, dict[str, object]] = {}
    for label, options in variants(model).items():
        per_image = {
            pair.name: score(our_alpha(remover, pair, options), truths[pair.name]) for pair in pairs
        }
        results[label] = summarise(per_image, pairs)
    if rembg is not None:
        with tempfile.TemporaryDirectory(prefix="clearcutout-bench-") as tmp:
            rembg.masks([pair.image for pair in pairs], Path(tmp))
            per_image = {}
            for pair in pairs:
                with Image.open(Path(tmp) / f"{pair.name}.png") as mask:
                    alpha = np.asarray(mask.convert("L"), dtype=np.float32) / 255.0
                per_image[pair.name] = score(alpha, truths[pair.name])
        results["rembg"] = summarise(per_image, pairs)
    return results
