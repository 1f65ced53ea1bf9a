"""Thumbnails of finished cutouts for the history page.

Made on request from the sealed result, for its owner only, and never stored: a
thumbnail is one more copy of the image, and the retention and deletion promises of the
privacy policy ("Data Retention", "Correction & Deletion") should not have to chase it.
"""

from __future__ import annotations

import io

from PIL import Image

from clearcutout.db.models import User
from clearcutout.engine.encode import EncodedImage
from clearcutout.service.context import ServiceContext
from clearcutout.service.jobs.history import stored_result

# Longest side in pixels: sharp at 96 CSS pixels on a 2× screen.
THUMBNAIL_PIXELS = 192


def thumbnail(
    ctx: ServiceContext, user: User, job_id: str, *, max_side: int = THUMBNAIL_PIXELS
) -> EncodedImage:
    """A small WebP of the cutout (transparency kept), at most ``max_side`` pixels."""
    _job, stored = stored_result(ctx, user, job_id)
    with Image.open(io.BytesIO(stored)) as image:
        # ``reducing_gap`` shrinks by whole factors first: fast on a large result.
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
        buffer = io.BytesIO()
        image.save(buffer, format="WEBP", quality=80, method=4)
    return EncodedImage(data=buffer.getvalue(), media_type="image/webp", extension="webp")
