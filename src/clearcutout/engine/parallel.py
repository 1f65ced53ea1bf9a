"""One small thread pool for the engine's data-parallel steps (PNG stripes, full-size
refinement stripes). OpenCV and zlib release the GIL, so stripes run on every core.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from clearcutout.engine.session import available_cores

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=available_cores(), thread_name_prefix="clearcutout-stripes"
            )
        return _pool


def run_stripes(work: Callable[[int, int], T], height: int, stripes: int) -> list[T]:
    """``work(start, stop)`` over ``stripes`` bands of rows ``0:height``, results in order."""
    if stripes <= 1:
        return [work(0, height)]
    bounds = [round(height * i / stripes) for i in range(stripes + 1)]
    futures = [
        _shared_pool().submit(work, bounds[i], bounds[i + 1])
        for i in range(stripes)
        if bounds[i + 1] > bounds[i]
    ]
    return [future.result() for future in futures]
