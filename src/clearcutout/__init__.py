"""ClearCutout: privacy-first AI background removal.

>>> from clearcutout import remove, CutoutOptions
>>> cutout = remove("photo.jpg")                      # a PIL image, RGBA
>>> png = remove("photo.jpg", as_bytes=True)          # encoded bytes (PNG by default)
>>> framed = remove("photo.jpg", crop=True, crop_margin="10%")   # options as keywords
>>> thumbs = CutoutOptions(size="preview", format="webp")
>>> small = remove("photo.jpg", options=thumbs)       # or as one reusable object
>>> remover = Remover("u2net")                        # keep the session for a batch
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Unpack, overload

from PIL import Image

from clearcutout.engine import Cutout, CutoutOptions, ImageInput, OptionChanges, Remover
from clearcutout.errors import ClearCutoutError

__all__ = ["ClearCutoutError", "Cutout", "CutoutOptions", "Remover", "remove"]
__version__ = "0.1.0"


class RemoveKeywords(OptionChanges, total=False):
    """:func:`remove`'s keywords but ``as_bytes``, which alone decides what it returns."""

    options: CutoutOptions | None
    model: str | None
    model_path: str | Path | None
    model_family: str | None
    bg_image: ImageInput | None


@overload
def remove(
    image: ImageInput, *, as_bytes: Literal[False] = ..., **keywords: Unpack[RemoveKeywords]
) -> Image.Image: ...


@overload
def remove(
    image: ImageInput, *, as_bytes: Literal[True], **keywords: Unpack[RemoveKeywords]
) -> bytes: ...


def remove(
    image: ImageInput,
    *,
    options: CutoutOptions | None = None,
    model: str | None = None,
    model_path: str | Path | None = None,
    model_family: str | None = None,
    bg_image: ImageInput | None = None,
    as_bytes: bool = False,
    **changes: Unpack[OptionChanges],
) -> Image.Image | bytes:
    """Remove the background of ``image`` (a path, encoded bytes, a PIL image or an array).

    Returns a PIL image, or the encoded file (``format``) with ``as_bytes=True``. The
    options follow remove.bg's parameters: pass a :class:`CutoutOptions`, keyword
    arguments of the same names, or both (keywords win). For many images keep a
    :class:`Remover` instead.
    """
    remover = Remover(model, model_path=model_path, model_family=model_family)
    cutout = remover.process(image, options, background=bg_image, **changes)
    if as_bytes:
        return cutout.encode().data
    return cutout.image
