"""Reading the ``input.json`` that snarkjs also takes: signal name -> integer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from circuits.inputs import integer
from zkmargin.errors import MalformedInputError


def parse_inputs(data: Any, source: str = "input") -> dict[str, int]:
    if not isinstance(data, dict):
        raise MalformedInputError(f"{source}: expected a JSON object mapping signal names to values")
    return {str(k): integer(v, f"{source}: {k}") for k, v in data.items()}


def load_input_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise MalformedInputError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MalformedInputError(f"{path}: not valid JSON ({err})") from None
    return data


def load_inputs(path: str | Path) -> dict[str, int]:
    return parse_inputs(load_input_json(path), str(Path(path)))
