"""Synchronous cutouts on workers (Celery executor): the API process seals the image with
the region key, sends it on the region's queue, and waits for the sealed answer.

Nothing travels or rests in plaintext: the task message holds the image sealed with the
region's master key (AES-256-GCM, bound to a one-time transfer id and its direction, as
stored objects are sealed — docs/architecture.md, "Encryption and keys"); the worker
answers the cutout sealed the same way. The message is acknowledged once answered, and
the answer is deleted from the result backend as soon as the API process read it
(privacy policy, "Data Retention": images processed without storage are not kept).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING, Any

from celery.exceptions import TimeoutError as CeleryTimeout

from clearcutout import errors
from clearcutout.crypto import decrypt, encrypt
from clearcutout.engine import CutoutOptions
from clearcutout.engine.encode import EncodedImage
from clearcutout.engine.geometry import Box
from clearcutout.errors import BusyError, ClearCutoutError
from clearcutout.service.jobs import sync
from clearcutout.service.jobs.history import ProcessedImage
from clearcutout.service.runtime import Runtime

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)

__all__ = ["RemoteCutouts", "serve_cutout"]


def _aad(transfer: str, part: str) -> bytes:
    return f"clearcutout-transfer:{transfer}:{part}".encode()


def _seal(runtime: Runtime, region: str, transfer: str, part: str, data: bytes) -> str:
    key = runtime.keyring.master_key(region)
    return base64.b64encode(encrypt(key, data, aad=_aad(transfer, part))).decode("ascii")


def _open(runtime: Runtime, region: str, transfer: str, part: str, sealed: str) -> bytes:
    key = runtime.keyring.master_key(region)
    return decrypt(key, base64.b64decode(sealed), aad=_aad(transfer, part))


class RemoteCutouts:
    """The :class:`~clearcutout.service.jobs.sync.RemoteProcessor` of an API process."""

    def __init__(self, runtime: Runtime, app: Celery, task_name: str, queue_of: Any) -> None:
        self.runtime = runtime
        self.app = app
        self.task_name = task_name
        self.queue_of = queue_of

    def __call__(self, wanted: sync.SyncRequest) -> ProcessedImage:
        settings = self.runtime.settings
        transfer = uuid.uuid4().hex
        region, background = wanted.region, wanted.background
        request = {
            "transfer": transfer,
            "region": region,
            "model": wanted.model,
            "options": wanted.options.to_dict(),
            "require_foreground": wanted.require_foreground,
            "image": _seal(self.runtime, region, transfer, "image", wanted.image),
            "background": (
                _seal(self.runtime, region, transfer, "background", background)
                if background is not None
                else None
            ),
        }
        wait_s = settings.sync_wait_seconds
        try:
            pending = self.app.send_task(
                self.task_name,
                args=[request],
                queue=self.queue_of(settings, region),
                expires=wait_s,  # a worker drops it once nobody waits for it any more
            )
        except Exception as exc:
            raise BusyError(
                "Processing is unavailable right now; try again shortly.", retry_after_s=10
            ) from exc
        try:
            answer: dict[str, Any] = pending.get(timeout=wait_s, propagate=True)
        except CeleryTimeout as exc:
            raise BusyError(
                "No worker finished the image in time; try again shortly.",
                retry_after_s=max(1, int(wait_s // 4)),
            ) from exc
        finally:
            with contextlib.suppress(Exception):  # rpc:// keeps nothing to forget
                pending.forget()
        error = answer.get("error")
        if error is not None:
            raise _rebuilt(error)
        data = _open(self.runtime, region, transfer, "result", answer["image"])
        top, left, width, height = answer["foreground"]
        return ProcessedImage(
            image=EncodedImage(
                data=data, media_type=answer["media_type"], extension=answer["extension"]
            ),
            width=answer["width"],
            height=answer["height"],
            foreground=Box(left=left, top=top, width=width, height=height),
        )


def _rebuilt(error: dict[str, str]) -> ClearCutoutError:
    """The worker's refusal as the same error class in this process (same code, status)."""
    kind = getattr(errors, error.get("type", ""), None)
    message = error.get("message", "Processing failed.")
    if isinstance(kind, type) and issubclass(kind, ClearCutoutError):
        try:
            rebuilt = kind(message)
            rebuilt.code = error.get("code", rebuilt.code)
            return rebuilt
        except TypeError:  # a class with other constructor arguments
            pass
    return ClearCutoutError(message, code=error.get("code", "internal_error"))


def serve_cutout(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """The worker's side: open, process in this process's pool slot, seal the answer."""
    transfer = str(request["transfer"])
    region = str(request["region"])
    try:
        image = _open(runtime, region, transfer, "image", request["image"])
        background = (
            _open(runtime, region, transfer, "background", request["background"])
            if request.get("background")
            else None
        )
        wanted = sync.SyncRequest(
            region=region,
            model=str(request["model"]),
            image=image,
            options=CutoutOptions.from_dict(request["options"]),
            background=background,
            require_foreground=bool(request.get("require_foreground")),
        )
        cutout = sync.process_locally(runtime.settings, wanted)
    except ClearCutoutError as exc:
        return {"error": {"type": type(exc).__name__, "code": exc.code, "message": exc.message}}
    except Exception as exc:
        log.exception("cutout.crashed reason=%s", type(exc).__name__)
        return {
            "error": {
                "type": "ClearCutoutError",
                "code": "internal_error",
                "message": "Processing failed unexpectedly.",
            }
        }
    box = cutout.foreground
    return {
        "image": _seal(runtime, region, transfer, "result", cutout.image.data),
        "media_type": cutout.image.media_type,
        "extension": cutout.image.extension,
        "width": cutout.width,
        "height": cutout.height,
        "foreground": [box.top, box.left, box.width, box.height],
    }
