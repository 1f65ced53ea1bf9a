"""The quality presets beside rembg (U²-Net and ISNet): quality and seconds per image,
and leave-one-scene-out figures for the presets' tuned knobs.

Every method sees the same photos at full size and is scored on the same masks. Times
are wall-clock seconds per photo, bytes in → matte out (ours: ``Remover.process``;
rembg: ``remove(only_mask=True)`` in its own long-lived process, the pipe's cost
included), the median over the photos (all dev photos are 854×480; ``--every N`` takes
every N-th photo only, a quick look on a busy machine, not the README's figures).

Every figure of a preset comes from the pipeline itself (``Remover.process``, zoomed pass
included) on every photo. The leave-one-scene-out search needs many recipes per photo, so it
scores them from cached model outputs combined exactly as the pipeline combines them
(``_combine`` mirrors ``Remover._small_matte`` + the guided filter; :func:`run` checks the
two agree on recipes without a zoomed pass). A held-out photo is then scored by the
pipeline with the recipe chosen on the other nine scenes, so "left-out" and "dev" are the
same measurement whenever the choices agree.

Leave-one-scene-out: the knobs a preset was tuned with (the edge contrast, and for an
ensemble the models' weights) are chosen again ten times, each time on nine scenes,
and scored on the tenth; the left-out figure pools those scores. The model outputs are
computed once and cached (``bench/.cache/``), so the search costs no inference.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from bench.metrics import score
from bench.quality import Pair, find_pairs, load_truth, summarise
from bench.rembg_env import RembgWorker
from clearcutout import CutoutOptions, Remover
from clearcutout.engine.presets import PRESETS, ModelPass, Recipe, sharpen
from clearcutout.engine.refine import guided_filter

CACHE = Path(__file__).resolve().parent / ".cache"
#: The knob values the leave-one-scene-out search chooses among.
CONTRASTS = (1.0, 2.0, 3.0)
ISNET_SHARES = (0.5, 2 / 3, 1.0)


def _alpha_of(image: Image.Image) -> NDArray[np.float32]:
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def ours(
    label: str,
    remover: Remover,
    options: CutoutOptions,
    pairs: list[Pair],
    truths: dict[str, NDArray[np.float32]],
) -> dict[str, Any]:
    """Quality and seconds per photo of one of our settings, through the pipeline."""
    remover.load(options)
    per_image: dict[str, dict[str, float]] = {}
    seconds = []
    cpu_seconds = []
    alphas: dict[str, NDArray[np.float32]] = {}
    for pair in pairs:
        data = pair.image.read_bytes()
        started, cpu_started = time.perf_counter(), time.process_time()
        cutout = remover.process(data, options.replace(channels="alpha"))
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu_started)
        alphas[pair.name] = _alpha_of(cutout.image)
        per_image[pair.name] = score(alphas[pair.name], truths[pair.name])
    print(
        f"  {label}: {statistics.median(seconds):.3f} s/photo, "
        f"{statistics.median(cpu_seconds):.3f} CPU-s/photo",
        flush=True,
    )
    return {
        **summarise(per_image, pairs),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "alphas": alphas,
    }


def rembg(
    worker: RembgWorker, pairs: list[Pair], truths: dict[str, NDArray[np.float32]]
) -> dict[str, Any]:
    per_image: dict[str, dict[str, float]] = {}
    seconds = []
    with tempfile.TemporaryDirectory(prefix="clearcutout-bench-") as tmp:
        for pair in pairs:
            started = time.perf_counter()
            worker.masks([pair.image], Path(tmp))
            seconds.append(time.perf_counter() - started)
            with Image.open(Path(tmp) / f"{pair.name}.png") as mask:
                per_image[pair.name] = score(_alpha_of(mask), truths[pair.name])
    return {**summarise(per_image, pairs), "seconds": seconds}


# -- leave one scene out --------------------------------------------------------------------


def _cached(
    remover: Remover, model: str, pair: Pair, rgb: NDArray[np.uint8], *, mirrored: bool = True
) -> NDArray[Any]:
    """The model's S×S matte of the photo and (``mirrored``) of its mirror image, stacked;
    each is computed once and cached."""
    path = remover._runner_for(model).path
    key = hashlib.sha256(f"{path.stat().st_size}:{pair.name}".encode()).hexdigest()[:16]
    looks = ["plain", "mirrored"] if mirrored else ["plain"]
    mattes = []
    for look in looks:
        target = CACHE / f"{model}-{key}-{look}.npy"
        if target.exists():
            mattes.append(np.load(target))
            continue
        runner = remover._runner_for(model)
        if look == "plain":
            matte = runner.predict(rgb)
        else:
            mirror = runner.predict(np.ascontiguousarray(rgb[:, ::-1]))
            matte = np.ascontiguousarray(mirror[:, ::-1])
        CACHE.mkdir(exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.partial.npy")
        np.save(partial, matte)
        partial.replace(target)  # another run reading the cache never sees half a file
        mattes.append(matte)
    return np.stack(mattes)


def _combine(
    mattes: dict[str, NDArray[Any]], recipe: Recipe, rgb: NDArray[np.uint8]
) -> NDArray[np.float32]:
    """What the pipeline does with the models' mattes (see ``Remover._small_matte``)."""
    total: NDArray[np.float32] | None = None
    weights = 0.0
    for step in recipe.models:
        looks = mattes[step.model]
        small = (looks[0] + looks[1]) * 0.5 if recipe.flip_average else looks[0]
        if total is None:
            total = small * np.float32(step.weight)
        else:
            if small.shape != total.shape:
                small = cv2.resize(small, total.shape[::-1], interpolation=cv2.INTER_LINEAR)
            total = total + small * np.float32(step.weight)
        weights += step.weight
    assert total is not None
    mean = (total * np.float32(1.0 / weights)).astype(np.float32)
    small_alpha = sharpen(mean, recipe.edge_contrast)
    return _as_8bit(guided_filter(rgb, small_alpha))


def _as_8bit(alpha: NDArray[Any]) -> NDArray[Any]:
    """``alpha`` at the 256 levels the pipeline's output keeps."""
    return np.round(np.clip(alpha, 0, 1) * 255) / 255.0


def _candidates(preset: str) -> dict[str, Recipe]:
    base = PRESETS[preset].recipe
    found: dict[str, Recipe] = {"preset": base}
    shares: Iterable[float] = ISNET_SHARES if len(base.models) > 1 else (1.0,)
    for share in shares:
        models = (
            (ModelPass(base.models[0].model, share), ModelPass(base.models[1].model, 1 - share))
            if len(base.models) > 1 and share < 1.0
            else (ModelPass(base.models[0].model),)
        )
        for contrast in CONTRASTS:
            recipe = Recipe(
                models=models,
                flip_average=base.flip_average,
                zoom_pass=base.zoom_pass,
                edge_contrast=contrast,
                refine=base.refine,
            )
            if recipe not in found.values():
                found[f"share={share:.2f} contrast={contrast:g}"] = recipe
    return found


def pipeline_alpha(remover: Remover, rgb: NDArray[np.uint8], recipe: Recipe) -> NDArray[Any]:
    """The pipeline's alpha for ``recipe`` on a whole photo, at 8-bit levels: what
    ``Remover.process`` returns for a photo without ROI or alpha of its own."""
    return _as_8bit(remover.alpha_for(rgb, recipe))


def _load_rgb(pair: Pair) -> NDArray[np.uint8]:
    with Image.open(pair.image) as image:
        return np.asarray(image.convert("RGB"))


def leave_one_scene_out(
    remover: Remover,
    preset: str,
    pairs: list[Pair],
    photos: dict[str, NDArray[np.uint8]],
    truths: dict[str, NDArray[np.float32]],
    pipeline_scores: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """Per held-out scene, the knobs chosen on the other scenes and the pipeline's scores
    there with them.

    The choice maximises mean IoU + mean boundary F over the nine scenes' photos (scored
    from cached model outputs); ``pipeline_scores`` are the preset's own pipeline scores.
    """
    candidates = _candidates(preset)
    scores: dict[str, dict[str, dict[str, float]]] = {label: {} for label in candidates}
    for pair in pairs:
        rgb = photos[pair.name]
        models = {step.model for recipe in candidates.values() for step in recipe.models}
        flip = any(recipe.flip_average for recipe in candidates.values())
        mattes = {model: _cached(remover, model, pair, rgb, mirrored=flip) for model in models}
        for label, recipe in candidates.items():
            scores[label][pair.name] = score(_combine(mattes, recipe, rgb), truths[pair.name])
    scenes = sorted({pair.scene for pair in pairs})
    held_out: dict[str, dict[str, float]] = {}
    chosen: dict[str, str] = {}

    def objective(label: str, names: list[str]) -> float:
        return float(
            np.mean([scores[label][n]["iou"] for n in names])
            + np.mean([scores[label][n]["boundary_f"] for n in names])
        )

    def same_as_preset(label: str) -> bool:
        return candidates[label] == candidates["preset"]

    for scene in scenes:
        train = [p.name for p in pairs if p.scene != scene]
        best = max(candidates, key=lambda label: objective(label, train))
        chosen[scene] = best
        for pair in pairs:
            if pair.scene != scene:
                continue
            if same_as_preset(best):
                held_out[pair.name] = pipeline_scores[pair.name]
            else:
                alpha = pipeline_alpha(remover, photos[pair.name], candidates[best])
                held_out[pair.name] = score(alpha, truths[pair.name])
    on_all = max(candidates, key=lambda label: objective(label, [p.name for p in pairs]))
    return {
        "left_out": summarise(held_out, pairs),
        "chosen_per_scene": {
            scene: "preset" if same_as_preset(label) else label for scene, label in chosen.items()
        },
        "chosen_on_all": "preset" if same_as_preset(on_all) else on_all,
        "candidates": {label: summarise(scores[label], pairs)["overall"] for label in scores},
    }


def run(
    data: Path,
    *,
    rembg_u2net: RembgWorker,
    rembg_isnet: RembgWorker,
    every: int = 1,
) -> dict[str, Any]:
    pairs = find_pairs(data)[::every]
    truths = {pair.name: load_truth(pair) for pair in pairs}
    photos = {pair.name: _load_rgb(pair) for pair in pairs}
    remover = Remover()
    methods: dict[str, Any] = {}
    tuned: dict[str, Any] = {}
    baseline = ours("ours u2net", Remover("u2net"), CutoutOptions(), pairs, truths)
    baseline.pop("alphas")
    methods["ours u2net (no preset)"] = baseline
    for preset in PRESETS:
        measured = ours(preset, remover, CutoutOptions(quality=preset), pairs, truths)  # type: ignore[arg-type]
        recipe = PRESETS[preset].recipe
        if not recipe.zoom_pass:
            # The cached path must be the pipeline: the same alphas, photo by photo.
            for pair in pairs:
                rgb = photos[pair.name]
                mattes = {
                    step.model: _cached(
                        remover, step.model, pair, rgb, mirrored=recipe.flip_average
                    )
                    for step in recipe.models
                }
                cached = _combine(mattes, recipe, rgb)
                difference = float(np.abs(cached - measured["alphas"][pair.name]).max())
                assert difference <= 1.5 / 255, (preset, pair.name, difference)
        measured.pop("alphas")
        methods[preset] = measured
        tuned[preset] = leave_one_scene_out(
            remover, preset, pairs, photos, truths, measured["per_image"]
        )
    methods["rembg u2net"] = rembg(rembg_u2net, pairs, truths)
    print(f"  rembg u2net: {statistics.median(methods['rembg u2net']['seconds']):.3f} s/photo")
    methods["rembg isnet-general-use"] = rembg(rembg_isnet, pairs, truths)
    print(
        "  rembg isnet: "
        f"{statistics.median(methods['rembg isnet-general-use']['seconds']):.3f} s/photo"
    )
    return {"methods": methods, "leave_one_scene_out": tuned, "photos": len(pairs)}


def table(result: dict[str, Any]) -> str:
    methods = result["methods"]
    loso = result.get("leave_one_scene_out", {})
    ours_u2net = methods["ours u2net (no preset)"]
    reference = statistics.median(ours_u2net["cpu_seconds"])
    lines = [
        "Presets and rembg on the dev set: mean over photos; left-out = leave-one-scene-out "
        "(knobs chosen on the other nine scenes); s/photo = median wall-clock seconds; "
        "CPU-s = median CPU seconds of the process per photo (robust to a busy machine)",
        "",
        "| method | IoU | MAE | boundary F | left-out IoU | left-out MAE | left-out BF "
        "| s/photo | CPU-s/photo | CPU × our U²-Net |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r in methods.items():
        o = r["overall"]
        seconds = statistics.median(r["seconds"])
        cpu = statistics.median(r["cpu_seconds"]) if "cpu_seconds" in r else None
        held = loso.get(label, {}).get("left_out", {}).get("overall")
        left = (
            f"{held['iou']:.3f} | {held['mae']:.4f} | {held['boundary_f']:.3f}"
            if held
            else "– | – | –"
        )
        cpu_cells = "– | –" if cpu is None else f"{cpu:.3f} | {cpu / reference:.2f}×"
        lines.append(
            f"| {label} | {o['iou']:.3f} | {o['mae']:.4f} | {o['boundary_f']:.3f} | {left} | "
            f"{seconds:.3f} | {cpu_cells} |"
        )
    for preset, r in loso.items():
        lines.append("")
        lines.append(
            f"{preset}: chosen on all scenes {r['chosen_on_all']}; per held-out scene: "
            + ", ".join(f"{s.split('_', 1)[-1]} {c}" for s, c in r["chosen_per_scene"].items())
        )
    return "\n".join(lines)
