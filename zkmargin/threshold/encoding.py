"""What every threshold module shares: curve names, input checks, hashing, JSON fields.

Points travel as circomlibjs writes them (a pair of decimal strings), scalars as decimal
strings, indices and counts as JSON numbers. Reading is strict: canonical decimals only, no
unknown keys, every point on the curve, in the prime-order subgroup and not the identity.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from zkmargin.edwards import (
    BABY_JUBJUB,
    IDENTITY,
    JUBJUB,
    EdwardsCurve,
    Point,
    require_subgroup_point,
)
from zkmargin.errors import MalformedInputError
from zkmargin.formats.snarkjs import parse_json

JsonDocument = Mapping[str, Any] | str | bytes | bytearray

CURVES: dict[str, EdwardsCurve] = {BABY_JUBJUB.name: BABY_JUBJUB, JUBJUB.name: JUBJUB}
MAX_GUARDIANS = 64  # indices and counts are small; a document cannot make us loop for long
_DECIMAL = re.compile(r"(?:0|[1-9][0-9]*)\Z")
_HEX = re.compile(r"[0-9a-f]*\Z")


# --- values handed to the Python API ---------------------------------------------------


def require_group_element(ec: EdwardsCurve, point: object, what: str) -> Point:
    """On the curve, in the prime-order subgroup, and not the identity."""
    if isinstance(point, tuple) and len(point) == 2 and _checked_before(ec, point[0], point[1]):
        return (point[0], point[1])
    parsed = require_subgroup_point(ec, point, what)
    if parsed == IDENTITY:
        raise MalformedInputError(f"{what}: the identity point is not allowed")
    _remember(ec, parsed)
    return parsed


# The subgroup check is a full multiplication by l; the same VKs and commitments come back in
# every proof a guardian set checks, so points that passed are remembered (a bounded cache).
_CHECKED_POINTS = 4096
_passed: set[tuple[str, int, int]] = set()


def _remember(ec: EdwardsCurve, point: Point) -> None:
    if len(_passed) >= _CHECKED_POINTS:
        _passed.clear()
    _passed.add((ec.name, point[0], point[1]))


def _checked_before(ec: EdwardsCurve, x: object, y: object) -> bool:
    return type(x) is int and type(y) is int and (ec.name, x, y) in _passed


def require_scalar(ec: EdwardsCurve, value: object, what: str, *, nonzero: bool = False) -> int:
    """An int in [0, l), or [1, l) when ``nonzero``; never reduced."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedInputError(f"{what}: expected an integer scalar")
    low = 1 if nonzero else 0
    if not low <= value < ec.order:
        raise MalformedInputError(f"{what}: not in [{low}, l) of {ec.name}")
    return value


def require_index(value: object, count: int, what: str) -> int:
    """A guardian index in 1..count."""
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= count:
        raise MalformedInputError(f"{what}: expected a guardian index in 1..{count}")
    return value


def require_threshold(threshold: object, guardians: object) -> tuple[int, int]:
    if not isinstance(guardians, int) or isinstance(guardians, bool) or not 1 <= guardians <= MAX_GUARDIANS:
        raise MalformedInputError(f"guardians: expected a count in 1..{MAX_GUARDIANS}")
    if not isinstance(threshold, int) or isinstance(threshold, bool) or not 1 <= threshold <= guardians:
        raise MalformedInputError(f"threshold: expected t in 1..{guardians}")
    return threshold, guardians


# --- hashing ---------------------------------------------------------------------------


def framed(*parts: bytes) -> bytes:
    """Length-prefixed concatenation: no two different part lists give the same bytes."""
    return b"".join(len(part).to_bytes(8, "big") + part for part in parts)


def point_bytes(point: Point) -> bytes:
    return point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big")


def scalar_bytes(value: int) -> bytes:
    return value.to_bytes(32, "big")


def hash_to_scalar(ec: EdwardsCurve, domain: bytes, parts: Iterable[bytes]) -> int:
    """SHA-512 of the framed parts, reduced mod l: 512 bits for a 252-bit l, bias below 2^-250."""
    digest = hashlib.sha512(framed(domain, ec.name.encode(), *parts)).digest()
    return int.from_bytes(digest, "big") % ec.order


def canonical_json(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


# --- JSON ------------------------------------------------------------------------------


def as_object(data: JsonDocument, source: str) -> Mapping[str, Any]:
    parsed = parse_json(data, source) if isinstance(data, str | bytes | bytearray) else data
    if not isinstance(parsed, Mapping):
        raise MalformedInputError(f"{source}: expected a JSON object")
    return parsed


def check_keys(obj: Mapping[str, Any], expected: Iterable[str], source: str) -> None:
    wanted = set(expected)
    missing = sorted(wanted - set(obj))
    if missing:
        raise MalformedInputError(f"{source}: missing field {missing[0]!r}")
    unknown = sorted(set(obj) - wanted)
    if unknown:
        raise MalformedInputError(f"{source}: unknown field {unknown[0]!r}")


def check_format(obj: Mapping[str, Any], name: str, version: int, source: str) -> None:
    if obj.get("format") != name:
        raise MalformedInputError(f"{source}: format is not {name!r}")
    if obj.get("version") != version or isinstance(obj.get("version"), bool):
        raise MalformedInputError(f"{source}: unsupported version {obj.get('version')!r} (expected {version})")


def read_curve(value: Any, source: str) -> EdwardsCurve:
    if not isinstance(value, str) or value not in CURVES:
        raise MalformedInputError(f"{source}: curve: expected one of {sorted(CURVES)}")
    return CURVES[value]


def read_count(value: Any, low: int, high: int, source: str, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise MalformedInputError(f"{source}: {field}: expected an integer in {low}..{high}")
    return value


def read_decimal(value: Any, bound: int, source: str, field: str) -> int:
    if not isinstance(value, str) or not _DECIMAL.match(value):
        raise MalformedInputError(f"{source}: {field}: expected a canonical decimal string")
    number = int(value)
    if number >= bound:
        raise MalformedInputError(f"{source}: {field}: not below the modulus")
    return number


def read_scalar(ec: EdwardsCurve, value: Any, source: str, field: str, *, nonzero: bool = False) -> int:
    number = read_decimal(value, ec.order, source, field)
    if nonzero and number == 0:
        raise MalformedInputError(f"{source}: {field}: must not be zero")
    return number


def read_point(ec: EdwardsCurve, value: Any, source: str, field: str) -> Point:
    if not isinstance(value, list) or len(value) != 2:
        raise MalformedInputError(f"{source}: {field}: expected a point [x, y]")
    x = read_decimal(value[0], ec.p, source, f"{field}[0]")
    y = read_decimal(value[1], ec.p, source, f"{field}[1]")
    return require_group_element(ec, (x, y), f"{source}: {field}")


def read_list(value: Any, source: str, field: str, *, length: int | None = None) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedInputError(f"{source}: {field}: expected a list")
    if length is not None and len(value) != length:
        raise MalformedInputError(f"{source}: {field}: expected {length} entries, got {len(value)}")
    return value


def read_hex(value: Any, source: str, field: str, *, length: int | None = None) -> bytes:
    if not isinstance(value, str) or len(value) % 2 or not _HEX.match(value):
        raise MalformedInputError(f"{source}: {field}: expected lowercase hex")
    raw = bytes.fromhex(value)
    if length is not None and len(raw) != length:
        raise MalformedInputError(f"{source}: {field}: expected {length} bytes")
    return raw


def read_text(value: Any, source: str, field: str) -> str:
    if not isinstance(value, str):
        raise MalformedInputError(f"{source}: {field}: expected a string")
    return value
