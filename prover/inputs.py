"""Reading the ``input.json`` that snarkjs also takes: signal name -> integer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zkmargin.errors import MalformedInputError


def parse_integer(value: Any, where: str) -> int:
    """A decimal string or a JSON integer; negatives are allowed (circuits range-check them)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise MalformedInputError(f"{where}: expected an integer or a decimal string, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text.startswith("-") else text
        if digits.isdigit() and digits.isascii():
            return int(text)
    raise MalformedInputError(f"{where}: expected an integer or a decimal string, got {value!r}")


def parse_inputs(data: Any, source: str = "input") -> dict[str, int]:
    if not isinstance(data, dict):
        raise MalformedInputError(f"{source}: expected a JSON object mapping signal names to values")
    return {str(k): parse_integer(v, f"{source}: {k}") for k, v in data.items()}


def load_inputs(path: str | Path) -> dict[str, int]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise MalformedInputError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MalformedInputError(f"{path}: not valid JSON ({err})") from None
    return parse_inputs(data, str(path))
