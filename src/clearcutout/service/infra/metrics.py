"""Process-wide Prometheus metrics of image processing (``/metrics``, docs/scale-out.md).

Labels carry no personal data: a model name and a size class, never a user, key, IP,
file name or job id (privacy policy, "Usage Data"). The queue figures are read
from the database at scrape time (``web/metrics.py``), so every API process reports the
same numbers whichever one is scraped.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

__all__ = ["PROCESS_REGISTRY", "observe_processing", "size_class"]

#: Metrics that this process records as it works (jobs run here, synchronous cutouts).
PROCESS_REGISTRY = CollectorRegistry(auto_describe=True)

_PROCESSING = Histogram(
    "clearcutout_processing_seconds",
    "Seconds to process one image, by model and size class (megapixels).",
    ["model", "size", "path"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
    registry=PROCESS_REGISTRY,
)


def size_class(width: int, height: int) -> str:
    """The image's size as a coarse class (``le1mp`` … ``gt12mp``): few label values."""
    megapixels = width * height / 1_000_000
    for limit in (1, 4, 12):
        if megapixels <= limit:
            return f"le{limit}mp"
    return "gt12mp"


def observe_processing(model: str, width: int, height: int, seconds: float, *, path: str) -> None:
    """Count one processed image (``path``: ``job`` or ``sync``)."""
    _PROCESSING.labels(model=model, size=size_class(width, height), path=path).observe(seconds)
