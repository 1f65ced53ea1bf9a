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
from typing import TypeAlias

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from clearcutout.config import EngineSettings
from clearcutout.engine.compose import (
    Box,
    Composition,
    EncodedImage,
    compose,
    encode,
    parse_roi,
    target_dimensions,
)
from clearcutout.engine.decode import DecodedImage, check_pixel_limit, decode_image, decode_pil
from clearcutout.engine.models import ModelSpec, custom_spec, get_spec
from clearcutout.engine.options import CutoutOptions
from clearcutout.engine.refine import estimate_foreground, guided_filter
from clearcutout.engine.session import ModelRunner, get_runner
from clearcutout.engine.store import ModelStore
from clearcutout.errors import FileTooLargeError, InvalidOptionError, ModelUnavailableError

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
        return encode(self.composition, self.options)


class Remover:
    """Background removal with one model; keep one around for batches.

    ``model`` names a registry model; ``model_path`` + ``model_family`` use your own
    ONNX file instead. The model file is fetched (and verified) on first use, not here.
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
        else:
            self.spec = get_spec(model or self.settings.default_model)
            self._model_path = None
        self.store = store or ModelStore(
            self.settings.models_dir,
            allow_download=self.settings.allow_model_download,
            timeout_s=self.settings.model_fetch_timeout_s,
        )
        self._runner: ModelRunner | None = None

    @property
    def max_pixels(self) -> int:
        return int(self.settings.max_megapixels * 1_000_000)

    @property
    def runner(self) -> ModelRunner:
        if self._runner is None:
            path = self._model_path or self.store.ensure(self.spec.name)
            self._runner = get_runner(
                path, self.spec.family, threads=self.settings.inference_threads
            )
        return self._runner

    def load(self) -> Remover:
        """Fetch the model and build its session now instead of at the first image."""
        _ = self.runner
        return self

    # -- stages ----------------------------------------------------------------------------

    def decode(self, image: ImageInput) -> DecodedImage:
        if isinstance(image, Image.Image):
            return decode_pil(image, max_pixels=self.max_pixels)
        if isinstance(image, np.ndarray):
            return _decode_array(image, max_pixels=self.max_pixels)
        limit = int(self.settings.max_upload_mb * 1024 * 1024)
        size = Path(image).stat().st_size if isinstance(image, str | Path) else len(image)
        if size > limit:
            raise FileTooLargeError(
                f"The file is {size / 1048576:.1f} MB; the limit is "
                f"{self.settings.max_upload_mb:g} MB."
            )
        data = Path(image).read_bytes() if isinstance(image, str | Path) else bytes(image)
        return decode_image(data, max_pixels=self.max_pixels)

    def predict_alpha(self, rgb: NDArray[np.uint8], *, refine: bool = True) -> NDArray[np.float32]:
        """The matte (H×W float32 in [0, 1]) for an RGB image at its own resolution."""
        height, width = rgb.shape[:2]
        small = self.runner.predict(rgb)
        alpha = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
        if refine:
            alpha = guided_filter(rgb, alpha)
        return alpha  # type: ignore[no-any-return]

    # -- the whole pipeline ------------------------------------------------------------------

    def process(
        self,
        image: ImageInput,
        options: CutoutOptions | None = None,
        *,
        background: ImageInput | None = None,
    ) -> Cutout:
        """Cut out the subject of ``image`` as ``options`` say."""
        options = options or CutoutOptions()
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
        region_small = self.runner.predict(region)
        inferred_at = time.perf_counter()

        region_alpha = cv2.resize(
            region_small, (roi.width, roi.height), interpolation=cv2.INTER_LINEAR
        )
        if options.refine:
            region_alpha = guided_filter(region, region_alpha)
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
        alpha_u8 = (alpha * 255.0 + 0.5).astype(np.uint8)
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
    ) -> Image.Image:
        """The cutout as a PIL image (RGBA, RGB on a background, or L for ``channels=alpha``)."""
        return self.process(image, options, background=background).image

    def remove_bytes(
        self,
        image: ImageInput,
        options: CutoutOptions | None = None,
        *,
        background: ImageInput | None = None,
    ) -> EncodedImage:
        """The cutout encoded as ``options.format`` says (PNG by default)."""
        return self.process(image, options, background=background).encode()


def _scale_box(box: Box, scale_x: float, scale_y: float) -> Box:
    left, top = round(box.left * scale_x), round(box.top * scale_y)
    right = max(left + 1, round((box.left + box.width) * scale_x))
    bottom = max(top + 1, round((box.top + box.height) * scale_y))
    return Box(left=left, top=top, width=right - left, height=bottom - top)


def _decode_array(array: NDArray[np.uint8], *, max_pixels: int) -> DecodedImage:
    if array.dtype != np.uint8:
        raise InvalidOptionError(
            f"A NumPy image must be uint8, not {array.dtype}.", code="invalid_file_type"
        )
    if array.ndim == 2:
        check_pixel_limit(array.shape[1], array.shape[0], max_pixels=max_pixels)
        rgb = np.ascontiguousarray(np.repeat(array[:, :, None], 3, axis=2))
        return DecodedImage(rgb=rgb, alpha=None, source_format="ARRAY")
    if array.ndim == 3 and array.shape[2] in (3, 4):
        check_pixel_limit(array.shape[1], array.shape[0], max_pixels=max_pixels)
        if array.shape[2] == 4:
            pil = Image.fromarray(array, "RGBA")
            return decode_pil(pil, max_pixels=max_pixels)
        return DecodedImage(rgb=np.ascontiguousarray(array), alpha=None, source_format="ARRAY")
    raise InvalidOptionError(
        f"A NumPy image must be H×W, H×W×3 (RGB) or H×W×4 (RGBA), not {array.shape}.",
        code="invalid_file_type",
    )
