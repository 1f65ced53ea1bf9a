"""Synchronous cutouts — remove.bg's API and ``store=false`` jobs — through one bounded pool.

Every image processed while a request waits goes through :func:`process_now`:

* **embedded** (``local`` executor): in this process, holding one of
  ``removebg.max_concurrent`` slots shared by both paths, so memory stays bounded however
  many requests arrive (README, "Limits": the peak per request). A request that finds no
  slot within ``sync_slot_wait_seconds`` gets 503 ``server_busy`` with ``Retry-After``
  instead of queueing without end.
* **scale-out** (``celery`` executor): on a worker of the region (the workers layer
  installs a :class:`RemoteProcessor` with :func:`use_remote`), so the API process never
  loads a model; bytes travel sealed with the region key.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from clearcutout.config import Settings
from clearcutout.engine import CutoutOptions
from clearcutout.errors import BusyError, NoForegroundError
from clearcutout.service.infra.metrics import observe_processing
from clearcutout.service.jobs.history import ProcessedImage
from clearcutout.service.jobs.submission import remover_for

__all__ = [
    "RemoteProcessor",
    "SyncRequest",
    "process_locally",
    "process_now",
    "use_remote",
]


@dataclass(frozen=True)
class SyncRequest:
    """One cutout a caller waits for: the photo, its options, and the model of the region
    that makes it; ``require_foreground`` refuses an image with no subject (remove.bg)."""

    region: str
    model: str
    image: bytes
    options: CutoutOptions
    background: bytes | None = None
    require_foreground: bool = False


class RemoteProcessor(Protocol):
    """Processes a synchronous cutout elsewhere (a worker of ``region``)."""

    def __call__(self, request: SyncRequest, /) -> ProcessedImage: ...


_remote: RemoteProcessor | None = None
_gates: dict[int, threading.BoundedSemaphore] = {}
_gates_lock = threading.Lock()


def use_remote(processor: RemoteProcessor | None) -> None:
    """Send synchronous cutouts of this process to ``processor`` (None: process here)."""
    global _remote
    _remote = processor


def _gate(limit: int) -> threading.BoundedSemaphore:
    """The process-wide pool of synchronous processing slots."""
    with _gates_lock:
        gate = _gates.get(limit)
        if gate is None:
            gate = _gates[limit] = threading.BoundedSemaphore(limit)
        return gate


def process_now(settings: Settings, request: SyncRequest) -> ProcessedImage:
    """Cut out the image while the caller waits: on a worker, or here in a pool slot."""
    if _remote is not None:
        return _remote(request)
    return process_locally(settings, request)


def process_locally(settings: Settings, request: SyncRequest) -> ProcessedImage:
    """Process in this process, in one of the bounded slots (503 when none frees up)."""
    gate = _gate(settings.removebg.max_concurrent)
    if not gate.acquire(timeout=settings.sync_slot_wait_seconds):
        raise BusyError(
            "Every processing slot is busy; try again shortly.",
            retry_after_s=max(1, int(settings.sync_slot_wait_seconds) or 5),
        )
    try:
        started = time.perf_counter()
        # remove.bg's rule: a photo with nothing in it (plain white, grey, black) is refused
        # before the model runs, which would answer with a faint, false matte.
        cutout = remover_for(settings, request.model).process(
            request.image,
            request.options,
            background=request.background,
            require_subject=request.require_foreground,
        )
        observe_processing(
            request.model, cutout.width, cutout.height, time.perf_counter() - started, path="sync"
        )
        if request.require_foreground and cutout.foreground.is_empty:
            # remove.bg refuses (and charges nothing) rather than return an empty image.
            raise NoForegroundError("No foreground could be found in the image.")
        encoded = cutout.encode()
        return ProcessedImage(
            image=encoded, width=cutout.width, height=cutout.height, foreground=cutout.foreground
        )
    finally:
        gate.release()
