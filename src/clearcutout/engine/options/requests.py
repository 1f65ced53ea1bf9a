"""Cutout options as requests spell them: form fields and JSON objects of our job API
and of remove.bg's dialect, and their JSON schema for the OpenAPI document.

Request values are lenient where remove.bg's clients need it (text for numbers and
booleans, any letter case for a choice); the result is a validated
:class:`~clearcutout.engine.options.definition.CutoutOptions`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from clearcutout.engine.options.definition import (
    FIELDS_BY_NAME,
    OPTION_FIELDS,
    CutoutOptions,
    OptionField,
    check_shadow_opacity,
    shadow_opacity_error,
)
from clearcutout.engine.options.values import shown
from clearcutout.errors import InvalidOptionError

#: Which request vocabulary :func:`options_from_fields` reads: our job API takes every
#: option; remove.bg's takes its own parameters, with its defaults and aliases.
Dialect = Literal["api", "removebg"]

_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})
#: remove.bg's shadow parameters, which may also be given per request type.
_SHADOW: Final = ("shadow_type", "shadow_opacity")


def _present(value: object) -> bool:
    return value is not None and value != "" and value != b""


def parse_text(name: str, value: object) -> str:
    """A scalar request value as stripped text (JSON numbers are accepted as text)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidOptionError(f"{name} must be a string.", code=f"invalid_{name}")
    return str(value).strip()


def parse_bool(name: str, value: object) -> bool:
    """A request's boolean: JSON true/false, or true/false, 1/0, yes/no, on/off as text."""
    if isinstance(value, bool):
        return value
    text = parse_text(name, value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidOptionError(
        f"{name} must be true or false, not {shown(text)}.", code=f"invalid_{name}"
    )


def _shadow_opacity(value: object) -> int | None:
    """A whole number 0–100, or ``auto`` (remove.bg's word for the default)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = parse_text("shadow_opacity", value).lower()
        if text == "auto":
            return None
        if not text.isdigit():
            raise shadow_opacity_error(text)
        number = int(text)
    check_shadow_opacity(number)
    return number


def _value(field: OptionField, raw: object) -> object:
    """One request value as the option's plain value; bad values fail in validation."""
    if field.annotation is bool:
        return parse_bool(field.name, raw)
    if field.name == "shadow_opacity":
        return _shadow_opacity(raw)
    text = parse_text(field.name, raw)
    if field.choices:
        # Request values are case-insensitive (remove.bg's clients send "PNG", "4K").
        return next((choice for choice in field.choices if choice.lower() == text.lower()), text)
    return text


def options_from_fields(
    fields: Mapping[str, object], *, dialect: Dialect = "api", shadow_keys: Sequence[str] = ()
) -> CutoutOptions:
    """The options a request's fields (form or JSON) give; absent or empty means default.

    ``dialect="removebg"`` reads remove.bg's parameters only, with its defaults, its
    deprecated ``add_shadow`` and its per-type shadows (``shadow_type[car]=car`` in forms,
    ``{"shadow_type": {"car": "car"}}`` in JSON) for the first of ``shadow_keys`` given.
    Other fields are not looked at: the caller decides what an unknown field means.
    """
    if dialect == "api":
        return CutoutOptions(**_plain_values(fields, OPTION_FIELDS, removebg_defaults=False))
    taken = [field for field in OPTION_FIELDS if field.removebg and field.name not in _SHADOW]
    values = _plain_values(fields, taken, removebg_defaults=True)
    values["shadow_type"], values["shadow_opacity"] = _removebg_shadow(fields, shadow_keys)
    return CutoutOptions(**values)


def _plain_values(
    fields: Mapping[str, object], taken: Sequence[OptionField], *, removebg_defaults: bool
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in taken:
        raw = fields.get(field.name)
        if _present(raw):
            values[field.name] = _value(field, raw)
        else:
            values[field.name] = field.removebg_default if removebg_defaults else field.default
    return values


_PER_KEY = re.compile(r"(shadow_type|shadow_opacity)\[([A-Za-z_]+)\]")


def _per_key(fields: Mapping[str, object], name: str) -> dict[str, object]:
    """``shadow_type[person]=drop`` (forms) or ``{"shadow_type": {"person": "drop"}}`` (JSON)."""
    found: dict[str, object] = {}
    nested = fields.get(name)
    if isinstance(nested, dict):
        found.update({str(key).lower(): value for key, value in nested.items()})
    for key, value in fields.items():
        match = _PER_KEY.fullmatch(key)
        if match is not None and match.group(1) == name:
            found[match.group(2).lower()] = value
    return found


def _removebg_shadow(
    fields: Mapping[str, object], keys: Sequence[str]
) -> tuple[object, int | None]:
    """``shadow_type`` and ``shadow_opacity``; a per-type value for one of ``keys`` wins."""
    shadow_type = FIELDS_BY_NAME["shadow_type"]
    generic_type = fields.get("shadow_type")
    if isinstance(generic_type, dict):
        generic_type = None
    add_shadow = fields.get("add_shadow")
    if _present(generic_type) and _present(add_shadow):
        raise InvalidOptionError(
            "Give shadow_type or the deprecated add_shadow, not both.",
            code="multiple_shadow_params",
        )
    kind: object = shadow_type.default
    if _present(generic_type):
        kind = _value(shadow_type, generic_type)
    elif _present(add_shadow) and parse_bool("add_shadow", add_shadow):
        kind = "auto"
    generic_opacity = fields.get("shadow_opacity")
    opacity = None
    if _present(generic_opacity) and not isinstance(generic_opacity, dict):
        opacity = _shadow_opacity(generic_opacity)
    per_key_type = _per_key(fields, "shadow_type")
    per_key_opacity = _per_key(fields, "shadow_opacity")
    for key in keys:
        if _present(per_key_type.get(key)):
            kind = _value(shadow_type, per_key_type[key])
            break
    for key in keys:
        if _present(per_key_opacity.get(key)):
            opacity = _shadow_opacity(per_key_opacity[key])
            break
    return kind, opacity


def options_schema(dialect: Dialect = "api") -> dict[str, dict[str, Any]]:
    """The options as JSON-schema properties (for a request body in the OpenAPI document)."""
    properties: dict[str, dict[str, Any]] = {}
    for field in OPTION_FIELDS:
        if dialect == "removebg" and not field.removebg:
            continue
        schema: dict[str, Any]
        if field.annotation is bool:
            schema = {"type": "boolean"}
        elif field.bounds is not None:
            schema = {"type": "integer", "minimum": field.bounds[0], "maximum": field.bounds[1]}
        elif field.choices:
            schema = {"type": "string", "enum": list(field.choices)}
        else:
            schema = {"type": "string"}
        default = field.removebg_default if dialect == "removebg" else field.default
        if default is not None:
            schema["default"] = default
        schema["description"] = field.help
        properties[field.name] = schema
    return properties
