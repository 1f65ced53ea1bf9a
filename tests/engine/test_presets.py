"""Quality presets: the recipes, how an explicit model overrides them, the sharpening,
the ``quality`` option, and the pipeline running a recipe (with U²-Netp, never ISNet)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from clearcutout.config import EngineSettings
from clearcutout.engine import CutoutOptions, Remover
from clearcutout.engine.options import options_from_fields, options_schema
from clearcutout.engine.presets import (
    DEFAULT_QUALITY,
    PRESETS,
    QUALITIES,
    ModelPass,
    Recipe,
    preset_models,
    recipe_for,
    sharpen,
)
from clearcutout.errors import InvalidOptionError, UnknownModelError


def test_three_presets_balanced_by_default() -> None:
    assert QUALITIES == ("fast", "balanced", "best")
    assert set(PRESETS) == set(QUALITIES)
    assert DEFAULT_QUALITY == "balanced"
    assert EngineSettings().default_quality == "balanced"
    assert preset_models("fast") == ("u2net-int8",)
    assert preset_models("balanced") == ("isnet-general-use",)
    assert preset_models("best") == ("isnet-general-use",)
    best = PRESETS["best"].recipe
    assert best.flip_average and not best.zoom_pass and best.edge_contrast == 3.0


def test_without_model_or_quality_the_default_preset_applies() -> None:
    assert recipe_for(None, model=None) == PRESETS[DEFAULT_QUALITY].recipe


def test_an_explicit_model_replaces_the_models_and_keeps_the_passes() -> None:
    recipe = recipe_for("best", model="u2netp")
    assert recipe.models == (ModelPass("u2netp"),)
    assert recipe.flip_average and not recipe.zoom_pass  # best's passes
    # An edge contrast is tuned for the preset's models, so it goes with them.
    sharpened = Recipe(models=(ModelPass("u2net-int8"),), edge_contrast=2.0)
    assert sharpened.edge_contrast == 2.0
    assert recipe.edge_contrast == 1.0


def test_naming_the_presets_own_first_model_is_no_override() -> None:
    assert recipe_for("best", model="isnet-general-use") == PRESETS["best"].recipe


def test_an_explicit_model_without_quality_is_the_plain_pipeline() -> None:
    recipe = recipe_for(None, model="u2net", refine=False, zoom_pass=True)
    assert recipe == Recipe(models=(ModelPass("u2net"),), zoom_pass=True, refine=False)


def test_option_flags_add_passes_and_can_turn_refinement_off() -> None:
    recipe = recipe_for("fast", model=None, flip_average=True, zoom_pass=True, refine=False)
    assert recipe.flip_average and recipe.zoom_pass and not recipe.refine
    assert recipe.models == PRESETS["fast"].recipe.models


def test_sharpen_keeps_the_ends_and_the_middle_and_pushes_mid_alphas_apart() -> None:
    alpha = np.array([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0], dtype=np.float32)
    sharpened = sharpen(alpha, 2.0)
    assert sharpened.dtype == np.float32
    np.testing.assert_allclose(sharpened[[0, 3, 6]], [0.0, 0.5, 1.0], atol=1e-6)
    assert sharpened[1] < alpha[1] and sharpened[2] < alpha[2]
    assert sharpened[4] > alpha[4] and sharpened[5] > alpha[5]
    assert np.all(np.diff(sharpened) > 0)  # still monotonic: soft edges stay soft
    np.testing.assert_allclose(sharpened[2], 0.09 / (0.09 + 0.49), rtol=1e-5)
    assert sharpen(alpha, 1.0) is alpha


def test_quality_option_accepts_the_presets_and_refuses_others() -> None:
    assert CutoutOptions().quality is None
    assert CutoutOptions(quality="best").quality == "best"
    with pytest.raises(InvalidOptionError) as caught:
        CutoutOptions(quality="ultra")  # type: ignore[arg-type]
    assert caught.value.code == "invalid_quality"
    assert options_from_fields({"quality": "FAST"}).quality == "fast"
    assert options_from_fields({"quality": ""}).quality is None
    assert options_from_fields({"quality": "best"}, dialect="removebg").quality == "best"
    schema = options_schema()["quality"]
    assert schema["enum"] == ["fast", "balanced", "best"]
    assert "quality" in options_schema("removebg")


# -- the pipeline runs the recipe -----------------------------------------------------------


def test_an_ensemble_of_one_model_twice_is_that_model(
    remover: Remover, sample_rgb: NDArray[np.uint8]
) -> None:
    single = Recipe(models=(ModelPass("u2netp"),))
    twice = Recipe(models=(ModelPass("u2netp", 2.0), ModelPass("u2netp", 1.0)))
    np.testing.assert_allclose(
        remover._small_matte(sample_rgb, twice), remover._small_matte(sample_rgb, single), atol=1e-5
    )
    sharpened = Recipe(models=single.models, edge_contrast=2.0)
    np.testing.assert_allclose(
        remover._small_matte(sample_rgb, sharpened),
        sharpen(remover._small_matte(sample_rgb, single), 2.0),
        atol=1e-6,
    )


def test_a_preset_with_an_explicit_model_runs_the_presets_passes(
    remover: Remover, sample_jpeg: bytes
) -> None:
    best = remover.process(sample_jpeg, quality="best", channels="alpha").image
    flipped = remover.process(sample_jpeg, flip_average=True, channels="alpha").image
    plain = remover.process(sample_jpeg, channels="alpha").image
    assert np.array_equal(np.asarray(best), np.asarray(flipped))
    assert not np.array_equal(np.asarray(best), np.asarray(plain))


def test_a_remover_without_model_follows_the_preset(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = EngineSettings(models_dir=tmp_path, allow_model_download=False)
    remover = Remover(settings=settings)
    assert remover.model is None
    assert remover.spec.name == "isnet-general-use"
    assert remover.recipe(CutoutOptions(quality="fast")) == PRESETS["fast"].recipe
    fast = EngineSettings(models_dir=tmp_path, default_quality="fast")
    assert Remover(settings=fast).recipe() == PRESETS["fast"].recipe
    pinned = EngineSettings(models_dir=tmp_path, default_model="u2netp")
    assert Remover(settings=pinned).recipe(CutoutOptions(quality="best")).models == (
        ModelPass("u2netp"),
    )
    with pytest.raises(UnknownModelError):
        Remover(settings=EngineSettings(models_dir=tmp_path, default_model="u3net"))
