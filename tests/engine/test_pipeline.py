"""The whole pipeline with the real U²-Netp model: inputs, options, outputs, threads."""

from __future__ import annotations

import io
import shutil
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

import clearcutout
from clearcutout.config import EngineSettings
from clearcutout.engine import CutoutOptions, Remover
from clearcutout.engine.session import get_runner
from clearcutout.errors import (
    FileTooLargeError,
    ImageTooLargeError,
    InvalidOptionError,
    ModelUnavailableError,
    UnknownModelError,
    UnsupportedImageError,
)
from tests.support.engine import BALL_CENTRE, CUP_CENTRE, SKY_CORNER, TABLE_CORNER


def alpha_of(image: Image.Image) -> NDArray[np.uint8]:
    return np.asarray(image.getchannel("A") if image.mode == "RGBA" else image.convert("L"))


def at(array: NDArray[np.uint8], point: tuple[int, int]) -> int:
    x, y = point
    return int(array[y, x])


def test_subject_is_kept_and_background_removed(remover: Remover, sample_jpeg: bytes) -> None:
    cutout = remover.process(sample_jpeg)
    image = cutout.image
    assert image.mode == "RGBA"
    assert image.size == (960, 640)
    alpha = alpha_of(image)
    # U²-Netp finds the most salient object, the ball.
    assert at(alpha, BALL_CENTRE) > 230
    assert at(alpha, SKY_CORNER) < 25
    assert at(alpha, TABLE_CORNER) < 25
    # The foreground box starts at the ball (centre 365,352, radius 141) and holds it.
    box = cutout.foreground
    assert box.left == pytest.approx(365 - 141, abs=8)
    assert box.top == pytest.approx(352 - 141, abs=8)
    assert box.left + box.width >= 365 + 141 - 8
    assert box.top + box.height >= 352 + 141 - 8


def test_subject_colours_are_the_photo_colours(
    remover: Remover, sample_jpeg: bytes, sample_rgb: NDArray[np.uint8]
) -> None:
    rgba = np.asarray(remover.remove(sample_jpeg))
    x, y = BALL_CENTRE
    assert np.abs(rgba[y, x, :3].astype(int) - sample_rgb[y, x].astype(int)).max() <= 2


@pytest.mark.parametrize("kind", ["path", "bytes", "bytearray", "pil", "array", "array_rgba"])
def test_every_input_type_gives_the_same_cutout(
    kind: str, remover: Remover, sample_jpeg: bytes, sample_rgb: NDArray[np.uint8], tmp_path: Path
) -> None:
    expected = alpha_of(remover.remove(sample_rgb))
    source: object
    if kind == "path":
        path = tmp_path / "in.png"
        Image.fromarray(sample_rgb).save(path)
        source = path
    elif kind == "bytes":
        buffer = io.BytesIO()
        Image.fromarray(sample_rgb).save(buffer, format="PNG")
        source = buffer.getvalue()
    elif kind == "bytearray":
        buffer = io.BytesIO()
        Image.fromarray(sample_rgb).save(buffer, format="PNG")
        source = bytearray(buffer.getvalue())
    elif kind == "pil":
        source = Image.fromarray(sample_rgb)
    elif kind == "array":
        source = sample_rgb
    else:
        source = np.dstack([sample_rgb, np.full(sample_rgb.shape[:2], 255, np.uint8)])
    result = alpha_of(remover.remove(source))  # type: ignore[arg-type]
    assert np.abs(result.astype(int) - expected.astype(int)).max() <= 1


def test_transparent_input_stays_transparent(
    remover: Remover, sample_rgb: NDArray[np.uint8]
) -> None:
    alpha_in = np.full(sample_rgb.shape[:2], 255, np.uint8)
    alpha_in[:, 560:] = 0  # the cup's side is already cut away
    result = alpha_of(remover.remove(np.dstack([sample_rgb, alpha_in])))
    assert result[:, 560:].max() == 0
    assert at(result, BALL_CENTRE) > 200


def test_python_api_returns_image_or_bytes(sample_jpeg: bytes) -> None:
    image = clearcutout.remove(sample_jpeg, model="u2netp")
    assert isinstance(image, Image.Image) and image.mode == "RGBA"
    data = clearcutout.remove(sample_jpeg, model="u2netp", as_bytes=True, format="webp")
    assert isinstance(data, bytes)
    assert Image.open(io.BytesIO(data)).format == "WEBP"
    assert sorted(clearcutout.__all__) == sorted(
        ["ClearCutoutError", "Cutout", "CutoutOptions", "Remover", "remove"]
    )


def test_options_as_keywords_are_the_same_as_an_options_object(
    remover: Remover, sample_jpeg: bytes
) -> None:
    wanted = CutoutOptions(crop=True, crop_margin="10px", format="webp")
    by_object = remover.remove_bytes(sample_jpeg, wanted)
    assert remover.remove_bytes(sample_jpeg, crop=True, crop_margin="10px", format="webp") == (
        by_object
    )
    # Keywords change the given object; the library's remove() takes both the same way.
    assert (
        remover.remove_bytes(
            sample_jpeg, CutoutOptions(crop=True), crop_margin="10px", format="webp"
        )
        == by_object
    )
    data = clearcutout.remove(
        sample_jpeg,
        model="u2netp",
        options=CutoutOptions(crop=True),
        crop_margin="10px",
        format="webp",
        as_bytes=True,
    )
    assert data == by_object.data


@pytest.mark.parametrize(
    ("output_format", "pil_format", "mode"),
    [
        ("png", "PNG", "RGBA"),
        ("webp", "WEBP", "RGBA"),
        ("jpg", "JPEG", "RGB"),
        ("auto", "PNG", "RGBA"),
    ],
)
def test_output_formats(
    remover: Remover, sample_jpeg: bytes, output_format: str, pil_format: str, mode: str
) -> None:
    encoded = remover.remove_bytes(sample_jpeg, CutoutOptions(format=output_format))  # type: ignore[arg-type]
    decoded = Image.open(io.BytesIO(encoded.data))
    assert decoded.format == pil_format
    assert decoded.mode == mode
    assert decoded.size == (960, 640)
    if mode == "RGB":  # a JPEG has no alpha: the background becomes white
        assert min(decoded.getpixel(SKY_CORNER)) > 225  # type: ignore[arg-type]


def test_auto_format_is_jpeg_when_nothing_is_transparent(
    remover: Remover, sample_jpeg: bytes
) -> None:
    encoded = remover.remove_bytes(sample_jpeg, CutoutOptions(format="auto", bg_color="white"))
    assert encoded.media_type == "image/jpeg"


def test_zip_holds_colour_jpeg_and_alpha_png(remover: Remover, sample_jpeg: bytes) -> None:
    encoded = remover.remove_bytes(sample_jpeg, CutoutOptions(format="zip"))
    with zipfile.ZipFile(io.BytesIO(encoded.data)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        alpha = Image.open(io.BytesIO(archive.read("alpha.png")))
        colour = Image.open(io.BytesIO(archive.read("color.jpg")))
    assert alpha.mode == "L" and colour.format == "JPEG"
    assert at(np.asarray(alpha), BALL_CENTRE) > 230 and at(np.asarray(alpha), SKY_CORNER) < 25


def test_alpha_channel_output_is_the_matte(remover: Remover, sample_jpeg: bytes) -> None:
    matte = remover.remove(sample_jpeg, CutoutOptions(channels="alpha"))
    assert matte.mode == "L"
    full = alpha_of(remover.remove(sample_jpeg))
    assert np.abs(np.asarray(matte).astype(int) - full.astype(int)).max() <= 1


def test_background_colour_fills_the_background(remover: Remover, sample_jpeg: bytes) -> None:
    image = remover.remove(sample_jpeg, CutoutOptions(bg_color="81d4fa"))
    assert image.mode == "RGB"
    assert image.getpixel(SKY_CORNER) == (0x81, 0xD4, 0xFA)
    red, green, _blue = image.getpixel(BALL_CENTRE)  # type: ignore[misc]
    assert red > 150 and green < 160  # still the orange ball


def test_background_image_is_scaled_to_fill(remover: Remover, sample_jpeg: bytes) -> None:
    background = np.zeros((100, 300, 3), np.uint8)
    background[:, :] = (10, 200, 10)
    image = remover.remove(sample_jpeg, background=background)
    assert image.mode == "RGB" and image.size == (960, 640)
    assert image.getpixel(SKY_CORNER) == (10, 200, 10)
    assert image.getpixel(TABLE_CORNER) == (10, 200, 10)


def test_crop_with_margin_frames_the_subject(remover: Remover, sample_jpeg: bytes) -> None:
    tight = remover.process(sample_jpeg, CutoutOptions(crop=True))
    framed = remover.process(sample_jpeg, CutoutOptions(crop=True, crop_margin="20px"))
    assert tight.width < 960 and tight.height < 640
    assert framed.width == pytest.approx(tight.width + 40, abs=2)
    assert framed.height == pytest.approx(tight.height + 40, abs=2)


def test_scale_shrinks_the_subject_and_centres_it(remover: Remover, sample_jpeg: bytes) -> None:
    full = remover.process(sample_jpeg)
    half = remover.process(sample_jpeg, CutoutOptions(scale="50%"))
    assert half.image.size == (960, 640)
    # remove.bg's scale: the subject fills that share of the canvas, keeping its aspect.
    box, original = half.foreground, full.foreground
    assert max(box.width / 960, box.height / 640) == pytest.approx(0.5, abs=0.02)
    assert box.width / box.height == pytest.approx(original.width / original.height, rel=0.05)
    assert box.left + box.width / 2 == pytest.approx(480, abs=10)


def test_preview_size_is_about_a_quarter_megapixel(
    remover: Remover, sample_rgb: NDArray[np.uint8]
) -> None:
    big = np.asarray(Image.fromarray(sample_rgb).resize((1920, 1280)))
    preview = remover.remove(big, CutoutOptions(size="preview"))
    assert 200_000 <= preview.width * preview.height <= 260_000
    assert preview.width / preview.height == pytest.approx(1.5, abs=0.02)


def test_roi_outside_is_background(remover: Remover, sample_jpeg: bytes) -> None:
    # Only the right half is of interest: the ball is outside, and the cup becomes the subject.
    in_percent = alpha_of(remover.remove(sample_jpeg, CutoutOptions(roi="50% 0% 100% 100%")))
    in_pixels = alpha_of(remover.remove(sample_jpeg, CutoutOptions(roi="480 0 960 640")))
    for alpha in (in_percent, in_pixels):
        assert at(alpha, BALL_CENTRE) == 0
        assert alpha[:, :480].max() == 0
        assert at(alpha, CUP_CENTRE) > 230


def test_roi_in_pixels_refers_to_the_original_even_for_previews(
    remover: Remover, sample_jpeg: bytes
) -> None:
    preview = alpha_of(
        remover.remove(sample_jpeg, CutoutOptions(size="preview", roi="0 0 480 640"))
    )
    width = preview.shape[1]
    assert preview[:, width // 2 + 2 :].max() == 0
    assert preview[:, : width // 2].max() > 200


def test_drop_shadow_darkens_below_the_subject(remover: Remover, sample_jpeg: bytes) -> None:
    plain = alpha_of(remover.remove(sample_jpeg))
    shadowed = alpha_of(
        remover.remove(sample_jpeg, CutoutOptions(shadow_type="drop", shadow_opacity=80))
    )
    assert shadowed.sum() > plain.sum() * 1.05  # the shadow adds partly opaque pixels


def test_hard_edges_without_semitransparency(remover: Remover, sample_jpeg: bytes) -> None:
    alpha = alpha_of(remover.remove(sample_jpeg, CutoutOptions(semitransparency=False)))
    assert set(np.unique(alpha).tolist()) <= {0, 255}


def test_refinement_and_decontamination_can_be_switched(
    remover: Remover, sample_jpeg: bytes
) -> None:
    refined = alpha_of(remover.remove(sample_jpeg))
    raw = alpha_of(remover.remove(sample_jpeg, CutoutOptions(refine=False)))
    assert not np.array_equal(refined, raw)
    # Refinement steepens edges: fewer half-transparent pixels.
    assert ((refined > 20) & (refined < 235)).sum() < ((raw > 20) & (raw < 235)).sum()
    clean = np.asarray(remover.remove(sample_jpeg, CutoutOptions(foreground_estimation=True)))
    assert clean.shape == (640, 960, 4)


def test_no_metadata_reaches_any_output(remover: Remover, sample_rgb: NDArray[np.uint8]) -> None:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif.get_ifd(0x8825)[2] = (48.0, 8.0, 0.0)  # GPS latitude
    buffer = io.BytesIO()
    Image.fromarray(sample_rgb).save(buffer, format="JPEG", exif=exif, comment=b"secret")
    for output_format in ("png", "webp", "jpg"):
        data = remover.remove_bytes(buffer.getvalue(), CutoutOptions(format=output_format)).data  # type: ignore[arg-type]
        assert b"SpyCam" not in data and b"secret" not in data and b"Exif" not in data
        assert "exif" not in Image.open(io.BytesIO(data)).info


def test_threads_share_one_session_and_agree(remover: Remover, sample_jpeg: bytes) -> None:
    expected = alpha_of(remover.remove(sample_jpeg))
    results: list[NDArray[np.uint8]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            worker_remover = Remover("u2netp", settings=remover.settings)
            assert worker_remover.runner is remover.runner
            results.append(alpha_of(worker_remover.remove(sample_jpeg)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 4
    for result in results:
        assert np.array_equal(result, expected)


def test_one_session_per_model_per_process(remover: Remover) -> None:
    path = remover.store.ensure("u2netp")
    assert get_runner(path, remover.spec.family) is remover.runner


def test_custom_model_file_with_family(
    remover: Remover, sample_jpeg: bytes, tmp_path: Path
) -> None:
    custom = tmp_path / "my-model.onnx"
    shutil.copy(remover.store.ensure("u2netp"), custom)
    own = Remover(model_path=custom, model_family="u2net")
    assert at(alpha_of(own.remove(sample_jpeg)), BALL_CENTRE) > 230
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        Remover(model_path=tmp_path / "missing.onnx", model_family="u2net")
    with pytest.raises(UnknownModelError, match="family"):
        Remover(model_path=custom, model_family="nonsense")


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(UnknownModelError, match="u2netp"):
        Remover("u3net")


def test_limits_are_enforced(sample_jpeg: bytes) -> None:
    small_limit = EngineSettings(max_megapixels=0.1, max_upload_mb=1.0)
    limited = Remover("u2netp", settings=small_limit)
    with pytest.raises(ImageTooLargeError, match="megapixels"):
        limited.remove(sample_jpeg)
    with pytest.raises(FileTooLargeError, match="MB"):
        limited.remove(b"\xff" * (2 * 1024 * 1024))


def test_bad_inputs_are_clear_errors(remover: Remover) -> None:
    with pytest.raises(UnsupportedImageError):
        remover.remove(b"just some text, not an image")
    with pytest.raises(InvalidOptionError):
        remover.remove(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(InvalidOptionError) as raised:
        CutoutOptions(bg_color="not-a-colour")
    assert raised.value.code == "invalid_bg_color"


def test_a_blank_image_does_not_crash(remover: Remover) -> None:
    cutout = remover.process(np.full((200, 300, 3), 128, np.uint8), CutoutOptions(crop=True))
    assert cutout.width >= 1 and cutout.height >= 1
