"""Derived models: int8 copies of registry models, built on this machine.

No int8 build of U²-Net or ISNet can be fetched that we could verify (the registry's
dynamic-quant ISNet was worse and no faster), so ``clearcutout models pull`` builds one
from the verified upstream weights with ONNX Runtime's static quantisation (QDQ format,
MinMax calibration). The build reads nothing but the base model and calibration images
generated here (:func:`calibration_images`: the sample photo of
:mod:`clearcutout.engine.sample` at several seeds and sizes, plus synthetic shapes on
textured backgrounds), so it is the same wherever it runs and needs no data set.

The result's sha256 is recorded beside it by the model store; a build is deterministic for
a given base file and ONNX Runtime version (calibration runs single-threaded), which
``tests/engine/test_derived.py`` checks on a tiny graph.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, numpy_helper
from PIL import Image

from clearcutout.engine.models import CALIBRATION_VERSION, Family
from clearcutout.engine.sample import sample_photo
from clearcutout.errors import ModelError

__all__ = ["CALIBRATION_VERSION", "build_int8", "calibration_images", "to_float32"]


def calibration_images(count: int = 8) -> list[NDArray[np.uint8]]:
    """RGB images for calibration: the generated sample photo and synthetic scenes.

    Half are :func:`sample_photo` at different seeds and aspect ratios (a subject on a
    table against a soft background, like a product shot); half are random ellipses
    and rectangles in saturated colours over noise, so activations see hard and soft
    edges, dark and bright subjects.
    """
    images: list[NDArray[np.uint8]] = []
    sizes = [(960, 640), (640, 960), (800, 800), (1024, 576)]
    for index in range(count // 2):
        width, height = sizes[index % len(sizes)]
        data = sample_photo(width, height, seed=index + 1)
        with Image.open(io.BytesIO(data)) as photo:
            images.append(np.asarray(photo.convert("RGB")))
    rng = np.random.default_rng(2024)
    for index in range(count - count // 2):
        width, height = sizes[(index + 1) % len(sizes)]
        noise = rng.normal(0, 40, (height // 8, width // 8, 3)).astype(np.float32)
        base = rng.uniform(40, 220, 3).astype(np.float32)
        canvas = np.clip(base + cv2.resize(noise, (width, height)), 0, 255).astype(np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            centre = (
                int(rng.integers(width // 4, 3 * width // 4)),
                int(rng.integers(height // 4, 3 * height // 4)),
            )
            axes = (
                int(rng.integers(width // 10, width // 4)),
                int(rng.integers(height // 10, height // 3)),
            )
            if rng.random() < 0.5:
                cv2.ellipse(canvas, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
            else:
                corner = (centre[0] + axes[0], centre[1] + axes[1])
                cv2.rectangle(canvas, centre, corner, colour, -1)
        images.append(cv2.GaussianBlur(canvas, (3, 3), 0))
    return images


def to_float32(model: onnx.ModelProto) -> onnx.ModelProto:
    """A float16 graph (ISNet's published file) as float32, which the quantiser needs.

    Initialisers and constants become float32 and casts to float16 become casts to
    float32 (no-ops ONNX Runtime removes); nothing else changes.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    for index, tensor in enumerate(graph.initializer):
        if tensor.data_type == TensorProto.FLOAT16:
            array = numpy_helper.to_array(tensor).astype(np.float32)
            graph.initializer[index].CopyFrom(numpy_helper.from_array(array, tensor.name))
    for node in graph.node:
        for attribute in node.attribute:
            half = TensorProto.FLOAT16
            if node.op_type == "Cast" and attribute.name == "to" and attribute.i == half:
                attribute.i = TensorProto.FLOAT
            if attribute.type == onnx.AttributeProto.TENSOR and attribute.t.data_type == half:
                array = numpy_helper.to_array(attribute.t).astype(np.float32)
                attribute.t.CopyFrom(numpy_helper.from_array(array, attribute.t.name))
    for info in (*graph.value_info, *graph.input, *graph.output):
        if info.type.tensor_type.elem_type == TensorProto.FLOAT16:
            info.type.tensor_type.elem_type = TensorProto.FLOAT
    return model


def only_first_output(model: onnx.ModelProto, output: str | int) -> onnx.ModelProto:
    """Keep the one output the pipeline reads, so the side outputs' heads are pruned."""
    outputs = list(model.graph.output)
    if isinstance(output, int):
        keep = outputs[output]
    else:
        keep = next(o for o in outputs if o.name == output)
    del model.graph.output[:]
    model.graph.output.append(keep)
    return model


#: The lowest opset a per-channel QDQ model can use.
MIN_OPSET = 13


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


class _Reader:
    """ONNX Runtime's calibration reader protocol over prepared input tensors."""

    def __init__(self, name: str, tensors: Sequence[NDArray[np.float32]]) -> None:
        self._name = name
        self._tensors: Iterator[NDArray[np.float32]] = iter(tensors)

    def get_next(self) -> dict[str, NDArray[np.float32]] | None:
        tensor = next(self._tensors, None)
        return None if tensor is None else {self._name: tensor}

    def rewind(self) -> None:  # pragma: no cover - part of the protocol, unused by MinMax
        raise NotImplementedError


def build_int8(
    base: Path,
    family: Family,
    target: Path,
    *,
    images: Sequence[NDArray[np.uint8]] | None = None,
) -> None:
    """Write a static int8 (QDQ) copy of ``base`` to ``target``.

    Activations are uint8 and weights int8 per channel with a reduced (7-bit) range:
    this CPU path (AVX2 without VNNI) multiplies u8×s8 pairs into 16-bit sums that
    saturate at full range. Calibration is MinMax over ``images`` (default:
    :func:`calibration_images`), each prepared exactly as the pipeline prepares a photo.
    """
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from clearcutout.engine.session import ModelRunner

    try:
        model = onnx.load(str(base))
    except Exception as exc:  # onnx raises DecodeError and others for a bad file
        raise ModelError(f"Could not read model file {base}: {exc}") from exc
    model = only_first_output(to_float32(model), family.output)
    if _opset(model) < MIN_OPSET:
        # Per-channel DequantizeLinear (its ``axis``) needs opset 13; U²-Net's file is 11.
        from onnx import version_converter

        model = version_converter.convert_version(model, MIN_OPSET)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".derive-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        onnx.save(model, str(fp32))
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        runner = ModelRunner(prepared, family, threads=1)
        tensors = [runner.preprocess(rgb) for rgb in (images or calibration_images())]
        input_name = model.graph.input[0].name
        quantize_static(
            str(prepared),
            str(target),
            _Reader(input_name, tensors),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            calibration_providers=["CPUExecutionProvider"],
        )
