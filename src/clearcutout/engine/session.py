"""ONNX Runtime sessions: one per model file per process, created lazily, shared by threads.

A session is expensive (hundreds of MB, a second or more to build), so it is never made
per image. ``InferenceSession.run`` is thread-safe; several threads share one session
and one intra-op thread pool sized to the machine. The cache is bounded (least recently
used model is dropped) and guarded by a lock so two threads never build the same session.

The execution provider is chosen by ``CLEARCUTOUT_EXECUTION_PROVIDER``: ``cpu``, ``cuda``
(refused with a clear error when ONNX Runtime has no CUDA provider, as without the
``clearcutout[gpu]`` extra) or ``auto`` (CUDA when present, else the CPU). A CUDA session
is bound to one device, so the cache holds one session per model per device.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from clearcutout.engine.models import Family
from clearcutout.errors import InferenceError, ModelError

log = logging.getLogger(__name__)

_MAX_SESSIONS = 4

Providers = list[str | tuple[str, dict[str, object]]]


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class ModelRunner:
    """A loaded model and its family's pre- and post-processing."""

    def __init__(
        self,
        path: Path,
        family: Family,
        *,
        threads: int,
        providers: Providers | None = None,
    ) -> None:
        self.path = path
        self.family = family
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ORT's memory pattern pre-plans one block per run on top of the arena; without
        # it the arena alone serves the same tensors at the same speed (measured: U²-Netp
        # 0.232 s either way, peak RSS 556 → 362 MiB; U²-Net 1065 → 780 MiB).
        options.enable_mem_pattern = False
        # Idle intra-op threads sleep instead of spinning after a run: spinning, they
        # took the cores from the refinement and PNG threads that follow every inference
        # (2 MP, U²-Net: work around the model 71 → 58 ms; the model itself no slower).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=options, providers=providers or _providers("auto")
            )
        except Exception as exc:  # ORT raises its own untyped errors for bad files
            raise ModelError(f"Could not load model file {path}: {exc}") from exc
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"{path} has {len(inputs)} inputs; a cutout model has one.")
        self._input_name = inputs[0].name
        outputs = self._session.get_outputs()
        output = family.output
        self._output_name = outputs[output].name if isinstance(output, int) else output
        shape = inputs[0].shape
        fixed = [dim for dim in shape[2:] if isinstance(dim, int)]
        self.input_size = fixed[0] if fixed else family.input_size
        scale = np.array(family.std, dtype=np.float32)
        self._mean_over_std = (np.array(family.mean, dtype=np.float32) / scale).reshape(3, 1, 1)
        self._inv_std = (1.0 / scale).reshape(3, 1, 1)

    def preprocess(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Resize (uint8) then normalise into the model's 1×3×S×S float32 input."""
        size = self.input_size
        height, width = rgb.shape[:2]
        interpolation = cv2.INTER_AREA if width * height > size * size else cv2.INTER_CUBIC
        small = cv2.resize(rgb, (size, size), interpolation=interpolation)
        divisor = self.family.pixel_divisor
        if divisor is None:
            divisor = max(float(small.max()), 1e-6)
        tensor = small.transpose(2, 0, 1).astype(np.float32)
        tensor *= self._inv_std / divisor
        tensor -= self._mean_over_std
        return np.ascontiguousarray(tensor[None], dtype=np.float32)

    def run(self, tensor: NDArray[np.float32]) -> NDArray[np.float32]:
        """The raw model output for a prepared input, as S×S float32."""
        try:
            (output,) = self._session.run([self._output_name], {self._input_name: tensor})
        except Exception as exc:  # ORT's errors carry no useful type
            raise InferenceError(f"Model {self.path.name} failed: {exc}") from exc
        prediction = np.asarray(output, dtype=np.float32)
        return prediction.reshape(prediction.shape[-2:])

    def postprocess(self, raw: NDArray[np.float32]) -> NDArray[np.float32]:
        """Raw output → alpha in [0, 1] (the family's mapping)."""
        transform = self.family.transform
        alpha: NDArray[np.float32]
        if transform == "sigmoid":
            alpha = (1.0 / (1.0 + np.exp(-raw))).astype(np.float32)
        elif transform == "minmax":
            low, high = float(raw.min()), float(raw.max())
            alpha = ((raw - low) / max(high - low, 1e-6)).astype(np.float32)
        else:
            alpha = raw.astype(np.float32, copy=True)
        np.clip(alpha, 0.0, 1.0, out=alpha)
        return alpha

    def predict(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Alpha in [0, 1] at the model's resolution (S×S) for an H×W×3 uint8 image."""
        return self.postprocess(self.run(self.preprocess(rgb)))


ExecutionProvider = Literal["auto", "cpu", "cuda"]


def _providers(choice: str) -> list[str]:
    available = ort.get_available_providers()
    if choice == "cpu":
        return ["CPUExecutionProvider"]
    if choice == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise ModelError(
                "CLEARCUTOUT_EXECUTION_PROVIDER=cuda, but ONNX Runtime has no CUDA provider "
                "here (install clearcutout[gpu], onnxruntime-gpu, and the CUDA libraries)."
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    preferred = ["CUDAExecutionProvider", "CoreMLExecutionProvider", "CPUExecutionProvider"]
    chosen = [name for name in preferred if name in available]
    return chosen or ["CPUExecutionProvider"]


def _device_providers(choice: str, device: int) -> Providers:
    providers: Providers = list(_providers(choice))
    if providers[0] == "CUDAExecutionProvider":
        providers[0] = ("CUDAExecutionProvider", {"device_id": device})
    return providers


_runners: OrderedDict[tuple[str, str, int, str, int], ModelRunner] = OrderedDict()
_runners_lock = threading.Lock()


def get_runner(
    path: Path,
    family: Family,
    *,
    threads: int = 0,
    provider: str = "auto",
    device: int = 0,
) -> ModelRunner:
    """The process-wide runner for a model file on one device (built once, least
    recently used dropped)."""
    threads = threads or available_cores()
    providers = _device_providers(provider, device)
    on_gpu = not isinstance(providers[0], str)  # a CUDA entry carries its device
    key = (str(path.resolve()), family.name, threads, provider, device if on_gpu else -1)
    with _runners_lock:
        runner = _runners.get(key)
        if runner is not None:
            _runners.move_to_end(key)
            return runner
        log.info("model.session_created path=%s threads=%d", path.name, threads)
        runner = ModelRunner(path, family, threads=threads, providers=providers)
        _runners[key] = runner
        while len(_runners) > _MAX_SESSIONS:
            _runners.popitem(last=False)
        return runner


def clear_runners() -> None:
    """Drop every cached session (frees memory; tests use it to count session creation)."""
    with _runners_lock:
        _runners.clear()
