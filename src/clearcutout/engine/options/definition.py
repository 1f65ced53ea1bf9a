"""The cutout options: each one's name, type, default, help text and validation.

:class:`CutoutOptions` holds every option as the plain, JSON-safe value a user gives
(``"10%"``, ``"fff"``, ``"0% 0% 100% 100%"``) so a job can store it as is. It is
validated when built, by the same parsers (:mod:`.values`) that give the values their
meaning at composition time. :data:`OPTION_FIELDS` describes the fields for the surfaces
derived from them: the CLI's flags, request parsing and the OpenAPI schema.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import UnionType
from typing import (
    Any,
    Final,
    Literal,
    TypedDict,
    TypeVar,
    Union,
    Unpack,
    get_args,
    get_origin,
    get_type_hints,
)

from clearcutout.engine.options.values import (
    DEFAULT_ROI,
    DEFAULT_SHADOW_OPACITY,
    parse_bg_color,
    parse_margin_lengths,
    parse_position,
    parse_roi_lengths,
    parse_scale,
    shown,
)
from clearcutout.engine.presets import Quality
from clearcutout.errors import InvalidOptionError

OutputFormat = Literal["auto", "png", "webp", "jpg", "zip"]
Channels = Literal["rgba", "alpha"]
Size = Literal["auto", "preview", "full", "small", "regular", "medium", "hd", "4k", "50MP"]
ShadowType = Literal["none", "drop", "3D", "car", "auto"]

SHADOW_OPACITY_RANGE: Final = (0, 100)

_T = TypeVar("_T")


def _option(
    default: _T,
    help: str,
    *,
    removebg: bool = True,
    removebg_default: object = dataclasses.MISSING,
    short_flag: str | None = None,
) -> _T:
    """A field and its metadata: what the CLI, request parsing and the OpenAPI schema show."""
    about: dict[str, object] = {"help": help, "removebg": removebg, "short_flag": short_flag}
    if removebg_default is not dataclasses.MISSING:
        about["removebg_default"] = removebg_default
    # Typed as its default (as ``field`` is), so each default is checked against its field.
    return field(default=default, metadata=about)


@dataclass(frozen=True)
class CutoutOptions:
    """Everything that shapes a cutout besides the input image and the model.

    Defaults are the library's (full size, PNG); remove.bg's endpoint defaults to
    ``size=preview`` and ``format=auto`` and does not take the four matte options.
    """

    # -- the matte
    quality: Quality | None = _option(
        None,
        "Quality preset: fast, balanced or best (unset: the server's default, "
        "balanced). A chosen model replaces the preset's models.",
    )
    refine: bool = _option(
        True,
        "Edge refinement at full resolution (guided filter, the photo as guide).",
        removebg=False,
    )
    foreground_estimation: bool = _option(
        False, "Remove background colour bleeding into edge pixels (slower).", removebg=False
    )
    semitransparency: bool = _option(
        True, "Keep soft, partly transparent edges; false snaps the matte to 0/1."
    )
    flip_average: bool = _option(
        False, "Average with the mirrored photo's matte (2× inference).", removebg=False
    )
    zoom_pass: bool = _option(
        False, "Second pass zoomed on a small subject (up to 2× inference).", removebg=False
    )
    roi: str = _option(
        DEFAULT_ROI, "Region of interest 'x1 y1 x2 y2' (px or %); outside is background."
    )
    # -- geometry of the result
    size: Size = _option(
        "full",
        "Output size: preview (≈0.25 MP), medium (1.5 MP), hd (4 MP), full, …; never upscaled.",
        removebg_default="preview",
    )
    crop: bool = _option(False, "Crop to the subject.")
    crop_margin: str = _option("0", "Margin around the crop: 1, 2 or 4 values in px or %.")
    scale: str = _option("original", "Subject size: 10%–100% of the canvas, or original.")
    position: str = _option(
        "original", "Subject position: original, center, or 'x% y%' (one value: both)."
    )
    # -- what is behind the subject
    bg_color: str | None = _option(
        None, "Background colour: hex (81d4fa, fff, 81d4fa80 with alpha) or a CSS name."
    )
    shadow_type: ShadowType = _option("none", "Shadow: none, or drop (car, 3D, auto: drop).")
    shadow_opacity: int | None = _option(
        None, f"Shadow opacity 0–100 (default {DEFAULT_SHADOW_OPACITY})."
    )
    # -- encoding
    channels: Channels = _option("rgba", "rgba, or alpha for the matte only.")
    format: OutputFormat = _option(
        "png",
        "png, webp, jpg, zip (colour JPEG + alpha PNG) or auto (PNG if transparent, else JPEG).",
        removebg_default="auto",
        short_flag="-f",
    )

    def __post_init__(self) -> None:
        validate(self)

    def replace(self, **changes: Unpack[OptionChanges]) -> CutoutOptions:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> CutoutOptions:
        """Options from stored plain values; unknown keys (from older versions) are ignored."""
        return cls(**{name: values[name] for name in OPTION_NAMES if name in values})


class OptionChanges(TypedDict, total=False):
    """:class:`CutoutOptions`' fields as keyword arguments (``remove(photo, crop=True)``);
    a test keeps the two in step."""

    quality: Quality | None
    refine: bool
    foreground_estimation: bool
    semitransparency: bool
    flip_average: bool
    zoom_pass: bool
    roi: str
    size: Size
    crop: bool
    crop_margin: str
    scale: str
    position: str
    bg_color: str | None
    shadow_type: ShadowType
    shadow_opacity: int | None
    channels: Channels
    format: OutputFormat


@dataclass(frozen=True)
class OptionField:
    """One option as the CLI, the request parsers and the OpenAPI schema see it."""

    name: str
    annotation: Any
    default: Any
    removebg_default: Any
    help: str
    removebg: bool
    short_flag: str | None
    choices: tuple[str, ...]
    bounds: tuple[int, int] | None


def _choices(annotation: Any) -> tuple[str, ...]:
    """A ``Literal``'s values, also inside ``Literal[…] | None``."""
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    if get_origin(annotation) in (Union, UnionType):
        for member in get_args(annotation):
            if get_origin(member) is Literal:
                return get_args(member)
    return ()


def _fields() -> tuple[OptionField, ...]:
    hints = get_type_hints(CutoutOptions)
    found = []
    for spec in dataclasses.fields(CutoutOptions):
        annotation = hints[spec.name]
        found.append(
            OptionField(
                name=spec.name,
                annotation=annotation,
                default=spec.default,
                removebg_default=spec.metadata.get("removebg_default", spec.default),
                help=spec.metadata["help"],
                removebg=spec.metadata["removebg"],
                short_flag=spec.metadata["short_flag"],
                choices=_choices(annotation),
                bounds=SHADOW_OPACITY_RANGE if spec.name == "shadow_opacity" else None,
            )
        )
    return tuple(found)


OPTION_FIELDS: Final = _fields()
OPTION_NAMES: Final = frozenset(option.name for option in OPTION_FIELDS)
FIELDS_BY_NAME: Final = {option.name: option for option in OPTION_FIELDS}


# -- validation ---------------------------------------------------------------------------


def check_choice(name: str, value: object) -> None:
    choices = FIELDS_BY_NAME[name].choices
    if value not in choices:
        raise InvalidOptionError(
            f"{name} {shown(value)} is not accepted; use one of " + ", ".join(choices) + ".",
            code=f"invalid_{name}",
        )


def check_shadow_opacity(value: object) -> None:
    low, high = SHADOW_OPACITY_RANGE
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high
    ):
        raise shadow_opacity_error(value)


def shadow_opacity_error(value: object) -> InvalidOptionError:
    low, high = SHADOW_OPACITY_RANGE
    return InvalidOptionError(
        f"shadow_opacity {shown(value)} is not accepted; use a whole number from {low} "
        f"to {high}, or leave it out (remove.bg: auto) for the default.",
        code="invalid_shadow_opacity",
    )


def validate(options: CutoutOptions) -> None:
    """Parse every option once so a bad value fails when the options are built, not later."""
    for option in OPTION_FIELDS:
        value = getattr(options, option.name)
        if option.annotation is bool and not isinstance(value, bool):
            raise InvalidOptionError(
                f"{option.name} must be true or false, not {shown(value)}.",
                code=f"invalid_{option.name}",
            )
        if option.choices and not (value is None and option.default is None):
            check_choice(option.name, value)
    parse_roi_lengths(options.roi)
    parse_margin_lengths(options.crop_margin)
    parse_scale(options.scale)
    parse_position(options.position)
    parse_bg_color(options.bg_color)
    check_shadow_opacity(options.shadow_opacity)
    if options.format == "zip" and options.channels == "alpha":
        raise InvalidOptionError(
            "format 'zip' holds a colour image and its matte, so it needs channels 'rgba'; "
            "for the matte alone use format 'png'.",
            code="invalid_format",
        )
