"""The ``demo`` command, mounted on ``zkmargin`` through the entry point ``zkmargin.commands:demo``."""

from __future__ import annotations

import typer


def demo_command() -> None:
    """Two traders through two epochs on a local service, one of them liquidated with the guardians' help."""
    from demo.run import run_demo

    raise typer.Exit(run_demo())


def register(app: typer.Typer) -> None:
    """Mount ``demo`` on the project's CLI."""
    app.command("demo", rich_help_panel="Start here")(demo_command)
