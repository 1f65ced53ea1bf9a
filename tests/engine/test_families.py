"""Pre- and post-processing of every model family, with tiny ONNX graphs built here.

BiRefNet, BRIA and the registry-only models cannot be downloaded in the tests, so each
family is checked against a graph with that family's real input shape (1×3×S×S) whose
output reveals what the runner fed it: one channel of the input sliced out, or a fixed
logit map. The graphs are written to ``tmp_path``; no model file is committed.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from clearcutout.engine import session
from clearcutout.engine.models import FAMILIES, IMAGENET_MEAN, IMAGENET_STD, Family
from clearcutout.engine.session import ModelRunner, clear_runners, get_runner
from clearcutout.errors import ModelError

FAMILY_SIZES = {"u2net": 320, "isnet": 1024, "birefnet": 1024, "bria": 1024}
COLOUR = (200, 100, 50)  # distinct per channel, so RGB and BGR cannot be confused


@pytest.fixture(autouse=True)
def _fresh_runner_cache() -> Iterator[None]:
    """An empty process-wide runner cache per test; other tests' runners come back after."""
    with session._runners_lock:
        saved = list(session._runners.items())
    clear_runners()
    yield
    with session._runners_lock:
        session._runners.clear()
        session._runners.update(saved)


# ------------------------------------------------------------------------------ graphs


def _save(
    tmp_path: Path,
    name: str,
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[onnx.ValueInfoProto],
    outputs: Sequence[onnx.ValueInfoProto],
    initializers: Sequence[onnx.TensorProto] = (),
) -> Path:
    graph = helper.make_graph(list(nodes), name, list(inputs), list(outputs), list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def _image_input(size: int | str, name: str = "image") -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 3, size, size])


def _map_output(name: str, size: int | str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 1, size, size])


def _ints(name: str, values: list[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def channel_graph(tmp_path: Path, size: int | str, channel: int, *, name: str = "") -> Path:
    """Output = input channel ``channel``, shape 1×1×S×S."""
    return _save(
        tmp_path,
        name or f"channel{channel}_{size}",
        [helper.make_node("Slice", ["image", "start", "end", "axis"], ["mask"])],
        [_image_input(size)],
        [_map_output("mask", size)],
        [_ints("start", [channel]), _ints("end", [channel + 1]), _ints("axis", [1])],
    )


def logit_graph(tmp_path: Path, logits: NDArray[np.float32], *, name: str = "logits") -> Path:
    """Output = a fixed S×S map (plus 0 × the input, so the graph really reads its input)."""
    size = logits.shape[-1]
    return _save(
        tmp_path,
        name,
        [
            helper.make_node("Slice", ["image", "start", "end", "axis"], ["first"]),
            helper.make_node("Mul", ["first", "zero"], ["nothing"]),
            helper.make_node("Add", ["nothing", "logits"], ["mask"]),
        ],
        [_image_input(size)],
        [_map_output("mask", size)],
        [
            _ints("start", [0]),
            _ints("end", [1]),
            _ints("axis", [1]),
            numpy_helper.from_array(np.zeros((1,), np.float32), "zero"),
            numpy_helper.from_array(logits.reshape(1, 1, size, size).astype(np.float32), "logits"),
        ],
    )


def two_output_graph(tmp_path: Path, size: int, first: float, second: float) -> Path:
    """Two outputs (like U²-Net's d0…d6): constant ``first`` and constant ``second``."""
    nodes = [helper.make_node("Slice", ["image", "start", "end", "axis"], ["channel"])]
    nodes.append(helper.make_node("Mul", ["channel", "zero"], ["nothing"]))
    nodes.append(helper.make_node("Add", ["nothing", "a"], ["out_a"]))
    nodes.append(helper.make_node("Add", ["nothing", "b"], ["out_b"]))
    return _save(
        tmp_path,
        "two_outputs",
        nodes,
        [_image_input(size)],
        [_map_output("out_a", size), _map_output("out_b", size)],
        [
            _ints("start", [0]),
            _ints("end", [1]),
            _ints("axis", [1]),
            numpy_helper.from_array(np.zeros((1,), np.float32), "zero"),
            numpy_helper.from_array(np.array([first], np.float32), "a"),
            numpy_helper.from_array(np.array([second], np.float32), "b"),
        ],
    )


def constant_image(
    colour: tuple[int, int, int] = COLOUR, shape: tuple[int, int] = (48, 64)
) -> NDArray[np.uint8]:
    rgb = np.zeros((*shape, 3), np.uint8)
    rgb[:] = colour
    return rgb


# ---------------------------------------------------------------------- pre-processing


def expected_input(family: str, colour: tuple[int, int, int]) -> list[float]:
    """What each family's reference code feeds its network for a constant-colour image."""
    values = np.array(colour, np.float64)
    if family == "u2net":  # rembg: divide by the image's max, then ImageNet mean/std
        scaled = values / values.max()
        return list((scaled - IMAGENET_MEAN) / IMAGENET_STD)
    if family == "isnet":  # IMG.LY: (x / 256 − 0.5) / 1
        return list(values / 256 - 0.5)
    # birefnet and bria: x / 255, then ImageNet mean/std
    return list((values / 255 - IMAGENET_MEAN) / IMAGENET_STD)


@pytest.mark.parametrize("colour", [COLOUR, (30, 60, 120), (255, 255, 255)])
@pytest.mark.parametrize("family", sorted(FAMILY_SIZES))
def test_each_family_normalises_rgb_channels_as_its_reference_code(
    tmp_path: Path, family: str, colour: tuple[int, int, int]
) -> None:
    size = FAMILY_SIZES[family]
    expected = expected_input(family, colour)

    for channel in range(3):
        path = channel_graph(tmp_path, size, channel)
        runner = ModelRunner(path, FAMILIES[family], threads=1)

        fed = runner.run(runner.preprocess(constant_image(colour)))

        assert fed.shape == (size, size)
        np.testing.assert_allclose(fed, expected[channel], atol=1e-4)


@pytest.mark.parametrize("family", sorted(FAMILY_SIZES))
def test_channel_order_is_rgb_not_bgr(tmp_path: Path, family: str) -> None:
    runner = ModelRunner(
        channel_graph(tmp_path, FAMILY_SIZES[family], 0), FAMILIES[family], threads=1
    )
    red_only = expected_input(family, (250, 0, 0))[0]
    blue_only_red_channel = expected_input(family, (0, 0, 250))[0]

    fed_red = runner.run(runner.preprocess(constant_image((250, 0, 0))))
    fed_blue = runner.run(runner.preprocess(constant_image((0, 0, 250))))

    np.testing.assert_allclose(fed_red, red_only, atol=1e-4)
    np.testing.assert_allclose(fed_blue, blue_only_red_channel, atol=1e-4)
    assert fed_red.mean() > fed_blue.mean()


def test_u2net_divides_by_the_image_maximum_so_a_dark_image_is_stretched(tmp_path: Path) -> None:
    runner = ModelRunner(channel_graph(tmp_path, 320, 0), FAMILIES["u2net"], threads=1)

    dark = runner.run(runner.preprocess(constant_image((40, 20, 10))))
    bright = runner.run(runner.preprocess(constant_image((200, 100, 50))))

    np.testing.assert_allclose(dark, bright, atol=1e-4)  # same ratios → same input


@pytest.mark.parametrize("family", ["isnet", "birefnet", "bria"])
def test_fixed_divisor_families_keep_brightness(tmp_path: Path, family: str) -> None:
    runner = ModelRunner(channel_graph(tmp_path, 1024, 0), FAMILIES[family], threads=1)

    dark = runner.run(runner.preprocess(constant_image((40, 20, 10))))
    bright = runner.run(runner.preprocess(constant_image((200, 100, 50))))

    assert float(bright.mean()) > float(dark.mean()) + 0.5


@pytest.mark.parametrize(("family", "size"), sorted(FAMILY_SIZES.items()))
@pytest.mark.parametrize("image_shape", [(48, 64), (2000, 1500), (320, 320)])
def test_the_input_is_resized_to_the_family_size(
    tmp_path: Path, family: str, size: int, image_shape: tuple[int, int]
) -> None:
    runner = ModelRunner(channel_graph(tmp_path, size, 1), FAMILIES[family], threads=1)

    tensor = runner.preprocess(constant_image(shape=image_shape))

    assert runner.input_size == size
    assert tensor.shape == (1, 3, size, size)
    assert tensor.dtype == np.float32
    assert tensor.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("graph_size", [256, 512])
def test_the_runner_reads_a_fixed_input_size_from_the_graph(
    tmp_path: Path, graph_size: int
) -> None:
    runner = ModelRunner(channel_graph(tmp_path, graph_size, 0), FAMILIES["u2net"], threads=1)

    assert runner.input_size == graph_size
    assert runner.predict(constant_image()).shape == (graph_size, graph_size)


@pytest.mark.parametrize("family", sorted(FAMILY_SIZES))
def test_a_graph_with_dynamic_size_uses_the_family_size(tmp_path: Path, family: str) -> None:
    runner = ModelRunner(channel_graph(tmp_path, "side", 0), FAMILIES[family], threads=1)

    assert runner.input_size == FAMILY_SIZES[family]
    assert runner.preprocess(constant_image()).shape[-2:] == (FAMILY_SIZES[family],) * 2


# --------------------------------------------------------------------- post-processing


def _left_right_logits(size: int, left: float, right: float) -> NDArray[np.float32]:
    logits = np.full((size, size), right, np.float32)
    logits[:, : size // 2] = left
    return logits


@pytest.mark.parametrize(
    ("family", "left", "right", "alpha_left", "alpha_right"),
    [
        ("u2net", 2.0, 6.0, 0.0, 1.0),  # min-max: lowest → 0, highest → 1
        ("u2net", -3.0, -1.0, 0.0, 1.0),
        ("bria", 0.25, 0.75, 0.0, 1.0),
        ("birefnet", 0.0, 2.0, 0.5, 1 / (1 + np.exp(-2.0))),  # sigmoid
        ("birefnet", -4.0, 4.0, 1 / (1 + np.exp(4.0)), 1 / (1 + np.exp(-4.0))),
        ("isnet", -0.5, 0.3, 0.0, 0.3),  # clip to [0, 1]
        ("isnet", 0.6, 1.7, 0.6, 1.0),
    ],
)
def test_predict_maps_raw_output_to_alpha_as_the_family_does(
    tmp_path: Path,
    family: str,
    left: float,
    right: float,
    alpha_left: float,
    alpha_right: float,
) -> None:
    size = FAMILY_SIZES[family]
    runner = ModelRunner(
        logit_graph(tmp_path, _left_right_logits(size, left, right)), FAMILIES[family], threads=1
    )

    alpha = runner.predict(constant_image())

    assert alpha.shape == (size, size)
    assert alpha.dtype == np.float32
    assert float(alpha.min()) >= 0.0 and float(alpha.max()) <= 1.0
    np.testing.assert_allclose(alpha[:, : size // 2], alpha_left, atol=1e-5)
    np.testing.assert_allclose(alpha[:, size // 2 :], alpha_right, atol=1e-5)


@pytest.mark.parametrize(
    ("family", "logit", "alpha"),
    [("birefnet", 2.0, 1 / (1 + np.exp(-2.0))), ("birefnet", -30.0, 0.0), ("isnet", 0.42, 0.42)],
)
def test_a_constant_logit_map_gives_the_expected_constant_alpha(
    tmp_path: Path, family: str, logit: float, alpha: float
) -> None:
    size = FAMILY_SIZES[family]
    logits = np.full((size, size), logit, np.float32)
    runner = ModelRunner(logit_graph(tmp_path, logits), FAMILIES[family], threads=1)

    predicted = runner.predict(constant_image())

    np.testing.assert_allclose(predicted, alpha, atol=1e-5)


@pytest.mark.parametrize("family", ["u2net", "bria"])
def test_a_constant_map_under_min_max_gives_a_finite_alpha(tmp_path: Path, family: str) -> None:
    size = FAMILY_SIZES[family]
    logits = np.full((size, size), 0.7, np.float32)
    runner = ModelRunner(logit_graph(tmp_path, logits), FAMILIES[family], threads=1)

    predicted = runner.predict(constant_image())

    assert np.isfinite(predicted).all()  # rembg divides by zero here and returns NaN
    assert float(predicted.min()) >= 0.0 and float(predicted.max()) <= 1.0


@pytest.mark.parametrize(
    ("family", "raw", "expected"),
    [
        ("u2net", [0.1, 0.3, 0.5], [0.0, 0.5, 1.0]),
        ("bria", [10.0, 15.0, 20.0], [0.0, 0.5, 1.0]),
        ("birefnet", [0.0, 50.0, -50.0], [0.5, 1.0, 0.0]),
        ("isnet", [-1.0, 0.25, 3.0], [0.0, 0.25, 1.0]),
    ],
)
def test_postprocess_alone_maps_values_into_zero_to_one(
    tmp_path: Path, family: str, raw: list[float], expected: list[float]
) -> None:
    runner = ModelRunner(
        channel_graph(tmp_path, FAMILY_SIZES[family], 0), FAMILIES[family], threads=1
    )

    alpha = runner.postprocess(np.array([raw], np.float32))

    np.testing.assert_allclose(alpha, [expected], atol=1e-5)


def test_postprocess_does_not_change_the_raw_output(tmp_path: Path) -> None:
    runner = ModelRunner(channel_graph(tmp_path, 1024, 0), FAMILIES["isnet"], threads=1)
    raw = np.array([[-1.0, 2.0]], np.float32)

    runner.postprocess(raw)

    np.testing.assert_array_equal(raw, [[-1.0, 2.0]])


# --------------------------------------------------------------------------- outputs


@pytest.mark.parametrize("family", sorted(FAMILY_SIZES))
def test_a_graph_with_two_outputs_uses_the_family_output(tmp_path: Path, family: str) -> None:
    size = FAMILY_SIZES[family]
    path = two_output_graph(tmp_path, size, first=0.25, second=0.75)
    runner = ModelRunner(path, FAMILIES[family], threads=1)
    assert FAMILIES[family].output == 0

    raw = runner.run(runner.preprocess(constant_image()))

    np.testing.assert_allclose(raw, 0.25)


@pytest.mark.parametrize(("output", "value"), [(0, 0.25), (1, 0.75), ("out_b", 0.75)])
def test_the_output_can_be_chosen_by_index_or_name(
    tmp_path: Path, output: int | str, value: float
) -> None:
    family: Family = dataclasses.replace(FAMILIES["isnet"], output=output)
    runner = ModelRunner(two_output_graph(tmp_path, 1024, 0.25, 0.75), family, threads=1)

    np.testing.assert_allclose(runner.predict(constant_image()), value, atol=1e-6)


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "content",
    [b"", b"this is not an ONNX model\n", b"\x08\x07" + bytes(range(256)) * 4],
    ids=["empty", "text", "binary"],
)
def test_a_file_that_is_not_onnx_raises_a_readable_model_error(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(content)

    with pytest.raises(ModelError) as caught:
        ModelRunner(path, FAMILIES["u2net"], threads=1)

    assert "broken.onnx" in caught.value.message
    assert "Could not load model" in caught.value.message
    assert "\n" not in caught.value.message
    assert "Traceback" not in caught.value.message


def test_a_missing_model_file_raises_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as caught:
        ModelRunner(tmp_path / "absent.onnx", FAMILIES["u2net"], threads=1)

    assert "absent.onnx" in caught.value.message


def test_a_graph_with_two_inputs_raises_a_model_error(tmp_path: Path) -> None:
    path = _save(
        tmp_path,
        "two_inputs",
        [helper.make_node("Add", ["image", "other"], ["sum"])],
        [_image_input(320), _image_input(320, "other")],
        [helper.make_tensor_value_info("sum", TensorProto.FLOAT, [1, 3, 320, 320])],
    )

    with pytest.raises(ModelError) as caught:
        ModelRunner(path, FAMILIES["u2net"], threads=1)

    assert "2 inputs" in caught.value.message
    assert "two_inputs.onnx" in caught.value.message


# ---------------------------------------------------------------------- shared runners


def test_get_runner_returns_the_same_runner_for_the_same_model(tmp_path: Path) -> None:
    path = channel_graph(tmp_path, 320, 0)

    first = get_runner(path, FAMILIES["u2net"], threads=1)
    again = get_runner(path, FAMILIES["u2net"], threads=1)
    via_other_spelling = get_runner(tmp_path / "." / path.name, FAMILIES["u2net"], threads=1)

    assert again is first
    assert via_other_spelling is first


def test_different_models_get_different_runners(tmp_path: Path) -> None:
    first = get_runner(channel_graph(tmp_path, 320, 0), FAMILIES["u2net"], threads=1)
    second = get_runner(channel_graph(tmp_path, 320, 1), FAMILIES["u2net"], threads=1)

    assert first is not second
    assert first.path != second.path


def test_clear_runners_drops_the_cached_sessions(tmp_path: Path) -> None:
    path = channel_graph(tmp_path, 320, 0)
    first = get_runner(path, FAMILIES["u2net"], threads=1)

    clear_runners()

    assert get_runner(path, FAMILIES["u2net"], threads=1) is not first


def test_the_least_recently_used_runner_is_dropped_beyond_the_bound(tmp_path: Path) -> None:
    paths = [channel_graph(tmp_path, 64, 0, name=f"model{index}") for index in range(5)]
    runners = [get_runner(path, FAMILIES["u2net"], threads=1) for path in paths]

    assert get_runner(paths[4], FAMILIES["u2net"], threads=1) is runners[4]
    assert get_runner(paths[1], FAMILIES["u2net"], threads=1) is runners[1]
    assert get_runner(paths[0], FAMILIES["u2net"], threads=1) is not runners[0]


def test_concurrent_get_runner_builds_exactly_one_runner(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = channel_graph(tmp_path, 320, 2)
    barrier = threading.Barrier(8)
    results: list[ModelRunner] = []
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            barrier.wait()
            results.append(get_runner(path, FAMILIES["u2net"], threads=1))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    with caplog.at_level(logging.INFO, logger="clearcutout.engine.session"):
        threads = [threading.Thread(target=fetch) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []
    assert len(results) == 8
    assert all(runner is results[0] for runner in results)
    created = [record for record in caplog.records if "model.session_created" in record.message]
    assert len(created) == 1


def test_a_shared_runner_gives_the_same_answer_from_many_threads(tmp_path: Path) -> None:
    size = 1024
    runner = get_runner(
        logit_graph(tmp_path, _left_right_logits(size, -2.0, 2.0)), FAMILIES["birefnet"], threads=2
    )
    expected = runner.predict(constant_image())
    answers: list[NDArray[np.float32]] = []

    def predict() -> None:
        answers.append(runner.predict(constant_image()))

    threads = [threading.Thread(target=predict) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == 6
    for answer in answers:
        np.testing.assert_allclose(answer, expected)
