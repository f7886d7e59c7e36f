"""JSON for the statements' proving inputs.

``zkmargin prove NAME --input input.json`` reads, for ``mult`` and ``chain``, the snarkjs form
(signal name -> integer or decimal string) and, per margin statement (integers as JSON numbers or
decimal strings; negative sizes, costs and amounts allowed):

- margin:   {"state": STATE, "epoch": e, "prices": [...], "rates": [...]}
- transfer: {"state": STATE, "amount": a, "prices": [...], "rates": [...]}
- fill:     {"state": STATE, "fill": FILL, "prices": [...], "rates": [...]}
- settle:   {"state": STATE, "epoch": e, "prices": [...]}

The escrow variants of transfer, fill and settle (``--escrow``) also take ``"escrow_key": [x, y]``:
the guardians' group public key as decimal strings (``group_key`` of the guardian set, ``GET
/guardians``); the escrow of the new state is sealed to it. The variants without escrow refuse it.

STATE is {"account_id", "nonce", "salt", "collateral", "sizes": [...], "costs": [...], "epoch"} (epoch
optional, 0 when absent: the genesis epoch) and
FILL is {"account_id", "fill_id", "market", "size_delta", "price", "fee", "salt"}.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from circuits.state import AccountState, Fill
from zkmargin.curves import Curve
from zkmargin.edwards import Point, embedded_curve
from zkmargin.errors import MalformedInputError
from zkmargin.escrow import require_key_point

_STATE_FIELDS = ("account_id", "nonce", "salt", "collateral")
# FILL's keys are the statement's Fill, in its order: one list, read by the sealed fill opening too
FILL_FIELDS = tuple(f.name for f in dataclasses.fields(Fill))


def integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise MalformedInputError(f"{where}: expected an integer or a decimal string, got {value!r}")
    if isinstance(value, str):
        digits = value[1:] if value.startswith("-") else value
        if not (digits.isdigit() and digits.isascii()):
            raise MalformedInputError(f"{where}: expected a decimal string, got {value!r}")
        return int(value)
    return value


def integers(values: Any, where: str) -> list[int]:
    if not isinstance(values, list):
        raise MalformedInputError(f"{where}: expected a list")
    return [integer(v, f"{where}[{i}]") for i, v in enumerate(values)]


def field(data: Any, key: str, where: str) -> Any:
    if not isinstance(data, dict):
        raise MalformedInputError(f"{where}: expected a JSON object")
    if key not in data:
        raise MalformedInputError(f"{where}: missing {key!r}")
    return data[key]


def signal_values(data: Any, source: str = "input") -> dict[str, int]:
    """The snarkjs ``input.json``: an object mapping each signal name to an integer."""
    if not isinstance(data, dict):
        raise MalformedInputError(f"{source}: expected a JSON object mapping signal names to values")
    return {str(k): integer(v, f"{source}: {k}") for k, v in data.items()}


def state_from_json(data: Any, where: str = "state") -> AccountState:
    scalars = {k: integer(field(data, k, where), f"{where}.{k}") for k in _STATE_FIELDS}
    return AccountState(
        **scalars,
        sizes=tuple(integers(field(data, "sizes", where), f"{where}.sizes")),
        costs=tuple(integers(field(data, "costs", where), f"{where}.costs")),
        epoch=integer(data.get("epoch", 0), f"{where}.epoch"),
    )


def state_to_json(state: AccountState) -> dict[str, Any]:
    return {
        "account_id": state.account_id,
        "nonce": state.nonce,
        "salt": str(state.salt),
        "collateral": str(state.collateral),
        "sizes": [str(b) for b in state.sizes],
        "costs": [str(k) for k in state.costs],
        "epoch": state.epoch,
    }


def fill_from_json(data: Any, where: str = "fill") -> Fill:
    return Fill(**{k: integer(field(data, k, where), f"{where}.{k}") for k in FILL_FIELDS})


def escrow_key_from_json(data: Any, escrowed: bool, curve: Curve, where: str) -> Point | None:
    """``"escrow_key"``: required by an escrow variant, refused by the others; a point of the
    embedded curve's subgroup, not the identity."""
    if not escrowed:
        if isinstance(data, dict) and "escrow_key" in data:
            raise MalformedInputError(f"{where}: an escrow_key is only for the escrow variant (--escrow)")
        return None
    key = field(data, "escrow_key", where)
    if not isinstance(key, list) or len(key) != 2:
        raise MalformedInputError(f"{where}: escrow_key: expected [x, y] (decimal strings)")
    coordinates = [integer(v, f"{where}: escrow_key") for v in key]
    return require_key_point(embedded_curve(curve), coordinates, f"{where}: escrow_key")
