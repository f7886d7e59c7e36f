"""Terminal output of the guardian's commands: messages on stderr exactly as written, data on stdout."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

err_console = Console(stderr=True)


def say(message: object, label: str = "") -> None:
    """Print ``message`` on stderr as written: rich would eat ``[...]``, so it is escaped; only
    ``label`` (ours, such as ``"[red]error:[/red] "``) is markup."""
    err_console.print(label + escape(str(message)), highlight=False, soft_wrap=True)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
