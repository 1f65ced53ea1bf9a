"""The ``clearcutout`` command: its global flags, its commands and its entry point.

The operator commands import the service layer (SQLAlchemy, Alembic, the web app) inside
each command, so ``clearcutout remove`` starts without it.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from clearcutout.cli import cutout, models, operator, scaleout
from clearcutout.cli.console import fail, one_line_errors, state
from clearcutout.errors import ClearCutoutError

app = typer.Typer(
    name="clearcutout",
    help="Privacy-first AI background removal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _global_flags(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks (for bug reports).")] = False,
) -> None:
    state.debug = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


app.command("remove")(cutout.remove)
app.command("demo")(cutout.demo)
app.add_typer(models.app, name="models")
operator.register(app)
app.command("worker")(one_line_errors(scaleout.worker))
app.command("beat")(one_line_errors(scaleout.beat))


def main() -> None:
    """The console script's entry point."""
    try:
        app()
    except ClearCutoutError as exc:
        if state.debug:
            raise
        fail(exc.message)
    except KeyboardInterrupt:
        fail("interrupted", code=130)
