"""``clearcutout models``: list the registry's models and fetch them into the cache."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from clearcutout.cli.console import fail, stderr, stdout
from clearcutout.config import get_settings
from clearcutout.engine.models import REGISTRY
from clearcutout.engine.presets import PRESETS, preset_models
from clearcutout.engine.store import ModelStore
from clearcutout.errors import ClearCutoutError

app = typer.Typer(help="List and fetch models.", no_args_is_help=True)


def _store() -> ModelStore:
    settings = get_settings()
    return ModelStore(
        settings.models_dir,
        allow_download=settings.allow_model_download,
        timeout_s=settings.model_fetch_timeout_s,
    )


@app.command("list")
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


@app.command("pull")
def models_pull(
    name: Annotated[
        str,
        typer.Argument(help="Model name (e.g. u2net) or quality preset (fast, balanced, best)."),
    ],
) -> None:
    """Fetch a model (or every model of a preset) into the cache and verify it.

    Derived models (``*-int8``) are built here from their verified base model.
    """
    if name in PRESETS:
        for model in preset_models(name):
            _pull(model)
        return
    if name not in REGISTRY:
        known = ", ".join([*sorted(REGISTRY), *PRESETS])
        fail(f"Unknown model or preset {name!r}; choose one of: {known}.")
    _pull(name)


def _pull(name: str) -> None:
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
