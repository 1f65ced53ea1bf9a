"""Read-only records built from database rows or settings groups whose fields they
share by name (a record field the source lacks fails at the first call, in the tests)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")


def record_from(cls: type[R], row: object, /, **given: Any) -> R:
    """``cls`` built from ``row``: every field not in ``given`` takes the row's attribute
    of the same name, so a record names only the fields it computes or renames."""
    copied = {
        field.name: getattr(row, field.name)
        for field in dataclasses.fields(cls)
        if field.init and field.name not in given
    }
    return cls(**copied, **given)
