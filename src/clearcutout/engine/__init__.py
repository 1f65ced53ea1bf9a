"""The cutout engine: pure image work, usable without the web service.

Knows nothing of HTTP, databases or users.
"""

from clearcutout.engine.models import REGISTRY, Family, ModelSpec, get_spec
from clearcutout.engine.options import CutoutOptions
from clearcutout.engine.pipeline import Cutout, ImageInput, Remover, Timings
from clearcutout.engine.store import ModelStore

__all__ = [
    "REGISTRY",
    "Cutout",
    "CutoutOptions",
    "Family",
    "ImageInput",
    "ModelSpec",
    "ModelStore",
    "Remover",
    "Timings",
    "get_spec",
]
