"""Keep freed image buffers in the process instead of handing them back to the kernel.

Every cutout allocates the same large arrays again (a 2 MP float32 matte is 8 MB). With
glibc's defaults, memory freed at the top of a heap is returned to the kernel soon after,
so the next image touches fresh pages and pays a page fault per 4 KiB: measured on 2 MP
photos right after an inference, the guided filter took 68 ms instead of 24 ms. Fixing
the mmap threshold at its maximum (32 MiB) and raising the trim threshold keeps those
pages for the next image. Peak memory is unchanged (it is the same working set); memory
between images stays at that peak, which a service reaches anyway.

Linux/glibc only; elsewhere, or with ``CLEARCUTOUT_TUNE_ALLOCATOR=false``, nothing
changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: glibc's largest mmap threshold on 64-bit: larger blocks are always mapped directly.
MMAP_THRESHOLD = 32 << 20
#: Free memory at a heap's top beyond this goes back to the kernel.
TRIM_THRESHOLD = 256 << 20

_done = False
_lock = threading.Lock()


def keep_freed_buffers() -> bool:
    """Apply the settings above once per process; True if glibc accepted them."""
    global _done
    with _lock:
        if _done:
            return True
        name = ctypes.util.find_library("c")
        try:
            mallopt = ctypes.CDLL(name).mallopt if name else None
        except (OSError, AttributeError):
            mallopt = None
        if mallopt is None:  # not glibc (macOS, Windows, musl without mallopt)
            return False
        accepted = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
            mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        )
        _done = accepted
        if not accepted:
            log.info("allocator.tuning_refused")
        return accepted
