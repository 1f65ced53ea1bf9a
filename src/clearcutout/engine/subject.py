"""Is there anything to cut out? A photo with no structure — a plain white, grey or black
frame, a blank wall, a smooth gradient — has no subject, yet a salient-object model
still answers with a faint matte (U²-Net marks half of a plain white frame as
foreground). remove.bg answers such a photo with ``unknown_foreground`` and charges
nothing; this is the test for it, made on the pixels, before any inference.

The photo is shrunk (area averaging, which also averages sensor noise away) to at most
:data:`SIDE` pixels on its long side; an edge is a neighbour-to-neighbour step of more
than :data:`EDGE_LEVEL` in any colour channel (colour-only edges count). With fewer than
:data:`MIN_EDGE_PIXELS` edge pixels the photo is featureless. Measured on the 105
photos of the development set (``eval/dev``): the fewest edge pixels of any is far above
the bound (``tests/engine/test_subject.py``).
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

SIDE: Final = 128
EDGE_LEVEL: Final = 10
MIN_EDGE_PIXELS: Final = 8


def edge_pixels(rgb: NDArray[np.uint8]) -> int:
    """How many pixels of the shrunk photo step by more than :data:`EDGE_LEVEL`."""
    height, width = rgb.shape[:2]
    scale = SIDE / max(height, width)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    pixels = rgb.astype(np.int16)
    across = np.abs(np.diff(pixels, axis=1)).max(axis=2) > EDGE_LEVEL
    down = np.abs(np.diff(pixels, axis=0)).max(axis=2) > EDGE_LEVEL
    return int(across.sum() + down.sum())


def is_featureless(rgb: NDArray[np.uint8]) -> bool:
    """Whether ``rgb`` (H×W×3) holds no subject at all: see the module's description."""
    return edge_pixels(rgb) < MIN_EDGE_PIXELS
