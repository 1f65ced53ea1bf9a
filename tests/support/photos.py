"""The generated sample photo at any size and format, made once per combination.

Generating the sample (``clearcutout.engine.sample``) takes about half a second; the
tests ask for the same few sizes hundreds of times, and bytes cannot be changed by a test.
"""

from __future__ import annotations

import functools
import io

from PIL import Image

from clearcutout.engine.sample import sample_photo


@functools.cache
def _sample() -> bytes:
    return sample_photo()


@functools.cache
def resized_sample(width: int, height: int, image_format: str = "JPEG") -> bytes:
    """The sample photo (orange ball, blue cup) resized to ``width``×``height``."""
    image = Image.open(io.BytesIO(_sample())).convert("RGB").resize((width, height))
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()
