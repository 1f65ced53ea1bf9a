"""``clearcutout remove`` and ``clearcutout demo``: the engine from the command line.

``remove`` has one flag per cutout option, made from the options' own description
(:data:`~clearcutout.engine.options.OPTION_FIELDS`): name, type, default and help are
written once, in :mod:`clearcutout.engine.options`.
"""

from __future__ import annotations

import functools
import glob
import inspect
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from clearcutout.cli.console import fail, print_error, state, stderr, stdout
from clearcutout.config import get_settings
from clearcutout.engine import CutoutOptions, Remover
from clearcutout.engine.options import OPTION_FIELDS, OPTION_NAMES, OutputFormat
from clearcutout.engine.session import available_cores
from clearcutout.errors import ClearCutoutError

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif", ".avif"}
)


class _WithOptionFlags:
    """``command`` with one flag per cutout option, handed to it as ``options``.

    Typer reads a command's parameters from its signature: this one is ``command``'s own
    (without ``options``) followed by the options' flags.
    """

    def __init__(self, command: Callable[..., None]) -> None:
        functools.update_wrapper(self, command)
        self._command = command
        own = inspect.signature(command, eval_str=True)
        kept = [parameter for parameter in own.parameters.values() if parameter.name != "options"]
        self.__signature__ = own.replace(parameters=[*kept, *_option_flags()])

    def __call__(self, **values: Any) -> None:
        chosen = {name: values.pop(name) for name in OPTION_NAMES}
        try:
            options = CutoutOptions(**chosen)
        except ClearCutoutError as exc:
            fail(exc.message)
        self._command(**values, options=options)


def _option_flags() -> list[inspect.Parameter]:
    """A keyword parameter per option: ``--crop/--no-crop``, ``--crop-margin TEXT``, …"""
    flags = []
    for option in OPTION_FIELDS:
        names = (f"--{option.name.replace('_', '-')}", option.short_flag)
        low, high = option.bounds or (None, None)
        info = typer.Option(
            *(names if option.short_flag else ()), help=option.help, min=low, max=high
        )
        flags.append(
            inspect.Parameter(
                option.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=option.default,
                annotation=Annotated[option.annotation, info],
            )
        )
    return flags


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
    """The file name extension before the first image is encoded (``auto`` names PNG)."""
    return "png" if output_format == "auto" else output_format


def _remove(
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
    model: Annotated[
        str | None,
        typer.Option(help="Model name (see `models list`); replaces the quality preset's models."),
    ] = None,
    model_path: Annotated[
        Path | None, typer.Option(help="Use this ONNX file instead of a registry model.")
    ] = None,
    model_family: Annotated[
        str, typer.Option(help="Family of --model-path: u2net, isnet, birefnet, bria.")
    ] = "u2net",
    bg_image: Annotated[
        Path | None, typer.Option(help="Background photo, scaled to fill, centred.")
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", min=1, help="Images in flight (2: ~10 % faster, ~1.8× the memory)."
        ),
    ] = 1,
    skip_existing: Annotated[
        bool, typer.Option(help="Skip inputs whose output already exists.")
    ] = False,
    *,
    options: CutoutOptions,
) -> None:
    """Remove the background of images."""
    try:
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
    tasks = _plan(inputs, output, _extension_for(options.format))
    if any(task.target is None for task in tasks) and sys.stdout.isatty():
        # Image bytes on a terminal are garbage that can leave it in a strange state;
        # refuse, as gzip does, before any work.
        fail(
            "refusing to write image data to a terminal: redirect it "
            "(clearcutout remove - < in.jpg > out.png) or name a file with -o."
        )
    if skip_existing:
        skipped = [t for t in tasks if t.target is not None and t.target.exists()]
        tasks = [t for t in tasks if t not in skipped]
        if skipped:
            stderr.print(f"skipped {len(skipped)} file(s) whose output exists")
    if not tasks:
        return
    try:
        remover.load(options)
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
    _say_where(tasks, output)


def _say_where(tasks: list[_Task], output: Path | None) -> None:
    """Where the results went (on stderr: stdout may be carrying an image)."""
    written = [task.target for task in tasks if task.target is not None]
    if len(written) == 1:
        stderr.print(f"wrote {written[0]}", highlight=False, soft_wrap=True)
    elif written:
        where = f"under {output}" if output is not None else "beside the inputs"
        stderr.print(f"wrote {len(written)} files {where}", highlight=False, soft_wrap=True)


remove = _WithOptionFlags(_remove)


def _run_batch(tasks: list[_Task], run_one: Callable[[_Task], None], *, jobs: int) -> int:
    """Run every task; report each failure on one line; return how many failed."""
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
            if state.debug:
                raise exc
            message = f"unexpected error ({type(exc).__name__}: {exc})"
        print_error(f"{task.label}: {message}")

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
        cutout = remover.process(source.read_bytes())
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
