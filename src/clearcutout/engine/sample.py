"""A generated sample photo, so ``make run`` can show a cutout without shipping any image."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image


def sample_photo(width: int = 960, height: int = 640, seed: int = 7) -> bytes:
    """A JPEG of a shaded orange ball and a cup on a textured, out-of-focus background."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    sky = np.stack([150 + 60 * ys / height, 180 + 40 * ys / height, 220 - 30 * ys / height], -1)
    noise = cv2.GaussianBlur(rng.normal(0, 25, (height, width, 3)).astype(np.float32), (0, 0), 9)
    image = np.clip(sky + noise, 0, 255)
    table_top = int(height * 0.72)
    image[table_top:] = np.clip(np.array([120, 90, 60]) + noise[table_top:] * 0.6, 0, 255)

    # A ball with a highlight and shading.
    cx, cy, radius = width * 0.38, height * 0.55, height * 0.22
    distance = np.hypot(xs - cx, ys - cy)
    highlight = np.hypot(xs - cx + radius * 0.4, ys - cy + radius * 0.4)
    light = np.clip(1.1 - highlight / (2 * radius), 0.2, 1)
    ball = distance <= radius
    image[ball] = (np.array([240, 120, 30]) * light[ball, None]).clip(0, 255)

    # A cup: body and handle.
    left, right = int(width * 0.62), int(width * 0.78)
    top, bottom = int(height * 0.45), table_top + 10
    body = (xs >= left) & (xs <= right) & (ys >= top) & (ys <= bottom)
    shade = 0.75 + 0.25 * np.cos((xs - (left + right) / 2) / (right - left) * np.pi)
    image[body] = (np.array([40, 70, 200]) * shade[body, None]).clip(0, 255)
    handle = (np.abs(np.hypot(xs - right, ys - (top + bottom) / 2) - 40) < 9) & (xs > right)
    image[handle] = [40, 70, 200]

    buffer = io.BytesIO()
    Image.fromarray(image.astype(np.uint8)).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()
