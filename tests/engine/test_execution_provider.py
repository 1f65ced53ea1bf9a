"""CLEARCUTOUT_EXECUTION_PROVIDER: cpu, cuda or auto; one session per model per device.

The CUDA tests need a GPU and onnxruntime-gpu (``clearcutout[gpu]``) and are skipped,
with the reason, where either is missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from numpy.typing import NDArray

from clearcutout.config import EngineSettings
from clearcutout.engine import Remover
from clearcutout.engine.models import get_spec
from clearcutout.engine.session import clear_runners, get_runner
from clearcutout.errors import ModelError

HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()
needs_gpu = pytest.mark.skipif(
    not HAS_CUDA,
    reason="no CUDA GPU here: ONNX Runtime offers no CUDAExecutionProvider "
    "(needs an NVIDIA GPU and clearcutout[gpu])",
)


def test_the_setting_takes_three_values(monkeypatch: pytest.MonkeyPatch) -> None:
    assert EngineSettings().execution_provider == "auto"
    monkeypatch.setenv("CLEARCUTOUT_EXECUTION_PROVIDER", "cpu")
    assert EngineSettings().execution_provider == "cpu"
    monkeypatch.setenv("CLEARCUTOUT_EXECUTION_PROVIDER", "tpu")
    with pytest.raises(ValueError, match="execution_provider"):
        EngineSettings()


def test_cpu_sessions_run_on_the_cpu(remover: Remover) -> None:
    path = remover.runner.path
    runner = get_runner(path, get_spec("u2netp").family, threads=1, provider="cpu")
    assert runner._session.get_providers() == ["CPUExecutionProvider"]


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA; the refusal is for machines without")
def test_cuda_without_a_gpu_is_refused_with_the_way_out(
    remover: Remover, sample_rgb: NDArray[np.uint8]
) -> None:
    settings = EngineSettings(execution_provider="cuda")
    gpu_remover = Remover("u2netp", settings=settings)
    with pytest.raises(ModelError, match=r"clearcutout\[gpu\]"):
        gpu_remover.predict_alpha(sample_rgb)


@needs_gpu
def test_cuda_session_matches_the_cpu(remover: Remover, sample_rgb: NDArray[np.uint8]) -> None:
    path: Path = remover.runner.path
    family = get_spec("u2netp").family
    cpu = get_runner(path, family, threads=1, provider="cpu")
    gpu = get_runner(path, family, threads=1, provider="cuda", device=0)
    assert gpu._session.get_providers()[0] == "CUDAExecutionProvider"
    np.testing.assert_allclose(gpu.predict(sample_rgb), cpu.predict(sample_rgb), atol=2e-3)


@needs_gpu
def test_one_session_per_model_per_device(remover: Remover) -> None:
    clear_runners()
    path: Path = remover.runner.path
    family = get_spec("u2netp").family
    first = get_runner(path, family, provider="cuda", device=0)
    assert get_runner(path, family, provider="cuda", device=0) is first
    assert get_runner(path, family, provider="cpu") is not first
