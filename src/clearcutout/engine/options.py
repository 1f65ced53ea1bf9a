"""Cutout options, with remove.bg's parameter names, values and semantics.

:class:`CutoutOptions` holds every option as the plain, JSON-safe value a user gives
(``"10%"``, ``"fff"``, ``"0 0 100% 100%"``) so a job can store it as is; it is validated
when built (an :class:`~clearcutout.errors.InvalidOptionError` whose ``code`` is
remove.bg's error code) and parsed into typed values by the ``parse_*`` functions at
composition time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

OutputFormat = Literal["auto", "png", "webp", "jpg", "zip"]
Channels = Literal["rgba", "alpha"]
Size = Literal["auto", "preview", "full", "small", "regular", "medium", "hd", "4k", "50MP"]
ShadowType = Literal["none", "drop", "3D", "car", "auto"]

#: remove.bg's "preview" is about 0.25 megapixels (e.g. 625×400).
PREVIEW_PIXELS = 250_000


@dataclass(frozen=True)
class CutoutOptions:
    """Everything that shapes a cutout besides the input image and the model.

    Defaults are the library's (full size, PNG); the remove.bg endpoint overrides
    ``size`` with its own default ``preview``.
    """

    # -- the matte
    refine: bool = True
    """Edge refinement at full resolution (guided filter with the photo as guide)."""
    foreground_estimation: bool = False
    """Remove background colour bleeding into edge pixels (hair, fur); costs ~0.1 s/MP."""
    semitransparency: bool = True
    """Keep soft, partly transparent edges; False snaps the matte to 0/1."""
    flip_average: bool = False
    """Average the model's matte with that of the mirrored photo (a second inference)."""
    zoom_pass: bool = False
    """Predict again on a crop around a small subject, so the model sees it larger."""
    roi: str = "0% 0% 100% 100%"
    """Region of interest ``x1 y1 x2 y2`` in px or %; everything outside is background."""
    # -- geometry of the result
    size: Size = "full"
    crop: bool = False
    crop_margin: str = "0"
    scale: str = "original"
    position: str = "original"
    # -- what is behind the subject
    bg_color: str | None = None
    shadow_type: ShadowType = "none"
    shadow_opacity: int | None = None
    # -- encoding
    channels: Channels = "rgba"
    format: OutputFormat = "png"

    def __post_init__(self) -> None:
        from clearcutout.engine.compose import _check_bool, validate_options

        validate_options(self)
        _check_bool(self.flip_average, "flip_average", "invalid_flip_average")
        _check_bool(self.zoom_pass, "zoom_pass", "invalid_zoom_pass")

    def replace(self, **changes: Any) -> CutoutOptions:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CutoutOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
