"""Pixel rectangles: a region of interest, a subject's bounding box, remove.bg's
``X-Foreground-*`` report. Shared by the option parsers, composition and the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["EMPTY_BOX", "Box"]


@dataclass(frozen=True)
class Box:
    """An axis-aligned pixel rectangle; also remove.bg's ``X-Foreground-*`` box."""

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def is_empty(self) -> bool:
        return self.width <= 0 or self.height <= 0


EMPTY_BOX: Final = Box(0, 0, 0, 0)
