"""The twisted Edwards curves embedded in the proof systems' scalar fields.

``a·x² + y² = 1 + d·x²·y²`` over F_r of a pairing curve, so a point's coordinates are native
field elements inside a circuit:

- **Baby Jubjub** over BN254's F_r, with circomlib's parameters (EIP-2494), so circom users can
  check what we build on it. Its base point is circomlib's ``Base8``, of prime order ``l``.
- **Jubjub** over BLS12-381's F_r, Zcash's curve, with the prime-order generator arkworks uses.

Both have cofactor 8. A point from outside is accepted only on the curve *and* in the
prime-order subgroup (:func:`require_subgroup_point`): a small-order component would otherwise
leak a key's residue or let a prover pick an ephemeral key outside the group.

The arithmetic runs in extended coordinates (X:Y:Z:T with x = X/Z, y = Y/Z, xy = T/Z) with the
unified addition law, which is complete on both curves because ``a`` is a square and ``d`` is
not: no special case for doubling or the identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from zkmargin.curves import BLS12_381, BN254, Curve, get_curve
from zkmargin.errors import MalformedInputError

Point = tuple[int, int]  # affine (x, y); the identity is (0, 1)
IDENTITY: Point = (0, 1)


@dataclass(frozen=True)
class EdwardsCurve:
    name: str
    p: int  # base field: the scalar field r of the pairing curve it is embedded in
    a: int
    d: int
    order: int  # l, the prime order of the subgroup every accepted point lies in
    cofactor: int
    base: Point  # generator of the prime-order subgroup

    def __str__(self) -> str:
        return self.name

    @property
    def scalar_bits(self) -> int:
        return self.order.bit_length()


BABY_JUBJUB = EdwardsCurve(
    name="babyjubjub",
    p=BN254.r,
    a=168700,
    d=168696,
    order=2736030358979909402780800718157159386076813972158567259200215660948447373041,
    cofactor=8,
    base=(  # circomlib's Base8 = 8 · Generator
        5299619240641551281634865583518297030282874472190772894086521144482721001553,
        16950150798460657717958625567821834550301663161624707787222815936182638968203,
    ),
)

JUBJUB = EdwardsCurve(
    name="jubjub",
    p=BLS12_381.r,
    a=BLS12_381.r - 1,
    d=19257038036680949359750312669786877991949435402254120286184196891950884077233,
    order=6554484396890773809930967563523245729705921265872317281365359162392183254199,
    cofactor=8,
    base=(
        8076246640662884909881801758704306714034609987455869804520522091855516602923,
        13262374693698910701929044844600465831413122818447359594527400194675274060458,
    ),
)

_EMBEDDED = {BN254.name: BABY_JUBJUB, BLS12_381.name: JUBJUB}


def embedded_curve(curve: Curve | str | None = None) -> EdwardsCurve:
    """The Edwards curve whose base field is ``curve``'s scalar field."""
    return _EMBEDDED[get_curve(curve).name]


def is_on_curve(ec: EdwardsCurve, point: Point) -> bool:
    x, y = point
    if not (0 <= x < ec.p and 0 <= y < ec.p):
        return False
    xx, yy = x * x % ec.p, y * y % ec.p
    return (ec.a * xx + yy - 1 - ec.d * xx % ec.p * yy) % ec.p == 0


# --- extended coordinates ----------------------------------------------------------------
_Extended = tuple[int, int, int, int]


def _to_extended(ec: EdwardsCurve, point: Point) -> _Extended:
    x, y = point
    return (x, y, 1, x * y % ec.p)


def _to_affine(ec: EdwardsCurve, q: _Extended) -> Point:
    x, y, z, _ = q
    z_inv = pow(z, -1, ec.p)
    return (x * z_inv % ec.p, y * z_inv % ec.p)


def _add_extended(ec: EdwardsCurve, q1: _Extended, q2: _Extended) -> _Extended:
    # unified addition (Hisil–Wong–Carter–Dawson 2008, "add-2008-hwcd")
    p = ec.p
    x1, y1, z1, t1 = q1
    x2, y2, z2, t2 = q2
    a = x1 * x2 % p
    b = y1 * y2 % p
    c = ec.d * t1 % p * t2 % p
    d = z1 * z2 % p
    e = ((x1 + y1) * (x2 + y2) - a - b) % p
    f = (d - c) % p
    g = (d + c) % p
    h = (b - ec.a * a) % p
    return (e * f % p, g * h % p, f * g % p, e * h % p)


def add(ec: EdwardsCurve, p1: Point, p2: Point) -> Point:
    return _to_affine(ec, _add_extended(ec, _to_extended(ec, p1), _to_extended(ec, p2)))


def neg(ec: EdwardsCurve, point: Point) -> Point:
    x, y = point
    return ((-x) % ec.p, y)


def mul(ec: EdwardsCurve, scalar: int, point: Point) -> Point:
    """``scalar · point`` for any integer scalar (negative scalars negate)."""
    if scalar < 0:
        return mul(ec, -scalar, neg(ec, point))
    acc: _Extended = (0, 1, 1, 0)
    q = _to_extended(ec, point)
    for bit in bin(scalar)[2:]:
        acc = _add_extended(ec, acc, acc)
        if bit == "1":
            acc = _add_extended(ec, acc, q)
    return _to_affine(ec, acc)


def base_mul(ec: EdwardsCurve, scalar: int) -> Point:
    """``scalar · base`` from a table of the base's window multiples (:func:`_base_table`).

    One addition per 4-bit window of the scalar and no doubling: about 8 times faster than
    :func:`mul`. Like everything here it is not constant-time (Python integers never are).
    """
    table = _base_table(ec)
    k = scalar % ec.order  # the base has order l
    acc: _Extended = (0, 1, 1, 0)
    window = 0
    while k:
        digit = k & _WINDOW_MASK
        if digit:
            acc = _add_extended(ec, acc, table[window][digit])
        k >>= _WINDOW_BITS
        window += 1
    return _to_affine(ec, acc)


_WINDOW_BITS = 4
_WINDOW_MASK = (1 << _WINDOW_BITS) - 1


@cache
def _base_table(ec: EdwardsCurve) -> tuple[tuple[_Extended, ...], ...]:
    """``table[i][d] = d · 2^(4i) · base`` for every 4-bit window i of a scalar below l."""
    windows = -(-ec.scalar_bits // _WINDOW_BITS)
    table = []
    step = _to_extended(ec, ec.base)  # 2^(4i) · base
    for _ in range(windows):
        row = [(0, 1, 1, 0)]
        for _digit in range(1, 1 << _WINDOW_BITS):
            row.append(_add_extended(ec, row[-1], step))
        table.append(tuple(row))
        step = _add_extended(ec, row[-1], step)  # 15·step + step
    return tuple(table)


def double_mul(ec: EdwardsCurve, a: int, p1: Point, b: int, p2: Point) -> Point:
    """``a · p1 + b · p2`` in one pass over the bits (Straus–Shamir): one doubling per bit."""
    if a < 0:
        return double_mul(ec, -a, neg(ec, p1), b, p2)
    if b < 0:
        return double_mul(ec, a, p1, -b, neg(ec, p2))
    q1, q2 = _to_extended(ec, p1), _to_extended(ec, p2)
    addends = {1: q1, 2: q2, 3: _add_extended(ec, q1, q2)}
    acc: _Extended = (0, 1, 1, 0)
    for bit in reversed(range(max(a.bit_length(), b.bit_length()))):
        acc = _add_extended(ec, acc, acc)
        pair = ((a >> bit) & 1) | (((b >> bit) & 1) << 1)
        if pair:
            acc = _add_extended(ec, acc, addends[pair])
    return _to_affine(ec, acc)


def in_subgroup(ec: EdwardsCurve, point: Point) -> bool:
    return is_on_curve(ec, point) and mul(ec, ec.order, point) == IDENTITY


def require_subgroup_point(ec: EdwardsCurve, point: object, what: str = "point") -> Point:
    """Parse ``point`` (a pair of ints or decimal strings) and insist it is in the subgroup."""
    try:
        x, y = (int(v) for v in point)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise MalformedInputError(f"{what}: expected a pair of field elements") from None
    parsed = (x, y)
    if not is_on_curve(ec, parsed):
        raise MalformedInputError(f"{what}: not a point of {ec.name}")
    if mul(ec, ec.order, parsed) != IDENTITY:
        raise MalformedInputError(f"{what}: not in the prime-order subgroup of {ec.name}")
    return parsed


def point_to_json(point: Point) -> list[str]:
    """Decimal strings, as circomlibjs and snarkjs write field elements."""
    return [str(point[0]), str(point[1])]
