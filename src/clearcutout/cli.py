"""The ``clearcutout`` command: cut out images, manage models, run the service.

Every error a user can cause prints one readable line on stderr and exits non-zero;
never a traceback (``--debug`` shows one for bug reports).
"""

from __future__ import annotations

import glob
import importlib.util
import logging
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from clearcutout.config import get_settings
from clearcutout.engine import CutoutOptions, Remover
from clearcutout.engine.models import REGISTRY
from clearcutout.engine.options import Channels, OutputFormat, ShadowType, Size
from clearcutout.engine.session import available_cores
from clearcutout.engine.store import ModelStore
from clearcutout.errors import ClearCutoutError

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif", ".avif"}
)

app = typer.Typer(
    name="clearcutout",
    help="Privacy-first AI background removal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(help="List and fetch models.", no_args_is_help=True)
app.add_typer(models_app, name="models")

stdout = Console()
stderr = Console(stderr=True)
_debug = False


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print one readable error line and exit."""
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.callback()
def _main_options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks (for bug reports).")] = False,
) -> None:
    global _debug
    _debug = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


# -- remove -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    source: Path | None  # None = stdin
    target: Path | None  # None = stdout
    label: str


def _expand_inputs(inputs: list[str]) -> Iterator[tuple[Path, Path]]:
    """(file, folder it was found under) for files, folders (recursive) and globs."""
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                if found.is_file() and found.suffix.lower() in IMAGE_SUFFIXES:
                    yield found, path
        elif path.is_file():
            yield path, path.parent
        elif glob.has_magic(item):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True))  # noqa: PTH207
            files = [m for m in matches if m.is_file() and m.suffix.lower() in IMAGE_SUFFIXES]
            if not files:
                fail(f"{item}: no image matches this pattern.")
            for match in files:
                yield match, match.parent
        else:
            fail(f"{item}: no such file or folder.")


def _plan(inputs: list[str], output: Path | None, extension: str) -> list[_Task]:
    if inputs == ["-"]:
        return [_Task(None, None if output is None or str(output) == "-" else output, "stdin")]
    if "-" in inputs:
        fail("'-' (standard input) cannot be mixed with other inputs.")
    found = list(_expand_inputs(inputs))
    if not found:
        fail("no images found in the given inputs.")
    single_file = len(found) == 1 and Path(inputs[0]).is_file()
    if single_file and output is not None and (output.suffix and not output.is_dir()):
        return [_Task(found[0][0], output, str(found[0][0]))]
    tasks = []
    for source, base in found:
        if output is None:
            target = source.with_name(f"{source.stem}.cutout.{extension}")
        else:
            relative = source.relative_to(base) if source.is_relative_to(base) else source.name
            target = output / Path(relative).with_suffix(f".{extension}")
        tasks.append(_Task(source, target, str(source)))
    return tasks


def _extension_for(output_format: OutputFormat) -> str:
    return {"auto": "png", "png": "png", "webp": "webp", "jpg": "jpg", "zip": "zip"}[output_format]


@app.command()
def remove(
    inputs: Annotated[
        list[str],
        typer.Argument(help="Image files, folders (searched recursively), globs, or - for stdin."),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Output file (one input) or folder; - for stdout. "
            "Default: NAME.cutout.png beside each input.",
        ),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model name (see `models list`).")] = None,
    model_path: Annotated[
        Path | None, typer.Option(help="Use this ONNX file instead of a registry model.")
    ] = None,
    model_family: Annotated[
        str, typer.Option(help="Family of --model-path: u2net, isnet, birefnet, bria.")
    ] = "u2net",
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="png, webp, jpg, zip or auto.")
    ] = "png",
    channels: Annotated[Channels, typer.Option(help="rgba, or alpha for the matte only.")] = "rgba",
    size: Annotated[Size, typer.Option(help="preview (≈0.25 MP), full, auto, …")] = "full",
    bg_color: Annotated[
        str | None, typer.Option(help="Background colour: hex (with alpha) or a name.")
    ] = None,
    bg_image: Annotated[
        Path | None, typer.Option(help="Background photo, scaled to fill, centred.")
    ] = None,
    crop: Annotated[bool, typer.Option(help="Crop to the subject.")] = False,
    crop_margin: Annotated[str, typer.Option(help="Margin around the crop: px or %.")] = "0",
    scale: Annotated[str, typer.Option(help="Subject size: 10%–100% or original.")] = "original",
    position: Annotated[str, typer.Option(help="original, center, or x% [y%].")] = "original",
    roi: Annotated[
        str, typer.Option(help="Region of interest 'x1 y1 x2 y2' (px or %).")
    ] = "0% 0% 100% 100%",
    shadow_type: Annotated[ShadowType, typer.Option(help="none or drop.")] = "none",
    shadow_opacity: Annotated[
        int | None, typer.Option(help="Shadow opacity 0–100.", min=0, max=100)
    ] = None,
    refine: Annotated[bool, typer.Option(help="Edge refinement.")] = True,
    foreground_estimation: Annotated[
        bool, typer.Option(help="Remove background colour bleeding at edges (slower).")
    ] = False,
    semitransparency: Annotated[bool, typer.Option(help="Keep soft edges.")] = True,
    flip_average: Annotated[
        bool, typer.Option(help="Average with the mirrored photo's matte (2× inference).")
    ] = False,
    zoom_pass: Annotated[
        bool, typer.Option(help="Second pass zoomed on a small subject (up to 2× inference).")
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", min=1, help="Images in flight (2: ~10 % faster, ~1.8× the memory)."
        ),
    ] = 1,
    skip_existing: Annotated[
        bool, typer.Option(help="Skip inputs whose output already exists.")
    ] = False,
) -> None:
    """Remove the background of images."""
    try:
        options = CutoutOptions(
            refine=refine,
            foreground_estimation=foreground_estimation,
            semitransparency=semitransparency,
            flip_average=flip_average,
            zoom_pass=zoom_pass,
            roi=roi,
            size=size,
            crop=crop,
            crop_margin=crop_margin,
            scale=scale,
            position=position,
            bg_color=bg_color,
            shadow_type=shadow_type,
            shadow_opacity=shadow_opacity,
            channels=channels,
            format=output_format,
        )
        background = bg_image.read_bytes() if bg_image is not None else None
        settings = get_settings()
        if jobs > 1 and settings.inference_threads == 0:
            # Several images in flight, each running the model on fewer threads, beat
            # one image on all of them; each holds its own model activations, though
            # (bench, U²-Netp, 2 cores: --jobs 2 3.39 img/s at 893 MiB, --jobs 1 3.08
            # img/s at 497 MiB, rembg 2.13 img/s at 781 MiB), so 1 is the default.
            threads = max(1, available_cores() // jobs)
            settings = settings.model_copy(update={"inference_threads": threads})
        remover = Remover(
            model,
            model_path=model_path,
            model_family=model_family if model_path is not None else None,
            settings=settings,
        )
    except ClearCutoutError as exc:
        fail(exc.message)
    except OSError as exc:
        fail(f"{exc.filename}: {exc.strerror}")
    tasks = _plan(inputs, output, _extension_for(output_format))
    if skip_existing:
        skipped = [t for t in tasks if t.target is not None and t.target.exists()]
        tasks = [t for t in tasks if t not in skipped]
        if skipped:
            stderr.print(f"skipped {len(skipped)} file(s) whose output exists")
    if not tasks:
        return
    try:
        remover.load()
    except ClearCutoutError as exc:
        fail(exc.message)

    def run_one(task: _Task) -> None:
        data = sys.stdin.buffer.read() if task.source is None else task.source.read_bytes()
        encoded = remover.process(data, options, background=background).encode()
        if task.target is None:
            sys.stdout.buffer.write(encoded.data)
            sys.stdout.buffer.flush()
            return
        task.target.parent.mkdir(parents=True, exist_ok=True)
        partial = task.target.with_name(f".{task.target.name}.partial")
        partial.write_bytes(encoded.data)
        partial.replace(task.target)

    failures = _run_batch(tasks, run_one, jobs=jobs)
    if failures:
        stderr.print(f"{failures} of {len(tasks)} file(s) failed")
        raise typer.Exit(1)


def _run_batch(tasks: list[_Task], run_one: object, *, jobs: int) -> int:
    """Run every task; report each failure on one line; return how many failed."""
    assert callable(run_one)
    failures = 0
    lock = threading.Lock()
    show_progress = len(tasks) > 1 or tasks[0].target is not None

    def report(task: _Task, exc: BaseException) -> None:
        nonlocal failures
        with lock:
            failures += 1
        if isinstance(exc, ClearCutoutError):
            message = exc.message
        elif isinstance(exc, OSError):
            message = exc.strerror or str(exc)
        else:
            if _debug:
                raise exc
            message = f"unexpected error ({type(exc).__name__}: {exc})"
        stderr.print(
            f"[bold red]error:[/] {task.label}: {message}", highlight=False, soft_wrap=True
        )

    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr, disable=not show_progress) as progress:
        bar = progress.add_task("cutting out", total=len(tasks))
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="cutout") as pool:
            futures = {pool.submit(run_one, task): task for task in tasks}
            for future in as_completed(futures):
                exc = future.exception()
                if exc is not None:
                    report(futures[future], exc)
                progress.advance(bar)
    return failures


# -- models -----------------------------------------------------------------------------------


def _store() -> ModelStore:
    settings = get_settings()
    return ModelStore(
        settings.models_dir,
        allow_download=settings.allow_model_download,
        timeout_s=settings.model_fetch_timeout_s,
    )


@models_app.command("list")
def models_list() -> None:
    """Every model: name, size, licence, whether it is cached."""
    store = _store()
    table = Table(title=f"Models (cache: {store.directory})")
    for column in ("name", "size", "cached", "licence", "description"):
        table.add_column(column)
    for entry in store.models():
        table.add_row(
            entry.spec.name,
            f"{entry.size_bytes / 1e6:,.0f} MB",
            "yes" if entry.cached else "no",
            entry.spec.licence,
            entry.spec.description,
        )
    stdout.print(table)


@models_app.command("pull")
def models_pull(
    name: Annotated[str, typer.Argument(help="Model name, e.g. u2net.")],
) -> None:
    """Fetch a model into the cache and verify its checksum."""
    if name not in REGISTRY:
        fail(f"Unknown model {name!r}; choose one of: {', '.join(sorted(REGISTRY))}.")
    store = _store()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr, transient=False) as progress:
        task: TaskID = progress.add_task(f"{name}: checking cache", total=None)

        def on_progress(done: int, total: int | None, phase: str) -> None:
            progress.update(task, completed=done, total=total, description=f"{name}: {phase}")

        try:
            path = store.ensure(name, progress=on_progress)
        except ClearCutoutError as exc:
            progress.stop()
            fail(exc.message)
        progress.update(task, description=f"{name}: ready")
    stdout.print(f"{name}: {path}")


# -- demo (make run until the web app serves) ---------------------------------------------------


@app.command()
def demo(
    output: Annotated[Path, typer.Option("--output", "-o")] = Path("out/demo"),
    model: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Fetch the default model and cut out a generated sample photo."""
    from clearcutout.engine.sample import sample_photo

    output.mkdir(parents=True, exist_ok=True)
    source = output / "sample.jpg"
    source.write_bytes(sample_photo())
    try:
        remover = Remover(model, settings=get_settings()).load()
        cutout = remover.process(source.read_bytes(), CutoutOptions(crop=False))
    except ClearCutoutError as exc:
        fail(exc.message)
    target = output / "sample.cutout.png"
    target.write_bytes(cutout.encode().data)
    box = cutout.foreground
    stdout.print(
        f"model {remover.spec.name}: {source} → {target} "
        f"(subject at x={box.left} y={box.top}, {box.width}×{box.height} px; "
        f"{cutout.timings.total * 1000:.0f} ms)"
    )


def _register_service_commands() -> None:
    if importlib.util.find_spec("clearcutout.cli_service") is not None:
        from clearcutout.cli_service import (  # type: ignore[import-not-found,unused-ignore]
            register,
        )

        register(app)


_register_service_commands()


def main() -> None:
    try:
        app()
    except ClearCutoutError as exc:
        if _debug:
            raise
        fail(exc.message)
    except KeyboardInterrupt:
        fail("interrupted", code=130)


if __name__ == "__main__":
    main()
