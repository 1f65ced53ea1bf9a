"""Cutout options, with remove.bg's parameter names, values and semantics: the one place
that says what each option is called, its type and default, what its values mean, how a
request spells it and which error code a bad value gets.

- :mod:`.definition`: :class:`CutoutOptions` (plain, JSON-safe values, validated when
  built), the library's keyword arguments (:class:`OptionChanges`) and the field list
  (:data:`OPTION_FIELDS`) the CLI builds its flags from;
- :mod:`.values`: what ``roi``, ``crop_margin``, ``scale``, ``position``, ``bg_color``
  and ``size`` mean (used by validation and by composition);
- :mod:`.requests`: options from request fields (our job API, remove.bg's dialect), the
  one boolean parser, and the JSON schema of the OpenAPI document.

Bad values raise :class:`~clearcutout.errors.InvalidOptionError` whose ``code`` is
remove.bg's: ``invalid_<option>`` or a more precise one (``roi_exceeds_bounds``, …).
"""

from clearcutout.engine.options.definition import (
    OPTION_FIELDS,
    OPTION_NAMES,
    Channels,
    CutoutOptions,
    OptionChanges,
    OptionField,
    OutputFormat,
    ShadowType,
    Size,
)
from clearcutout.engine.options.requests import (
    Dialect,
    options_from_fields,
    options_schema,
    parse_bool,
    parse_text,
)
from clearcutout.engine.options.values import (
    DEFAULT_ROI,
    DEFAULT_SHADOW_OPACITY,
    PREVIEW_PIXELS,
    Length,
    Margins,
    Position,
    parse_bg_color,
    parse_crop_margin,
    parse_position,
    parse_roi,
    parse_scale,
    target_dimensions,
)

__all__ = [
    "DEFAULT_ROI",
    "DEFAULT_SHADOW_OPACITY",
    "OPTION_FIELDS",
    "OPTION_NAMES",
    "PREVIEW_PIXELS",
    "Channels",
    "CutoutOptions",
    "Dialect",
    "Length",
    "Margins",
    "OptionChanges",
    "OptionField",
    "OutputFormat",
    "Position",
    "ShadowType",
    "Size",
    "options_from_fields",
    "options_schema",
    "parse_bg_color",
    "parse_bool",
    "parse_crop_margin",
    "parse_position",
    "parse_roi",
    "parse_scale",
    "parse_text",
    "target_dimensions",
]
