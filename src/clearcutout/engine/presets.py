"""Quality presets: ``fast``, ``balanced`` (the default) and ``best``, each a recipe.

A recipe says which model(s) predict the matte (and how their mattes are weighted), which
test-time passes run (mirrored photo, zoomed second pass), how mid alphas are sharpened
and whether the guided filter refines the edges. This is the one definition; the library
(``CutoutOptions(quality=…)``), the CLI (``--quality``), the job API, the web upload page
and ``/v1.0/removebg`` all name these presets. The README's quality table has the
measured figures of each.

An explicit model (``Remover("u2net")``, ``--model``, a server's ``default_model``)
overrides the preset's model choice and the tuning that belongs to those models (the
ensemble, the edge contrast); the preset's passes still run. Naming the preset's own
first model is no override (a job stores that name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

import numpy as np
from numpy.typing import NDArray

Quality = Literal["fast", "balanced", "best"]
QUALITIES: Final[tuple[str, ...]] = get_args(Quality)
DEFAULT_QUALITY: Final[Quality] = "balanced"


@dataclass(frozen=True)
class ModelPass:
    """One model of a recipe and its weight in the averaged matte."""

    model: str
    weight: float = 1.0


@dataclass(frozen=True)
class Recipe:
    """What produces a matte: models, passes, sharpening, refinement."""

    models: tuple[ModelPass, ...]
    flip_average: bool = False
    zoom_pass: bool = False
    #: Gain ``k`` of the mid-alpha sharpening ``a ↦ aᵏ / (aᵏ + (1 − a)ᵏ)`` (a sigmoid of
    #: ``k`` times the alpha's logit); 1 leaves the matte as it is.
    edge_contrast: float = 1.0
    refine: bool = True

    @property
    def primary(self) -> str:
        return self.models[0].model


@dataclass(frozen=True)
class Preset:
    name: Quality
    summary: str
    recipe: Recipe


PRESETS: Final[dict[str, Preset]] = {
    preset.name: preset
    for preset in (
        Preset(
            "fast",
            "U²-Net, static int8: about a third of U²-Net's time, close to its quality",
            Recipe(models=(ModelPass("u2net-int8"),)),
        ),
        # The int8 build of ISNet (same recipe as U²-Net's) lost the subject on dev
        # (IoU 0.23), so ISNet runs from its published weights until a build passes.
        Preset(
            "balanced",
            "ISNet general use at 1024 px: ISNet-class quality, about 3× U²-Net's time",
            Recipe(models=(ModelPass("isnet-general-use"),)),
        ),
        Preset(
            "best",
            "ISNet averaged with its look at the mirrored photo, edges sharpened",
            # Chosen on the dev set with each scene held out in turn (README, Benchmarks):
            # edge contrast 3 for every held-out scene (the averaged matte's transition is
            # wider than one look's); the zoomed second pass is left out — it lowered the
            # boundary F (0.759 → 0.750) at twice the time.
            Recipe(
                models=(ModelPass("isnet-general-use"),),
                flip_average=True,
                edge_contrast=3.0,
            ),
        ),
    )
}


def preset_models(quality: str) -> tuple[str, ...]:
    """The registry models a preset needs (what ``models pull --quality`` fetches)."""
    return tuple(step.model for step in PRESETS[quality].recipe.models)


def recipe_for(
    quality: str | None,
    *,
    model: str | None,
    refine: bool = True,
    flip_average: bool = False,
    zoom_pass: bool = False,
) -> Recipe:
    """The recipe for one cutout.

    ``quality`` None with an explicit ``model`` is the plain pipeline (that model, the
    option flags); with neither, the default preset. The option flags ``flip_average``
    and ``zoom_pass`` add their pass to any preset; ``refine=False`` turns refinement off.
    """
    if quality is None and model is not None:
        return Recipe(
            models=(ModelPass(model),),
            flip_average=flip_average,
            zoom_pass=zoom_pass,
            refine=refine,
        )
    preset = PRESETS[quality or DEFAULT_QUALITY].recipe
    if model is not None and model != preset.primary:
        preset = Recipe(
            models=(ModelPass(model),),
            flip_average=preset.flip_average,
            zoom_pass=preset.zoom_pass,
            refine=preset.refine,
        )
    return Recipe(
        models=preset.models,
        flip_average=preset.flip_average or flip_average,
        zoom_pass=preset.zoom_pass or zoom_pass,
        edge_contrast=preset.edge_contrast,
        refine=preset.refine and refine,
    )


def sharpen(alpha: NDArray[np.float32], gain: float) -> NDArray[np.float32]:
    """``aᵏ / (aᵏ + (1 − a)ᵏ)``: mid alphas pushed apart, 0, ½ and 1 kept.

    int8 models blur the matte's transition a little; this restores a steeper edge
    without snapping soft edges (hair, motion blur) to 0/1.
    """
    if gain == 1.0:
        return alpha
    clipped = np.clip(alpha, 0.0, 1.0)
    high = np.power(clipped, gain, dtype=np.float32)
    low = np.power(1.0 - clipped, gain, dtype=np.float32)
    total = high + low
    total[total == 0] = 1.0
    sharpened: NDArray[np.float32] = (high / total).astype(np.float32)
    return sharpened
