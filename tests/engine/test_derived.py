"""Derived int8 models: the build (on tiny graphs, not ISNet) and the store's handling.

The graphs here are real ONNX models, built with ``onnx.helper``: a float32 one shaped
like a cutout model (1×3×S×S in, 1×1×S×S out) and a float16 one shaped like ISNet's
published file (casts around float16 weights).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from clearcutout.engine.derived import build_int8, calibration_images, to_float32
from clearcutout.engine.models import FAMILIES, DerivedSource, ModelSpec, UrlSource
from clearcutout.engine.session import ModelRunner
from clearcutout.engine.store import ModelStore
from clearcutout.errors import ModelUnavailableError

SIZE = 32


def _tiny_model(*, half: bool = False, opset: int = 15) -> onnx.ModelProto:
    """Conv 3→4 (3×3) → ReLU → Conv 4→1 (1×1) → Sigmoid, plus an unused side output."""
    rng = np.random.default_rng(5)
    dtype = np.float16 if half else np.float32
    w1 = numpy_helper.from_array((rng.normal(0, 0.5, (4, 3, 3, 3))).astype(dtype), "w1")
    b1 = numpy_helper.from_array(rng.normal(0, 0.1, 4).astype(dtype), "b1")
    w2 = numpy_helper.from_array((rng.normal(0, 0.5, (1, 4, 1, 1))).astype(dtype), "w2")
    b2 = numpy_helper.from_array(np.zeros(1, dtype), "b2")
    nodes = []
    first = "input"
    if half:
        nodes.append(helper.make_node("Cast", ["input"], ["input16"], to=TensorProto.FLOAT16))
        first = "input16"
    nodes += [
        helper.make_node("Conv", [first, "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"]),
        helper.make_node("Sigmoid", ["c2"], ["s2"] if half else ["output"]),
        helper.make_node("Relu", ["c2"], ["side16"] if half else ["side"]),
    ]
    if half:
        nodes.append(helper.make_node("Cast", ["s2"], ["output"], to=TensorProto.FLOAT))
        nodes.append(helper.make_node("Cast", ["side16"], ["side"], to=TensorProto.FLOAT))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [
            helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, SIZE, SIZE]),
            helper.make_tensor_value_info("side", TensorProto.FLOAT, [1, 1, SIZE, SIZE]),
        ],
        [w1, b1, w2, b2],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "tiny.onnx"
    onnx.save(_tiny_model(), str(path))
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _predict(path: Path, rgb: np.ndarray) -> np.ndarray:
    return ModelRunner(path, FAMILIES["u2net"], threads=1).predict(rgb)


def test_build_int8_writes_a_qdq_model_close_to_the_float_one(
    tiny_path: Path, tmp_path: Path
) -> None:
    target = tmp_path / "tiny-int8.onnx"
    build_int8(tiny_path, FAMILIES["u2net"], target)
    built = onnx.load(str(target))
    ops = {node.op_type for node in built.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    # Weights are stored as int8 (the model's size is what int8 buys besides speed).
    assert any(t.data_type == TensorProto.INT8 for t in built.graph.initializer)
    # Only the output the pipeline reads is kept.
    assert [o.name for o in built.graph.output] == ["output"]
    for rgb in calibration_images(4):
        reference, quantised = _predict(tiny_path, rgb), _predict(target, rgb)
        assert reference.shape == quantised.shape == (SIZE, SIZE)
        assert float(np.abs(reference - quantised).mean()) < 0.03


def test_build_int8_lifts_an_old_opset_for_per_channel_weights(tmp_path: Path) -> None:
    # U²-Net's published file is opset 11, where DequantizeLinear has no axis.
    old, target = tmp_path / "old.onnx", tmp_path / "old-int8.onnx"
    onnx.save(_tiny_model(opset=11), str(old))
    build_int8(old, FAMILIES["u2net"], target)
    built = onnx.load(str(target))
    assert max(o.version for o in built.opset_import if o.domain in ("", "ai.onnx")) >= 13
    rgb = calibration_images(2)[0]
    assert float(np.abs(_predict(old, rgb) - _predict(target, rgb)).mean()) < 0.03


def test_build_int8_is_deterministic(tiny_path: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.onnx", tmp_path / "b.onnx"
    build_int8(tiny_path, FAMILIES["u2net"], first)
    build_int8(tiny_path, FAMILIES["u2net"], second)
    assert _sha256(first) == _sha256(second)


def test_calibration_images_need_no_data_set() -> None:
    images = calibration_images()
    assert len(images) == 8
    assert all(image.dtype == np.uint8 and image.ndim == 3 for image in images)
    # Generated, so the same everywhere: two calls give the same pixels.
    again = calibration_images()
    assert all(np.array_equal(a, b) for a, b in zip(images, again, strict=True))
    # Not blank: each has a subject that differs from its background.
    assert all(float(image.std()) > 10 for image in images)


def test_to_float32_converts_a_float16_graph(tmp_path: Path) -> None:
    half = _tiny_model(half=True)
    converted = to_float32(half)
    assert not any(t.data_type == TensorProto.FLOAT16 for t in converted.graph.initializer)
    casts = [n for n in converted.graph.node if n.op_type == "Cast"]
    assert all(a.i == TensorProto.FLOAT for n in casts for a in n.attribute if a.name == "to")
    half_path, float_path = tmp_path / "half.onnx", tmp_path / "float.onnx"
    onnx.save(half, str(half_path))
    onnx.save(converted, str(float_path))
    tensor = np.random.default_rng(1).uniform(-1, 1, (1, 3, SIZE, SIZE)).astype(np.float32)
    outputs = [
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(
            ["output"], {"input": tensor}
        )[0]
        for p in (half_path, float_path)
    ]
    np.testing.assert_allclose(outputs[0], outputs[1], atol=5e-3)
    # And the float16 graph quantises through the same path.
    target = tmp_path / "half-int8.onnx"
    build_int8(half_path, FAMILIES["u2net"], target)
    assert {"QuantizeLinear"} <= {node.op_type for node in onnx.load(str(target)).graph.node}


# -- the store ----------------------------------------------------------------------------


def _registry(base_file: Path) -> dict[str, ModelSpec]:
    family = FAMILIES["u2net"]
    # The base is "verified" by its sha256, as a registry model is by its source's digest.
    base = ModelSpec(
        "tiny",
        family,
        "tiny test graph",
        "test",
        base_file.stat().st_size,
        (UrlSource("https://models.invalid/tiny.onnx", f"sha256:{_sha256(base_file)}"),),
    )
    derived = ModelSpec(
        "tiny-int8", family, "tiny, int8", "test", 0, (DerivedSource("tiny", "int8-qdq", "v1"),)
    )
    return {base.name: base, derived.name: derived}


@pytest.fixture
def store(tiny_path: Path, tmp_path: Path) -> ModelStore:
    directory = tmp_path / "models"
    directory.mkdir()
    (directory / "tiny.onnx").write_bytes(tiny_path.read_bytes())
    return ModelStore(directory, allow_download=False, registry=_registry(tiny_path))


def test_store_builds_a_derived_model_once_and_records_its_checksum(store: ModelStore) -> None:
    phases: list[str] = []
    path = store.ensure("tiny-int8", progress=lambda done, total, phase: phases.append(phase))
    assert path == store.directory / "tiny-int8.onnx"
    assert any(phase.startswith("building tiny-int8 from tiny") for phase in phases)
    record = json.loads((store.directory / ".tiny-int8.onnx.verified.json").read_text())
    assert record["digest"] == "derived:tiny:int8-qdq:v1"
    assert record["sha256"] == _sha256(path)
    assert store.is_cached("tiny-int8")
    built_at = path.stat().st_mtime_ns
    # A second call uses the cached build.
    assert store.ensure("tiny-int8") == path
    assert path.stat().st_mtime_ns == built_at
    # No half-built files are left behind.
    assert sorted(p.name for p in store.directory.iterdir() if p.suffix == ".onnx") == [
        "tiny-int8.onnx",
        "tiny.onnx",
    ]


def test_store_rebuilds_a_changed_derived_model_and_keeps_a_touched_one(
    store: ModelStore,
) -> None:
    path = store.ensure("tiny-int8")
    digest = _sha256(path)
    # Touched (copied with a new mtime), bytes unchanged: rehashed and trusted.
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    assert store.is_cached("tiny-int8")
    assert store.ensure("tiny-int8") == path
    assert _sha256(path) == digest
    # Changed bytes: not trusted, rebuilt.
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    assert not store.is_cached("tiny-int8")
    store.ensure("tiny-int8")
    assert _sha256(path) == digest


def test_store_cannot_build_without_its_base(store: ModelStore) -> None:
    (store.directory / "tiny.onnx").unlink()
    with pytest.raises(ModelUnavailableError, match="tiny"):
        store.ensure("tiny-int8")
    assert not (store.directory / "tiny-int8.onnx").exists()


def test_registry_lists_the_presets_derived_models() -> None:
    from clearcutout.engine.models import REGISTRY
    from clearcutout.engine.presets import PRESETS, preset_models

    for name in PRESETS:
        for model in preset_models(name):
            assert model in REGISTRY
    sources = REGISTRY["u2net-int8"].sources
    assert sources == (DerivedSource("u2net", "int8-qdq", "v1"),)
    assert REGISTRY["u2net-int8"].sources[0].describe().startswith("built locally from u2net")
