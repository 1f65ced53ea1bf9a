"""The cutout engine: pure image work, usable without the web service.

Knows nothing of HTTP, databases or users.
"""

from clearcutout.engine.encode import EncodedImage
from clearcutout.engine.geometry import Box
from clearcutout.engine.models import REGISTRY, Family, ModelSpec, get_spec
from clearcutout.engine.options import CutoutOptions, OptionChanges
from clearcutout.engine.pipeline import Cutout, ImageInput, Remover, Timings
from clearcutout.engine.presets import DEFAULT_QUALITY, PRESETS, QUALITIES, Quality
from clearcutout.engine.store import ModelStore

__all__ = [
    "DEFAULT_QUALITY",
    "PRESETS",
    "QUALITIES",
    "REGISTRY",
    "Box",
    "Cutout",
    "CutoutOptions",
    "EncodedImage",
    "Family",
    "ImageInput",
    "ModelSpec",
    "ModelStore",
    "OptionChanges",
    "Quality",
    "Remover",
    "Timings",
    "get_spec",
]
