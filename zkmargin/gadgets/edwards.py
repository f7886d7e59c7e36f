"""Points of the embedded Edwards curve in circuit: checks, group law, scalar multiplication.

A point is a pair of linear combinations (x, y) over the proof system's scalar field, which is
the Edwards curve's base field (:mod:`zkmargin.edwards`). Costs, in constraints:

- on-curve assertion 3; unified addition 6; doubling 5; selection of one of two points 2;
- fixed-base multiplication by an m-bit scalar: windows of 3 bits, each a table lookup of
  3 constraints (2-bit and 1-bit tail windows 1 and 0) plus an addition of 6: about 3 per bit;
- variable-base multiplication: double-and-add with a selection, 13 per bit.

Why no exceptional cases: the unified addition law is complete on both curves (``a`` is a
square and ``d`` is not), so its denominators ``1 ± d·x1·x2·y1·y2`` never vanish on curve
points, the identity (0, 1) and doubling included; the doubling formula's denominators are
the same quantities for ``x1 = x2, y1 = y2``. The outputs of these formulas are therefore
fixed by their inputs, which is what :meth:`ConstraintSystem.declare_determined` records.
Every input point must be on the curve: a fixed base is checked when the tables are built,
a witnessed point with :func:`assert_on_curve`, and the prime-order subgroup of a point that
comes from outside is checked by whoever supplies it (the verifier, from its own records).

Scalars are little-endian bits. :func:`ephemeral_scalar_bits` makes ``m - 1`` fresh bits
(``2^(m-1) < l``, m the bit length of the group order l), so distinct bit strings are distinct
scalars mod l: the decomposition is canonical with no range check. :func:`canonical_scalar_bits`
decomposes a given scalar into m bits and proves it is below l.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

from zkmargin.constraints import LC, ConstraintSystem, LCLike, Value
from zkmargin.edwards import IDENTITY, EdwardsCurve, Point, add, is_on_curve
from zkmargin.gadgets.bits import from_bits, to_bits
from zkmargin.gadgets.boolean import assert_boolean
from zkmargin.gadgets.comparison import assert_less_than

WINDOW_BITS = 3


@dataclass(frozen=True)
class CurvePoint:
    """An Edwards point in circuit: its affine coordinates as linear combinations."""

    x: LC
    y: LC

    @staticmethod
    def constant(point: Point) -> CurvePoint:
        return CurvePoint(LC.of(point[0]), LC.of(point[1]))


def point_value(cs: ConstraintSystem, point: CurvePoint) -> Point:
    """The affine coordinates under the witness (proving mode only)."""
    return (cs.value(point.x), cs.value(point.y))


def assert_on_curve(cs: ConstraintSystem, ec: EdwardsCurve, point: CurvePoint, label: str) -> None:
    """a·x² + y² = 1 + d·x²·y², in 3 constraints."""
    with cs.namespace(label):
        xx = cs.mul(point.x, point.x, "x^2")
        yy = cs.mul(point.y, point.y, "y^2")
        cs.enforce(xx * ec.d, yy, xx * ec.a + yy - 1, "on the curve")


def add_points(cs: ConstraintSystem, ec: EdwardsCurve, p: CurvePoint, q: CurvePoint, label: str) -> CurvePoint:
    """p + q by the unified law, 6 constraints:

    x3 = (x1·y2 + y1·x2) / (1 + d·τ),  y3 = (y1·y2 - a·x1·x2) / (1 - d·τ),  τ = x1·x2·y1·y2,
    with y1·y2 - a·x1·x2 = (y1 - a·x1)(x2 + y2) + a·x1·y2 - y1·x2 read off one product.
    """
    out = _add(cs, ec, p, q, label)
    _declare_chain(cs, [out], [p, q], f"{label}: unified addition, 1 ± d*tau is never 0")
    return out


def double_point(cs: ConstraintSystem, ec: EdwardsCurve, p: CurvePoint, label: str) -> CurvePoint:
    """2p in 5 constraints, for p on the curve:

    x3 = 2xy / (a·x² + y²),  y3 = (y² - a·x²) / (2 - a·x² - y²); on the curve the denominators
    are 1 + d·x²y² and 1 - d·x²y², the unified law's, never 0.
    """
    out = _double(cs, ec, p, label)
    _declare_chain(cs, [out], [p], f"{label}: doubling, denominators 1 ± d*x^2*y^2 are never 0")
    return out


def _add(cs: ConstraintSystem, ec: EdwardsCurve, p: CurvePoint, q: CurvePoint, label: str) -> CurvePoint:
    with cs.namespace(label):
        beta = cs.mul(p.x, q.y, "x1*y2")
        gamma = cs.mul(p.y, q.x, "y1*x2")
        delta = cs.mul(p.y - p.x * ec.a, q.x + q.y, "(y1-a*x1)*(x2+y2)")
        tau = cs.mul(beta, gamma, "tau")
        x_numerator, y_numerator = beta + gamma, delta + beta * ec.a - gamma
        x3 = cs.private("x", lambda: _ratio(cs, x_numerator, 1 + tau * ec.d))
        y3 = cs.private("y", lambda: _ratio(cs, y_numerator, 1 - tau * ec.d))
        cs.enforce(1 + tau * ec.d, x3, x_numerator, "x")
        cs.enforce(1 - tau * ec.d, y3, y_numerator, "y")
    return CurvePoint(x3, y3)


def _double(cs: ConstraintSystem, ec: EdwardsCurve, p: CurvePoint, label: str) -> CurvePoint:
    with cs.namespace(label):
        xx = cs.mul(p.x, p.x, "x^2")
        yy = cs.mul(p.y, p.y, "y^2")
        xy = cs.mul(p.x, p.y, "x*y")
        x_denominator, y_denominator = xx * ec.a + yy, 2 - xx * ec.a - yy
        x3 = cs.private("x", lambda: _ratio(cs, xy * 2, x_denominator))
        y3 = cs.private("y", lambda: _ratio(cs, yy - xx * ec.a, y_denominator))
        cs.enforce(x_denominator, x3, xy * 2, "x")
        cs.enforce(y_denominator, y3, yy - xx * ec.a, "y")
    return CurvePoint(x3, y3)


def _declare_chain(cs: ConstraintSystem, outputs: Sequence[CurvePoint], inputs: Sequence[CurvePoint | LCLike],
                   reason: str) -> None:
    """The outputs of additions and doublings are functions of their inputs (for the audit).

    A scalar multiplication states this once for its whole chain: per-step rules would make the
    audit take one pass over the circuit per step.
    """
    sources: list[LCLike] = []
    for item in inputs:
        sources.extend([item.x, item.y] if isinstance(item, CurvePoint) else [item])
    cs.declare_determined([c for point in outputs for c in (point.x, point.y)], sources, reason)


def select_point(
    cs: ConstraintSystem, bit: LCLike, if_true: CurvePoint, if_false: CurvePoint, label: str
) -> CurvePoint:
    """bit ? if_true : if_false for a boolean ``bit`` (the caller constrains it): 2 constraints."""
    with cs.namespace(label):
        # the constraint's own formula, so a witness stays consistent whatever the bit holds
        x = cs.private("x", lambda: cs.value(if_false.x) + cs.value(bit) * cs.value(if_true.x - if_false.x))
        y = cs.private("y", lambda: cs.value(if_false.y) + cs.value(bit) * cs.value(if_true.y - if_false.y))
        cs.enforce(bit, if_true.x - if_false.x, x - if_false.x, "x")
        cs.enforce(bit, if_true.y - if_false.y, y - if_false.y, "y")
    return CurvePoint(x, y)


# --- scalars -----------------------------------------------------------------------------
def ephemeral_scalar_bits(cs: ConstraintSystem, ec: EdwardsCurve, scalar: Value, label: str) -> list[LC]:
    """m - 1 secret bits of a fresh scalar k in [0, 2^(m-1)), little-endian: m - 1 constraints.

    2^(m-1) < l, so no two bit strings give the same k mod l (canonical by construction); a
    scalar at or above 2^(m-1), k + l for instance, has no such decomposition. The caller
    rules out k = 0 if it must (see :func:`assert_not_identity`).
    """
    count = ephemeral_scalar_width(ec)
    with cs.namespace(label):
        bits = []
        for i in range(count):
            bit = cs.private(f"bit {i}", _bit_of(scalar, i), existential=True)
            assert_boolean(cs, bit, f"bit {i}")
            bits.append(bit)
    return bits


def ephemeral_scalar_width(ec: EdwardsCurve) -> int:
    """m - 1 for the group order's bit length m: the largest width with 2^width < l."""
    return ec.scalar_bits - 1


def canonical_scalar_bits(cs: ConstraintSystem, ec: EdwardsCurve, scalar: LCLike, label: str) -> list[LC]:
    """The m little-endian bits of ``scalar`` and a proof that it is below l: 2m + 2 constraints.

    m bits recompose a value below 2^m < r, so the bits are unique; then l - 1 - scalar must lie
    in [0, 2^m), which fails for scalar >= l (the difference wraps to r - (scalar - l + 1) > 2^m).
    """
    m = ec.scalar_bits
    with cs.namespace(label):
        bits = to_bits(cs, scalar, m, "bits")
        assert_less_than(cs, from_bits(bits), ec.order, m, "below the group order")
    return bits


def _bit_of(scalar: Value, i: int) -> Callable[[], int]:
    return lambda: (_resolve(scalar) >> i) & 1


def _resolve(value: Value) -> int:
    resolved = value() if callable(value) else value
    if resolved is None:
        raise ValueError("no scalar value in proving mode")
    return resolved


# --- scalar multiplication ---------------------------------------------------------------
def fixed_base_mul(
    cs: ConstraintSystem, ec: EdwardsCurve, base: Point, bits: Sequence[LCLike], label: str
) -> CurvePoint:
    """k·base for k = sum bits[i]·2^i and a base fixed when the circuit is written.

    The bits are cut into windows of 3; window j looks up ``w_j · 8^j · base`` (w_j its 3-bit
    value) in a table of constants, and the lookups are added up. The identity (w_j = 0) is a
    table entry like any other: the addition law is complete.
    """
    if not is_on_curve(ec, base):
        raise ValueError(f"a fixed base must be a point of {ec.name}")
    windows = [list(bits[k : k + WINDOW_BITS]) for k in range(0, len(bits), WINDOW_BITS)]
    tables = window_tables(ec, base, len(windows))
    with cs.namespace(label):
        acc: CurvePoint | None = None
        sums = []
        for j, (window, table) in enumerate(zip(windows, tables)):
            looked_up = _lookup(cs, window, table, f"window {j}")
            acc = looked_up if acc is None else _add(cs, ec, acc, looked_up, f"add window {j}")
            sums.append(acc)
        _declare_chain(cs, sums[1:], list(bits), "fixed-base multiplication: sums of complete additions")
    return acc if acc is not None else CurvePoint.constant(IDENTITY)


@cache
def window_tables(ec: EdwardsCurve, base: Point, count: int) -> tuple[tuple[Point, ...], ...]:
    """For window j: the points w · 8^j · base for w = 0..7."""
    tables = []
    window_base = base
    for _ in range(count):
        entries = [IDENTITY]
        for _w in range(1, 1 << WINDOW_BITS):
            entries.append(add(ec, entries[-1], window_base))
        tables.append(tuple(entries))
        window_base = add(ec, entries[-1], window_base)  # 8 · window_base
    return tuple(tables)


def _lookup(cs: ConstraintSystem, window: list[LCLike], table: Sequence[Point], label: str) -> CurvePoint:
    """table[b0 + 2·b1 + 4·b2] by multilinear interpolation of constants.

    With ``f(b0, b1) = c0 + b0(c1 - c0) + b1(c2 - c0) + b0·b1(c3 - c2 - c1 + c0)`` for the
    entries 0..3 and ``g`` the same for 4..7, the entry is ``f + b2·(g - f)``: one product
    b0·b1 for both coordinates, then one constraint per coordinate. Shorter (tail) windows
    need one product (2 bits) or none (1 bit).
    """
    with cs.namespace(label):
        b = [LC.of(bit) for bit in window]
        b0b1 = cs.mul(b[0], b[1], "b0*b1") if len(b) >= 2 else LC()
        coordinates = []
        for axis in (0, 1):
            c = [point[axis] for point in table]
            low = _bilinear(c[0:4], b, b0b1)
            if len(b) < WINDOW_BITS:
                coordinates.append(low)
                continue
            high = _bilinear(c[4:8], b, b0b1)
            name = "xy"[axis]
            out = cs.private(name, _interpolated(cs, low, high, b[2]))
            cs.enforce(b[2], high - low, out - low, name)
            coordinates.append(out)
    return CurvePoint(coordinates[0], coordinates[1])


def _interpolated(cs: ConstraintSystem, low: LC, high: LC, selector: LC) -> Callable[[], int]:
    """low + selector·(high - low) under the witness, as the lookup's constraint reads it."""
    return lambda: cs.value(low + (high - low) * cs.value(selector))


def _bilinear(c: Sequence[int], b: Sequence[LC], b0b1: LC) -> LC:
    """c0 + b0(c1 - c0) + b1(c2 - c0) + b0·b1(c3 - c2 - c1 + c0), for the bits present."""
    out = LC.of(c[0]) + b[0] * (c[1] - c[0])
    if len(b) >= 2:
        out = out + b[1] * (c[2] - c[0]) + b0b1 * (c[3] - c[2] - c[1] + c[0])
    return out


def variable_base_mul(
    cs: ConstraintSystem, ec: EdwardsCurve, point: CurvePoint, bits: Sequence[LCLike], label: str
) -> CurvePoint:
    """k·point for k = sum bits[i]·2^i and a point on the curve, most significant bit first.

    The top bit selects point or the identity; each further bit doubles the accumulator and
    selects between it and its sum with the point: 5 + 6 + 2 constraints per bit.
    """
    if not bits:
        return CurvePoint.constant(IDENTITY)
    identity = CurvePoint.constant(IDENTITY)
    with cs.namespace(label):
        top = len(bits) - 1
        acc = select_point(cs, bits[top], point, identity, f"bit {top}")
        steps = []
        for i in range(top - 1, -1, -1):
            doubled = _double(cs, ec, acc, f"bit {i}/double")
            added = _add(cs, ec, doubled, point, f"bit {i}/add")
            acc = select_point(cs, bits[i], added, doubled, f"bit {i}/select")
            steps.extend([doubled, added])
        _declare_chain(cs, steps, [point, *bits], "variable-base multiplication: complete doublings and additions")
    return acc


def assert_not_identity(cs: ConstraintSystem, point: CurvePoint, label: str) -> None:
    """point != (0, 1) for a point of the prime-order subgroup: there x = 0 only at the identity.

    One constraint (x times its inverse is 1); the point of order 2, (0, -1), is outside
    the subgroup and must be excluded by the caller's construction.
    """
    with cs.namespace(label):
        inverse = cs.private("1/x", lambda: pow(cs.value(point.x), -1, cs.r) if cs.value(point.x) else 0)
        cs.enforce(point.x, inverse, 1, "x is nonzero")
        cs.declare_determined([inverse], [point.x], "a field element has one inverse")


def _ratio(cs: ConstraintSystem, numerator: LC, denominator: LC) -> int:
    """numerator / denominator under the witness; 0 if the denominator is 0 (then no witness works)."""
    den = cs.value(denominator)
    return cs.value(numerator) * pow(den, -1, cs.r) % cs.r if den else 0
