"""The instruments a market can list: linear futures and perpetuals, and European options.

Units are those of ``circuits.state``: a **price** or **strike** is an integer number of
collateral units per base unit of the underlying market, in [1, 2^48); a **size** is a signed
number of base units (one option is the right on one base unit); rates are in millionths
(``RATE_SCALE``). An option's **expiry** is a Unix timestamp in whole seconds (UTC), the clock
oracle reports are signed with: epochs have no fixed length, so they cannot measure the time
value an option pricer needs.

JSON (``instrument_to_json`` / ``instrument_from_json``)::

    {"kind": "future", "market": 0, "perpetual": true}
    {"kind": "option", "market": 0, "right": "call", "strike": 60000, "expiry": 1767225600}

Parsing is strict: unknown, missing or duplicate fields, floats (``1.0`` too), booleans for
integers, strings for integers and out-of-range values are ``InstrumentError``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from circuits.protocol.risk.errors import InstrumentError
from circuits.state import MAX_MARKETS, PRICE_BITS
from zkmargin.formats.snarkjs import reject_duplicate_keys

MIN_PRICE = 1
PRICE_LIMIT = 1 << PRICE_BITS  # prices and strikes lie in [1, 2^48)
TIMESTAMP_LIMIT = 1 << 64  # oracle timestamps are u64 seconds

_FUTURE_FIELDS = ("kind", "market", "perpetual")
_OPTION_FIELDS = ("kind", "market", "right", "strike", "expiry")


def exact_int(name: str, value: Any, low: int, high: int) -> int:
    """An int in [low, high): a bool is an int to Python but never a strike or a time."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InstrumentError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if not low <= value < high:
        raise InstrumentError(f"{name} = {value} is outside [{low}, {high})")
    return value


class OptionRight(str, Enum):
    """A call pays max(P - K, 0) at expiry, a put max(K - P, 0)."""

    CALL = "call"
    PUT = "put"


@dataclass(frozen=True)
class Future:
    """A linear contract on one market: one unit gains P_new - P_old. A perpetual never
    expires and pays funding (``circuits.protocol.risk.funding``); a dated future does not."""

    market: int
    perpetual: bool = True
    kind: ClassVar[str] = "future"

    def __post_init__(self) -> None:
        exact_int("future market", self.market, 0, MAX_MARKETS)
        if not isinstance(self.perpetual, bool):
            raise InstrumentError(f"perpetual must be true or false, got {self.perpetual!r}")


@dataclass(frozen=True)
class Option:
    """A European option on one base unit of ``market``'s underlying, exercised only at expiry."""

    market: int
    right: OptionRight
    strike: int
    expiry: int
    kind: ClassVar[str] = "option"

    def __post_init__(self) -> None:
        exact_int("option market", self.market, 0, MAX_MARKETS)
        if not isinstance(self.right, OptionRight):
            raise InstrumentError(f"option right must be an OptionRight, got {self.right!r}")
        exact_int("strike", self.strike, MIN_PRICE, PRICE_LIMIT)
        exact_int("expiry", self.expiry, 0, TIMESTAMP_LIMIT)

    def intrinsic_value(self, settlement_price: int) -> int:
        """What one unit pays at expiry against the settlement price: exact, no rounding."""
        exact_int("settlement price", settlement_price, MIN_PRICE, PRICE_LIMIT)
        if self.right is OptionRight.CALL:
            return max(settlement_price - self.strike, 0)
        return max(self.strike - settlement_price, 0)


Instrument = Future | Option


def instrument_to_dict(instrument: Instrument) -> dict[str, Any]:
    if isinstance(instrument, Future):
        return {"kind": Future.kind, "market": instrument.market, "perpetual": instrument.perpetual}
    return {"kind": Option.kind, "market": instrument.market, "right": instrument.right.value,
            "strike": instrument.strike, "expiry": instrument.expiry}


def instrument_to_json(instrument: Instrument) -> str:
    """The canonical JSON: fixed field order, no spaces."""
    return json.dumps(instrument_to_dict(instrument), separators=(",", ":"))


def _reject_float(text: str) -> Any:
    raise InstrumentError(f"floats are not accepted, got {text}: strikes and times are integers")


def _reject_constant(text: str) -> Any:
    raise InstrumentError(f"{text} is not a JSON value")


_UNIQUE_KEYS = reject_duplicate_keys(lambda key: InstrumentError(f"duplicate field {key!r}"))


def _require_fields(data: dict[str, Any], fields: tuple[str, ...]) -> None:
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InstrumentError(f"instrument has unknown field(s) {', '.join(map(repr, unknown))}")
    missing = [name for name in fields if name not in data]
    if missing:
        raise InstrumentError(f"instrument is missing field(s) {', '.join(map(repr, missing))}")


def instrument_from_dict(data: Any) -> Instrument:
    if not isinstance(data, dict):
        raise InstrumentError(f"an instrument must be a JSON object, got {type(data).__name__}")
    kind = data.get("kind")
    if kind == Future.kind:
        _require_fields(data, _FUTURE_FIELDS)
        return Future(market=exact_int("future market", data["market"], 0, MAX_MARKETS),
                      perpetual=data["perpetual"])
    if kind == Option.kind:
        _require_fields(data, _OPTION_FIELDS)
        right = data["right"]
        if right not in (OptionRight.CALL.value, OptionRight.PUT.value) or not isinstance(right, str):
            raise InstrumentError(f"option right must be 'call' or 'put', got {right!r}")
        return Option(market=data["market"], right=OptionRight(right), strike=data["strike"],
                      expiry=data["expiry"])
    raise InstrumentError(f"instrument kind must be 'future' or 'option', got {kind!r}")


def instrument_from_json(text: str | bytes) -> Instrument:
    """Inverse of ``instrument_to_json``; strict (see the module docstring)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InstrumentError(f"instrument is not UTF-8: {exc}") from None
    try:
        data = json.loads(text, parse_float=_reject_float, parse_constant=_reject_constant,
                          object_pairs_hook=_UNIQUE_KEYS)
    except json.JSONDecodeError as exc:
        raise InstrumentError(f"instrument is not valid JSON: {exc}") from None
    return instrument_from_dict(data)
