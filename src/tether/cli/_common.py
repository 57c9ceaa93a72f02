"""What every command shares: the consoles, and `_command`, which prints any failure as one line."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from tether.errors import TetherError

console = Console()
progress_console = Console(stderr=True)  # progress never mixes into stdout, which --json keeps pure
error_console = Console(stderr=True, soft_wrap=True)
_debug = {"on": False}
Command = TypeVar("Command", bound=Callable[..., Any])


def exit_code(err: BaseException) -> int:
    """2 for usage errors, 1 for everything else (bad data, model files, training)."""
    return err.exit_code if isinstance(err, TetherError) else 1


def one_line(err: BaseException) -> str:
    """An exception as the one line the command line prints."""
    if isinstance(err, TetherError | FileNotFoundError | PermissionError | IsADirectoryError):
        text = str(err)
    else:
        from tether.algos import TrainingDivergedError

        unexpected = "unexpected: rerun with `tether --debug ...` for the traceback and report it"
        text = str(err) if isinstance(err, TrainingDivergedError) else f"{type(err).__name__}: {err} ({unexpected})"
    return " ".join(text.split())


def _command(function: Command) -> Command:
    """Run a command, printing any failure as one line with its exit code (or the traceback with --debug)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("default")
                warnings.showwarning = _show_warning
                return function(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.exceptions.TyperException):
            raise
        except Exception as err:
            if _debug["on"]:
                raise
            error_console.print(f"[bold red]error[/]: {escape(one_line(err))}", highlight=False)
            raise typer.Exit(code=exit_code(err)) from None

    return wrapper  # type: ignore[return-value]


def _show_warning(message: Any, category: type[Warning], *_: Any, **__: Any) -> None:
    error_console.print(f"[yellow]warning[/]: {escape(' '.join(str(message).split()))}", highlight=False)
