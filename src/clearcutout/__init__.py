"""ClearCutout: privacy-first AI background removal.

>>> from clearcutout import remove
>>> cutout = remove("photo.jpg")                      # a PIL image, RGBA
>>> png = remove("photo.jpg", as_bytes=True)          # encoded bytes (PNG by default)
>>> remover = Remover("u2net")                        # keep the session for a batch
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, overload

from PIL import Image

from clearcutout.engine import Cutout, CutoutOptions, ImageInput, Remover
from clearcutout.engine.options import Channels, OutputFormat, ShadowType, Size
from clearcutout.errors import ClearCutoutError

__all__ = ["ClearCutoutError", "Cutout", "CutoutOptions", "Remover", "remove"]
__version__ = "0.1.0"


@overload
def remove(
    image: ImageInput,
    *,
    model: str | None = ...,
    model_path: str | Path | None = ...,
    model_family: str | None = ...,
    as_bytes: Literal[False] = ...,
    refine: bool = ...,
    foreground_estimation: bool = ...,
    semitransparency: bool = ...,
    flip_average: bool = ...,
    zoom_pass: bool = ...,
    roi: str = ...,
    size: Size = ...,
    crop: bool = ...,
    crop_margin: str = ...,
    scale: str = ...,
    position: str = ...,
    bg_color: str | None = ...,
    bg_image: ImageInput | None = ...,
    shadow_type: ShadowType = ...,
    shadow_opacity: int | None = ...,
    channels: Channels = ...,
    format: OutputFormat = ...,
) -> Image.Image: ...


@overload
def remove(
    image: ImageInput,
    *,
    model: str | None = ...,
    model_path: str | Path | None = ...,
    model_family: str | None = ...,
    as_bytes: Literal[True],
    refine: bool = ...,
    foreground_estimation: bool = ...,
    semitransparency: bool = ...,
    flip_average: bool = ...,
    zoom_pass: bool = ...,
    roi: str = ...,
    size: Size = ...,
    crop: bool = ...,
    crop_margin: str = ...,
    scale: str = ...,
    position: str = ...,
    bg_color: str | None = ...,
    bg_image: ImageInput | None = ...,
    shadow_type: ShadowType = ...,
    shadow_opacity: int | None = ...,
    channels: Channels = ...,
    format: OutputFormat = ...,
) -> bytes: ...


def remove(
    image: ImageInput,
    *,
    model: str | None = None,
    model_path: str | Path | None = None,
    model_family: str | None = None,
    as_bytes: bool = False,
    refine: bool = True,
    foreground_estimation: bool = False,
    semitransparency: bool = True,
    flip_average: bool = False,
    zoom_pass: bool = False,
    roi: str = "0% 0% 100% 100%",
    size: Size = "full",
    crop: bool = False,
    crop_margin: str = "0",
    scale: str = "original",
    position: str = "original",
    bg_color: str | None = None,
    bg_image: ImageInput | None = None,
    shadow_type: ShadowType = "none",
    shadow_opacity: int | None = None,
    channels: Channels = "rgba",
    format: OutputFormat = "png",
) -> Image.Image | bytes:
    """Remove the background of ``image`` (a path, encoded bytes, a PIL image or an array).

    Returns a PIL image, or the encoded file (``format``) with ``as_bytes=True``. The
    options follow remove.bg's parameters; see :class:`CutoutOptions`. For many images
    keep a :class:`Remover` instead.
    """
    options = CutoutOptions(
        refine=refine,
        foreground_estimation=foreground_estimation,
        semitransparency=semitransparency,
        flip_average=flip_average,
        zoom_pass=zoom_pass,
        roi=roi,
        size=size,
        crop=crop,
        crop_margin=crop_margin,
        scale=scale,
        position=position,
        bg_color=bg_color,
        shadow_type=shadow_type,
        shadow_opacity=shadow_opacity,
        channels=channels,
        format=format,
    )
    remover = Remover(model, model_path=model_path, model_family=model_family)
    cutout = remover.process(image, options, background=bg_image)
    if as_bytes:
        return cutout.encode().data
    return cutout.image
