"""The command's output: its two consoles and its one way to report an error.

Every error a user can cause prints one readable line on stderr (``error: …``) and exits
non-zero; never a traceback (``--debug`` shows one, for bug reports).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

from clearcutout.errors import ClearCutoutError

P = ParamSpec("P")
R = TypeVar("R")

stdout = Console()
stderr = Console(stderr=True)


@dataclass
class RunState:
    """What the global flags decided for this run."""

    debug: bool = False


state = RunState()


def print_error(message: str) -> None:
    """One error line on stderr."""
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print one readable error line and exit."""
    print_error(message)
    raise typer.Exit(code)


def one_line_errors(function: Callable[P, R]) -> Callable[P, R]:
    """A command whose project errors end it with one line instead of a traceback."""

    @wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except ClearCutoutError as exc:
            if state.debug:
                raise
            fail(exc.message)

    return wrapper
