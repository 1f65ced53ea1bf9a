"""The cutout pipeline: decode → predict → refine → decontaminate → compose → encode.

:class:`Remover` holds one model (its ONNX Runtime session is shared process-wide) and
turns any supported input into a :class:`Cutout`. Everything is NumPy ``uint8`` until the
model's normalisation and after the matte is final; PIL is used only to decode and
encode.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias, Unpack

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from clearcutout.config import EngineSettings
from clearcutout.engine.allocator import keep_freed_buffers
from clearcutout.engine.compose import Composition, compose
from clearcutout.engine.decode import DecodedImage, check_pixel_limit, decode_image, decode_pil
from clearcutout.engine.encode import EncodedImage, encode
from clearcutout.engine.geometry import Box
from clearcutout.engine.models import ModelSpec, custom_spec, get_spec
from clearcutout.engine.options import CutoutOptions, OptionChanges, parse_roi, target_dimensions
from clearcutout.engine.presets import PRESETS, Recipe, recipe_for, sharpen
from clearcutout.engine.refine import estimate_foreground, guided_filter
from clearcutout.engine.session import ModelRunner, get_runner
from clearcutout.engine.store import ModelStore
from clearcutout.engine.subject import is_featureless
from clearcutout.errors import (
    FileTooLargeError,
    InvalidOptionError,
    ModelUnavailableError,
    NoForegroundError,
)

ImageInput: TypeAlias = (
    "str | Path | bytes | bytearray | memoryview | Image.Image | NDArray[np.uint8]"
)


@dataclass(frozen=True)
class Timings:
    """Seconds spent in each stage (reported by the benchmarks and stored on jobs)."""

    decode: float = 0.0
    inference: float = 0.0
    refine: float = 0.0
    compose: float = 0.0

    @property
    def total(self) -> float:
        return self.decode + self.inference + self.refine + self.compose


@dataclass(frozen=True)
class Cutout:
    """A finished cutout: the composed image plus what remove.bg reports about it."""

    composition: Composition
    options: CutoutOptions
    timings: Timings = field(default_factory=Timings)

    @property
    def image(self) -> Image.Image:
        return self.composition.image

    @property
    def foreground(self) -> Box:
        return self.composition.foreground

    @property
    def width(self) -> int:
        return self.composition.image.width

    @property
    def height(self) -> int:
        return self.composition.image.height

    def encode(self) -> EncodedImage:
        """The cutout encoded as ``options.format`` says, without metadata."""
        return encode(self.composition, self.options.format)


class Remover:
    """Background removal; keep one around for batches.

    Without a model, each cutout follows its quality preset (``options.quality``, else
    the settings' ``default_quality``; see :mod:`clearcutout.engine.presets`), which may
    use several models. ``model`` (or the settings' ``default_model``) names one registry
    model that overrides the presets' choice; ``model_path`` + ``model_family`` use your
    own ONNX file instead. Model files are fetched (and verified) on first use, not here.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        model_path: str | Path | None = None,
        model_family: str | None = None,
        settings: EngineSettings | None = None,
        store: ModelStore | None = None,
    ) -> None:
        self.settings = settings or EngineSettings()
        if model_path is not None:
            path = Path(model_path)
            if not path.is_file():
                raise ModelUnavailableError(f"Model file {path} does not exist.")
            self.spec: ModelSpec = custom_spec(path.stem, model_family or "u2net")
            self._model_path: Path | None = path
            #: The model that overrides the presets' choice; None follows the presets.
            self.model: str | None = self.spec.name
        else:
            self.model = model or self.settings.default_model
            primary = PRESETS[self.settings.default_quality].recipe.primary
            self.spec = get_spec(self.model or primary)
            if self.model is None:
                for name in {step.model for p in PRESETS.values() for step in p.recipe.models}:
                    get_spec(name)
            self._model_path = None
        self.store = store or ModelStore(
            self.settings.models_dir,
            allow_download=self.settings.allow_model_download,
            timeout_s=self.settings.model_fetch_timeout_s,
        )
        self._runners: dict[str, ModelRunner] = {}

    @property
    def max_pixels(self) -> int:
        return int(self.settings.max_megapixels * 1_000_000)

    @property
    def runner(self) -> ModelRunner:
        """The runner of :attr:`spec` (the override model, or the default preset's first)."""
        return self._runner_for(self.spec.name)

    def _runner_for(self, name: str) -> ModelRunner:
        runner = self._runners.get(name)
        if runner is None:
            if self.settings.tune_allocator:
                keep_freed_buffers()
            if self._model_path is not None and name == self.spec.name:
                path, family = self._model_path, self.spec.family
            else:
                path, family = self.store.ensure(name), get_spec(name).family
            runner = self._runners[name] = get_runner(
                path,
                family,
                threads=self.settings.inference_threads,
                provider=self.settings.execution_provider,
            )
        return runner

    def recipe(self, options: CutoutOptions | None = None) -> Recipe:
        """How a cutout with ``options`` gets its matte (models, passes, refinement)."""
        options = options or CutoutOptions()
        quality = options.quality
        if quality is None and self.model is None:
            quality = self.settings.default_quality
        return recipe_for(
            quality,
            model=self.model,
            refine=options.refine,
            flip_average=options.flip_average,
            zoom_pass=options.zoom_pass,
        )

    def load(self, options: CutoutOptions | None = None) -> Remover:
        """Fetch the models (of ``options``' recipe) and build their sessions now instead
        of at the first image."""
        for step in self.recipe(options).models:
            self._runner_for(step.model)
        return self

    # -- stages ----------------------------------------------------------------------------

    def decode(self, image: ImageInput) -> DecodedImage:
        if isinstance(image, Image.Image):
            return decode_pil(
                image, max_pixels=self.max_pixels, max_aspect_ratio=self.settings.max_aspect_ratio
            )
        if isinstance(image, np.ndarray):
            return _decode_array(
                image, max_pixels=self.max_pixels, max_aspect_ratio=self.settings.max_aspect_ratio
            )
        limit = int(self.settings.max_upload_mb * 1024 * 1024)
        size = Path(image).stat().st_size if isinstance(image, str | Path) else len(image)
        if size > limit:
            raise FileTooLargeError(
                f"The file is {size / 1048576:.1f} MB; the limit is "
                f"{self.settings.max_upload_mb:g} MB."
            )
        data = Path(image).read_bytes() if isinstance(image, str | Path) else bytes(image)
        return decode_image(
            data, max_pixels=self.max_pixels, max_aspect_ratio=self.settings.max_aspect_ratio
        )

    def predict_alpha(
        self,
        rgb: NDArray[np.uint8],
        *,
        quality: str | None = None,
        refine: bool = True,
        flip_average: bool = False,
        zoom_pass: bool = False,
    ) -> NDArray[np.float32]:
        """The matte (H×W float32 in [0, 1]) for an RGB image at its own resolution."""
        options = CutoutOptions(
            quality=quality,  # type: ignore[arg-type]  # checked by CutoutOptions
            refine=refine,
            flip_average=flip_average,
            zoom_pass=zoom_pass,
        )
        return self.alpha_for(rgb, self.recipe(options))

    def alpha_for(self, rgb: NDArray[np.uint8], recipe: Recipe) -> NDArray[np.float32]:
        """The matte of one recipe, refined when the recipe says so: :meth:`process`'s
        matte before the ROI, the input's own alpha and ``semitransparency`` (the
        benchmark scores recipes that no preset names yet through this)."""
        return _refined(rgb, self._matte(rgb, recipe), recipe)

    def _small_matte(self, rgb: NDArray[np.uint8], recipe: Recipe) -> NDArray[np.float32]:
        """The recipe's matte at its first model's resolution (S×S)."""
        mirrored_rgb = np.ascontiguousarray(rgb[:, ::-1]) if recipe.flip_average else None
        total: NDArray[np.float32] | None = None
        weights = 0.0
        for step in recipe.models:
            runner = self._runner_for(step.model)
            small = runner.predict(rgb)
            if mirrored_rgb is not None:
                # The mirrored photo is a second, slightly different look at the same
                # subject; averaging the two mattes cancels part of each one's errors.
                mirrored = runner.predict(mirrored_rgb)
                small = (small + mirrored[:, ::-1]) * 0.5
            if total is None:
                total = small if step.weight == 1.0 else small * np.float32(step.weight)
            else:
                # Models of other input sizes are resampled to the first one's grid.
                if small.shape != total.shape:
                    small = cv2.resize(small, total.shape[::-1], interpolation=cv2.INTER_LINEAR)
                total = total + small * np.float32(step.weight)
            weights += step.weight
        assert total is not None
        if weights != 1.0:
            total = total * np.float32(1.0 / weights)
        return sharpen(total, recipe.edge_contrast)

    def _model_matte(self, rgb: NDArray[np.uint8], recipe: Recipe) -> NDArray[np.float32]:
        """The recipe's matte, upsampled to ``rgb``'s size (bilinear: smooth, no ringing)."""
        height, width = rgb.shape[:2]
        upsampled: NDArray[np.float32] = cv2.resize(
            self._small_matte(rgb, recipe),
            (width, height),
            interpolation=cv2.INTER_LINEAR,
        )
        return upsampled

    def _matte(self, rgb: NDArray[np.uint8], recipe: Recipe) -> NDArray[np.float32]:
        """The unrefined matte: ``rgb``'s size, or the model's S×S when refinement follows.

        The guided filter reads the matte at its own work size, so handing it the S×S
        output skips a full-size upsample it would only shrink again (12 MP: two passes
        over a 48 MB array). The zoom pass edits a window of the full-size matte.
        """
        if recipe.refine and not recipe.zoom_pass:
            return self._small_matte(rgb, recipe)
        alpha = self._model_matte(rgb, recipe)
        if recipe.zoom_pass:
            box = _zoom_box(alpha)
            if box is not None:
                _zoom_in(self, rgb, alpha, box, recipe)
        return alpha

    # -- the whole pipeline ------------------------------------------------------------------

    def process(
        self,
        image: ImageInput,
        options: CutoutOptions | None = None,
        *,
        background: ImageInput | None = None,
        require_subject: bool = False,
        **changes: Unpack[OptionChanges],
    ) -> Cutout:
        """Cut out the subject of ``image`` as ``options`` say, with ``changes`` on top
        (``remover.process(photo, crop=True)``).

        ``require_subject``: refuse a photo with nothing in it (``engine.subject``) with
        :class:`~clearcutout.errors.NoForegroundError`, before running the model."""
        options = options or CutoutOptions()
        if changes:
            options = options.replace(**changes)
        started = time.perf_counter()
        decoded = self.decode(image)
        rgb, input_alpha = decoded.rgb, decoded.alpha
        # The ROI is given in the original's coordinates, before any resizing for ``size``.
        roi = parse_roi(options.roi, decoded.width, decoded.height)
        width, height = target_dimensions(decoded.width, decoded.height, options.size)
        if (width, height) != (decoded.width, decoded.height):
            rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
            if input_alpha is not None:
                input_alpha = cv2.resize(input_alpha, (width, height), interpolation=cv2.INTER_AREA)
        background_rgb = self.decode(background).rgb if background is not None else None
        decoded_at = time.perf_counter()

        if (width, height) != (decoded.width, decoded.height):
            roi = _scale_box(roi, width / decoded.width, height / decoded.height)
        region = rgb[roi.top : roi.top + roi.height, roi.left : roi.left + roi.width]
        if require_subject and (
            is_featureless(region) or (input_alpha is not None and not input_alpha.any())
        ):
            raise NoForegroundError("No foreground could be found in the image.")
        recipe = self.recipe(options)
        region_alpha = self._matte(region, recipe)
        inferred_at = time.perf_counter()

        region_alpha = _refined(region, region_alpha, recipe)
        if (roi.width, roi.height) == (width, height):
            alpha = region_alpha
        else:
            alpha = np.zeros((height, width), dtype=np.float32)
            alpha[roi.top : roi.top + roi.height, roi.left : roi.left + roi.width] = region_alpha
        if input_alpha is not None:
            alpha *= input_alpha.astype(np.float32) * (1.0 / 255.0)
        if not options.semitransparency:
            alpha = (alpha >= 0.5).astype(np.float32)
        colours = rgb
        if options.foreground_estimation and options.channels == "rgba":
            colours = estimate_foreground(rgb, alpha)
        alpha_u8: NDArray[np.uint8] = cv2.convertScaleAbs(alpha, alpha=255.0)  # rounds
        if options.channels == "rgba":
            # Fully transparent pixels keep no colour: the removed background must not
            # survive, hidden, in an RGBA file (and long runs of zeros compress fast).
            colours = cv2.bitwise_and(colours, colours, mask=alpha_u8)
        refined_at = time.perf_counter()

        composition = compose(colours, alpha_u8, options, background=background_rgb)
        composed_at = time.perf_counter()
        timings = Timings(
            decode=decoded_at - started,
            inference=inferred_at - decoded_at,
            refine=refined_at - inferred_at,
            compose=composed_at - refined_at,
        )
        return Cutout(composition=composition, options=options, timings=timings)

    def remove(
        self,
        image: ImageInput,
        options: CutoutOptions | None = None,
        *,
        background: ImageInput | None = None,
        **changes: Unpack[OptionChanges],
    ) -> Image.Image:
        """The cutout as a PIL image (RGBA, RGB on a background, or L for ``channels=alpha``)."""
        return self.process(image, options, background=background, **changes).image

    def remove_bytes(
        self,
        image: ImageInput,
        options: CutoutOptions | None = None,
        *,
        background: ImageInput | None = None,
        **changes: Unpack[OptionChanges],
    ) -> EncodedImage:
        """The cutout encoded as ``options.format`` says (PNG by default)."""
        return self.process(image, options, background=background, **changes).encode()


#: The zoomed pass is skipped when the subject's box (plus margin) covers more than this
#: fraction of the picture: the model already sees such a subject at its best scale.
ZOOM_MAX_AREA = 0.8
#: Margin added around the subject's box on each side, as a fraction of its size.
ZOOM_MARGIN = 0.15
#: The zoomed matte is used only if it agrees this well (IoU at 0.5) with the first one.
#: A crop changes what is salient: on dev, ungated zooming lost up to 0.11 IoU on a
#: scene (kite-surf, where the crop makes the waves the subject); gated at 0.85 no scene
#: lost more than 0.001 and U²-Net gained +0.007 IoU, +0.01 boundary F.
ZOOM_MIN_AGREEMENT = 0.85


def _refined(
    rgb: NDArray[np.uint8], matte: NDArray[np.float32], recipe: Recipe
) -> NDArray[np.float32]:
    """``matte`` with its edges refined at full resolution, the photo as guide, when the
    recipe asks for it."""
    if not recipe.refine:
        return matte
    refined: NDArray[np.float32] = guided_filter(rgb, matte)
    return refined


def _zoom_box(alpha: NDArray[np.float32]) -> Box | None:
    """The region a second, zoomed-in pass should see, or None when it would not help."""
    height, width = alpha.shape
    inside = alpha >= 0.5
    rows = np.flatnonzero(inside.any(axis=1))
    cols = np.flatnonzero(inside.any(axis=0))
    if rows.size == 0:
        return None
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    margin_y = int(ZOOM_MARGIN * (bottom - top)) + 8
    margin_x = int(ZOOM_MARGIN * (right - left)) + 8
    top, bottom = max(0, top - margin_y), min(height, bottom + margin_y)
    left, right = max(0, left - margin_x), min(width, right + margin_x)
    if (bottom - top) * (right - left) > ZOOM_MAX_AREA * width * height:
        return None
    return Box(left=left, top=top, width=right - left, height=bottom - top)


def _zoom_in(
    remover: Remover,
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.float32],
    box: Box,
    recipe: Recipe,
) -> None:
    """Average, in place, the matte of a second pass on ``box`` into ``alpha``."""
    window = (slice(box.top, box.top + box.height), slice(box.left, box.left + box.width))
    zoomed = remover._model_matte(np.ascontiguousarray(rgb[window]), recipe)
    region = alpha[window]
    first, second = region >= 0.5, zoomed >= 0.5
    union = int(np.count_nonzero(first | second))
    agreement = np.count_nonzero(first & second) / union if union else 1.0
    if agreement < ZOOM_MIN_AGREEMENT:
        return
    region += zoomed
    region *= 0.5


def _scale_box(box: Box, scale_x: float, scale_y: float) -> Box:
    left, top = round(box.left * scale_x), round(box.top * scale_y)
    right = max(left + 1, round((box.left + box.width) * scale_x))
    bottom = max(top + 1, round((box.top + box.height) * scale_y))
    return Box(left=left, top=top, width=right - left, height=bottom - top)


def _decode_array(
    array: NDArray[np.uint8], *, max_pixels: int, max_aspect_ratio: float
) -> DecodedImage:
    if array.dtype != np.uint8:
        raise InvalidOptionError(
            f"A NumPy image must be uint8, not {array.dtype}.", code="invalid_file_type"
        )
    if array.ndim == 2:
        check_pixel_limit(
            array.shape[1], array.shape[0], max_pixels=max_pixels, max_aspect_ratio=max_aspect_ratio
        )
        rgb = np.ascontiguousarray(np.repeat(array[:, :, None], 3, axis=2))
        return DecodedImage(rgb=rgb, alpha=None, source_format="ARRAY")
    if array.ndim == 3 and array.shape[2] in (3, 4):
        check_pixel_limit(
            array.shape[1], array.shape[0], max_pixels=max_pixels, max_aspect_ratio=max_aspect_ratio
        )
        if array.shape[2] == 4:
            pil = Image.fromarray(array, "RGBA")
            return decode_pil(pil, max_pixels=max_pixels, max_aspect_ratio=max_aspect_ratio)
        return DecodedImage(rgb=np.ascontiguousarray(array), alpha=None, source_format="ARRAY")
    raise InvalidOptionError(
        f"A NumPy image must be H×W, H×W×3 (RGB) or H×W×4 (RGBA), not {array.shape}.",
        code="invalid_file_type",
    )
