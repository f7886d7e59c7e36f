"""Reading ``input.json`` (each statement parses its content: ``Circuit.prepare``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zkmargin.errors import MalformedInputError


def load_input_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise MalformedInputError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MalformedInputError(f"{path}: not valid JSON ({err})") from None
    return data

