"""The ``clearcutout`` command end to end, as a user runs it (a real subprocess)."""

from __future__ import annotations

import io
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from PIL import Image

from clearcutout.cli import app
from clearcutout.engine import Remover
from clearcutout.engine.options import OPTION_FIELDS

CLI = [sys.executable, "-m", "clearcutout.cli"]


def run(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*CLI, *map(str, args)], input=stdin, capture_output=True, timeout=300, check=False
    )


def load(path: Path) -> Image.Image:
    """Open an image without keeping its file open."""
    image = Image.open(io.BytesIO(path.read_bytes()))
    image.load()
    return image


def assert_one_line_error(result: subprocess.CompletedProcess[bytes], *needles: str) -> None:
    stderr = result.stderr.decode()
    assert result.returncode != 0
    assert "Traceback" not in stderr
    error_lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert error_lines, stderr
    for needle in needles:
        assert any(needle in line for line in error_lines), stderr


@pytest.fixture
def photos(tmp_path: Path, sample_jpeg: bytes) -> Path:
    """A folder with two photos at the top, one in a subfolder and a non-image file."""
    folder = tmp_path / "photos"
    (folder / "holiday").mkdir(parents=True)
    (folder / "a.jpg").write_bytes(sample_jpeg)
    Image.open(io.BytesIO(sample_jpeg)).save(folder / "b.png")
    Image.open(io.BytesIO(sample_jpeg)).save(folder / "holiday" / "c.webp")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_folder_is_processed_recursively(photos: Path, tmp_path: Path, remover: Remover) -> None:
    out = tmp_path / "out"
    result = run("remove", photos, "-o", out, "--model", "u2netp", "--jobs", "2")
    assert result.returncode == 0, result.stderr.decode()
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["a.png", "b.png", "holiday/c.png"]
    for path in out.rglob("*.png"):
        with Image.open(path) as image:
            assert image.mode == "RGBA" and image.size == (960, 640)
    assert "3/3" in result.stderr.decode()  # the progress bar ran to the end


def test_single_file_to_named_output(photos: Path, tmp_path: Path) -> None:
    target = tmp_path / "ball.webp"
    result = run("remove", photos / "a.jpg", "-o", target, "--model", "u2netp", "-f", "webp")
    assert result.returncode == 0, result.stderr.decode()
    assert load(target).format == "WEBP"


def test_default_output_is_beside_the_input(photos: Path) -> None:
    result = run("remove", photos / "a.jpg", "--model", "u2netp")
    assert result.returncode == 0, result.stderr.decode()
    assert (photos / "a.cutout.png").is_file()


def test_glob_pattern(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "globbed"
    result = run("remove", str(photos / "*.jpg"), "-o", out, "--model", "u2netp")
    assert result.returncode == 0, result.stderr.decode()
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]


def test_stdin_to_stdout(sample_jpeg: bytes) -> None:
    result = run("remove", "-", "--model", "u2netp", "--format", "png", stdin=sample_jpeg)
    assert result.returncode == 0, result.stderr.decode()
    image = Image.open(io.BytesIO(result.stdout))
    assert image.format == "PNG" and image.mode == "RGBA"


def test_output_options_reach_the_engine(photos: Path, tmp_path: Path) -> None:
    target = tmp_path / "on-blue.jpg"
    result = run(
        "remove", photos / "a.jpg", "-o", target, "--model", "u2netp", "--format", "jpg",
        "--bg-color", "0000ff", "--crop", "--crop-margin", "10px", "--size", "preview",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    image = load(target)
    assert image.format == "JPEG"
    assert image.width * image.height < 250_000  # cropped preview
    red, green, blue = image.getpixel((2, 2))  # type: ignore[misc]
    assert blue > 200 and red < 40 and green < 40


def test_every_cutout_option_is_a_flag_with_its_default_and_help() -> None:
    remove = typer.main.get_command(app).commands["remove"]  # type: ignore[attr-defined]
    flags = {param.name: param for param in remove.params}
    for option in OPTION_FIELDS:
        flag = flags[option.name]
        assert f"--{option.name.replace('_', '-')}" in flag.opts
        assert flag.default == option.default and flag.help == option.help
    assert "-f" in flags["format"].opts
    assert flags["crop"].secondary_opts == ["--no-crop"]


def test_skip_existing_leaves_outputs_alone(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"keep me")
    result = run("remove", photos, "-o", out, "--model", "u2netp", "--skip-existing")
    assert result.returncode == 0, result.stderr.decode()
    assert (out / "a.png").read_bytes() == b"keep me"
    assert (out / "b.png").is_file()
    assert "skipped 1" in result.stderr.decode()


def test_a_bad_file_is_reported_and_the_batch_goes_on(photos: Path, tmp_path: Path) -> None:
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a JPEG")
    out = tmp_path / "out"
    result = run("remove", photos, "-o", out, "--model", "u2netp")
    assert result.returncode == 1
    assert_one_line_error(result, "broken.jpg")
    assert len(list(out.rglob("*.png"))) == 3
    assert not (out / "broken.png").exists()
    assert "1 of 4 file(s) failed" in result.stderr.decode()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["remove", "/nonexistent/photo.jpg"], "no such file"),
        (["remove", "IMG", "--model", "u3net"], "Unknown model"),
        (["remove", "IMG", "--bg-color", "zzz"], "colour"),
        (["remove", "IMG", "--roi", "10 10 5"], "roi"),
        (["remove", "IMG", "--scale", "500%"], "scale"),
        (["remove", "IMG", "--model-path", "/nonexistent.onnx"], "does not exist"),
        (["models", "pull", "u3net"], "Unknown model"),
    ],
)
def test_errors_are_one_readable_line(args: list[str], needle: str, photos: Path) -> None:
    result = run(*[str(photos / "a.jpg") if a == "IMG" else a for a in args])
    assert_one_line_error(result, needle)


def test_unreadable_model_file_is_a_clear_error(photos: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake.onnx"
    fake.write_bytes(b"not a model")
    result = run("remove", photos / "a.jpg", "--model-path", fake, "--model-family", "u2net")
    assert_one_line_error(result, "fake.onnx")


def test_custom_model_file(photos: Path, tmp_path: Path, remover: Remover) -> None:
    custom = tmp_path / "mine.onnx"
    shutil.copy(remover.store.ensure("u2netp"), custom)
    target = tmp_path / "custom.png"
    result = run(
        "remove", photos / "a.jpg", "-o", target, "--model-path", custom, "--model-family", "u2net"
    )
    assert result.returncode == 0, result.stderr.decode()
    assert load(target).mode == "RGBA"


def test_models_list_shows_name_size_licence_and_cache(remover: Remover) -> None:
    result = run("models", "list")
    assert result.returncode == 0
    table = result.stdout.decode()
    for name in ("u2net", "u2netp", "isnet-general-use", "birefnet-general", "bria-rmbg"):
        assert name in table
    assert "Apache-2.0" in table and "MIT" in table
    assert "yes" in table  # u2netp is cached (the fixture made sure)


def test_models_pull_reports_the_verified_path(remover: Remover) -> None:
    result = run("models", "pull", "u2netp")
    assert result.returncode == 0, result.stderr.decode()
    assert str(remover.store.ensure("u2netp")) in result.stdout.decode().replace("\n", "")


def test_demo_writes_a_real_cutout(tmp_path: Path) -> None:
    result = run("demo", "-o", tmp_path, "--model", "u2netp")
    assert result.returncode == 0, result.stderr.decode()
    cutout = load(tmp_path / "sample.cutout.png")
    assert cutout.mode == "RGBA"
    assert cutout.getchannel("A").getextrema() == (0, 255)


def test_stdout_on_a_terminal_is_refused(sample_jpeg: bytes, tmp_path: Path) -> None:
    """``clearcutout remove - < photo.jpg`` typed in a terminal: no image bytes on it."""
    main, secondary = pty.openpty()
    try:
        result = subprocess.run(
            [*CLI, "remove", "-", "--model", "u2netp"],
            input=sample_jpeg,
            stdout=secondary,
            stderr=subprocess.PIPE,
            timeout=300,
            check=False,
        )
        os.set_blocking(main, False)
        try:
            shown = os.read(main, 65536)
        except BlockingIOError:
            shown = b""
    finally:
        os.close(secondary)
        os.close(main)
    assert_one_line_error(result, "refusing to write image data to a terminal")
    assert b"PNG" not in shown and len(shown) == 0


def test_single_file_run_says_where_it_wrote(photos: Path) -> None:
    result = run("remove", photos / "a.jpg", "--model", "u2netp")
    assert result.returncode == 0, result.stderr.decode()
    target = photos / "a.cutout.png"
    assert target.is_file()
    assert f"wrote {target}" in result.stderr.decode()


def test_quality_preset_reaches_the_engine_and_model_overrides_its_models(
    photos: Path, tmp_path: Path, remover: Remover
) -> None:
    target = tmp_path / "best.png"
    result = run("remove", photos / "a.jpg", "-o", target, "--model", "u2netp", "--quality", "best")
    assert result.returncode == 0, result.stderr.decode()
    # best's mirrored pass, with U²-Netp in place of the preset's model.
    expected = remover.remove_bytes(photos / "a.jpg", quality="best").data
    assert target.read_bytes() == expected
    assert target.read_bytes() != remover.remove_bytes(photos / "a.jpg").data
    bad = run("remove", photos / "a.jpg", "--model", "u2netp", "--quality", "ultra")
    assert bad.returncode != 0 and "ultra" in bad.stderr.decode()
