"""Terminal output shared by the commands: errors on stderr, progress on stderr, data on stdout."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from circuits.protocol.exit_codes import ExitCode

err_console = Console(stderr=True)
ERROR_LABEL = "[red]error:[/red] "


def say(message: object, label: str = "", **options: Any) -> None:
    """Print a message on stderr exactly as written.

    rich reads ``[...]`` as markup and drops the brackets it understands (``zkmargin[bench]``
    would print as ``zkmargin``), so the message is escaped; only ``label`` (ours, such as
    ``"[red]error:[/red] "``) is markup. ``options`` go to ``Console.print``.
    """
    err_console.print(label + escape(str(message)), highlight=False, **options)


def say_error(message: object) -> None:
    """One ``error: ...`` line on stderr, the message exactly as written."""
    say(message, ERROR_LABEL, soft_wrap=True)


def fail(message: object, code: int = ExitCode.ERROR) -> NoReturn:
    """End the command: the message as one error line, then exit ``code`` (an ``ExitCode``)."""
    say_error(message)
    raise typer.Exit(code)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


@contextmanager
def phase_progress(title: str, enabled: bool = True) -> Iterator[Any]:
    """A spinner that names the current phase; yields the callback to announce phases."""
    if not enabled or not err_console.is_terminal:
        yield lambda phase: None
        return
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=err_console, transient=True,
    ) as progress:
        task = progress.add_task(title, total=None)
        yield lambda phase: progress.update(task, description=f"{title}: {phase}")
