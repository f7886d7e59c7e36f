"""Edwards gadgets: the same points as zkmargin.edwards, sound against cheating witnesses, audited."""

from __future__ import annotations

import random

import pytest

from tests.circuits.helpers import assert_only_fails_at
from tests.gadgets.cheating import OverridingSystem
from zkmargin.constraints import ConstraintSystem
from zkmargin.edwards import IDENTITY, add, base_mul, embedded_curve, mul, neg
from zkmargin.gadgets.edwards import (
    WINDOW_BITS,
    CurvePoint,
    add_points,
    assert_not_identity,
    assert_on_curve,
    canonical_scalar_bits,
    double_point,
    ephemeral_scalar_bits,
    ephemeral_scalar_width,
    fixed_base_mul,
    point_value,
    select_point,
    variable_base_mul,
)

def order_two(ec):
    return (0, ec.p - 1)


def public_point(cs, name, point):
    return CurvePoint(cs.public(f"{name}.x", point[0]), cs.public(f"{name}.y", point[1]))


def sample_points(ec, seed):
    rng = random.Random(seed)
    p = base_mul(ec, rng.randrange(1, ec.order))
    q = base_mul(ec, rng.randrange(1, ec.order))
    return [(p, q), (p, p), (p, neg(ec, p)), (p, IDENTITY), (IDENTITY, IDENTITY), (order_two(ec), p)]


def test_addition_and_doubling_match_the_native_group_law(curve):
    ec = embedded_curve(curve)
    for p, q in sample_points(ec, seed=1):
        cs = ConstraintSystem(curve, has_witness=True)
        sum_ = add_points(cs, ec, public_point(cs, "p", p), public_point(cs, "q", q), "add")
        doubled = double_point(cs, ec, public_point(cs, "p2", p), "double")
        assert point_value(cs, sum_) == add(ec, p, q)
        assert point_value(cs, doubled) == add(ec, p, p)
        assert cs.is_satisfied() and cs.audit().ok
    assert cs.num_constraints == 6 + 5


def test_addition_output_is_pinned(curve):
    ec = embedded_curve(curve)
    p, q = sample_points(ec, seed=2)[0]
    for axis in ("x", "y"):
        cs = OverridingSystem(curve, {f"add/{axis}": 12345})
        add_points(cs, ec, public_point(cs, "p", p), public_point(cs, "q", q), "add")
        cs.assert_every_override_used()
        assert_only_fails_at(cs, f"add/{axis}")


def test_doubling_output_is_pinned(curve):
    ec = embedded_curve(curve)
    p = sample_points(ec, seed=3)[0][0]
    cs = OverridingSystem(curve, {"double/y": 7})
    double_point(cs, ec, public_point(cs, "p", p), "double")
    assert_only_fails_at(cs, "double/y")


def test_on_curve_assertion(curve):
    ec = embedded_curve(curve)
    good = base_mul(ec, 5)
    cs = ConstraintSystem(curve, has_witness=True)
    assert_on_curve(cs, ec, public_point(cs, "p", good), "p")
    assert cs.is_satisfied()
    cs = ConstraintSystem(curve, has_witness=True)
    assert_on_curve(cs, ec, public_point(cs, "p", (good[0], good[1] + 1)), "p")
    assert_only_fails_at(cs, "p/on the curve")


@pytest.mark.parametrize("bit", [0, 1])
def test_select_point(curve, bit):
    ec = embedded_curve(curve)
    a, b = base_mul(ec, 3), base_mul(ec, 4)
    cs = ConstraintSystem(curve, has_witness=True)
    out = select_point(cs, cs.public("bit", bit), public_point(cs, "a", a), public_point(cs, "b", b), "sel")
    assert point_value(cs, out) == (a if bit else b) and cs.is_satisfied()
    cs.set_value(out.x, (b if bit else a)[0])  # the other branch
    assert_only_fails_at(cs, "sel/x")


def scalars(ec):
    width = ephemeral_scalar_width(ec)
    rng = random.Random(ec.name)
    return [0, 1, 2, 7, 8, (1 << width) - 1, rng.randrange(1 << width)]


def test_ephemeral_scalars_are_canonical_by_their_width(curve):
    ec = embedded_curve(curve)
    width = ephemeral_scalar_width(ec)
    assert (1 << width) < ec.order < (1 << (width + 1))  # no two bit strings agree mod l


@pytest.mark.parametrize("variable", [False, True], ids=["fixed base", "variable base"])
def test_scalar_multiplication_matches_native(curve, variable):
    ec = embedded_curve(curve)
    point = base_mul(ec, 424242)
    for k in scalars(ec):
        cs = ConstraintSystem(curve, has_witness=True)
        bits = ephemeral_scalar_bits(cs, ec, k, "k")
        if variable:
            out = variable_base_mul(cs, ec, public_point(cs, "P", point), bits, "mul")
        else:
            out = fixed_base_mul(cs, ec, point, bits, "mul")
        assert point_value(cs, out) == mul(ec, k, point), k
        assert cs.is_satisfied()
    report = cs.audit()
    assert report.ok, report.undetermined[:3]


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5, 7])
def test_fixed_base_tail_windows(curve, width):
    ec = embedded_curve(curve)
    for k in range(1 << width):
        cs = ConstraintSystem(curve, has_witness=True)
        bits = [cs.public(f"b{i}", (k >> i) & 1) for i in range(width)]
        out = fixed_base_mul(cs, ec, ec.base, bits, "mul")
        assert point_value(cs, out) == base_mul(ec, k) and cs.is_satisfied()
    full, tail = divmod(width, WINDOW_BITS)
    lookups = 3 * full + {0: 0, 1: 0, 2: 1}[tail]
    additions = 6 * (full + (tail > 0) - 1)
    assert cs.num_constraints == lookups + additions


def test_fixed_base_lookup_is_pinned(curve):
    ec = embedded_curve(curve)
    cs = OverridingSystem(curve, {"k*B/window 1/x": 5})
    bits = ephemeral_scalar_bits(cs, ec, 123456, "k")
    fixed_base_mul(cs, ec, ec.base, bits, "k*B")
    assert_only_fails_at(cs, "k*B/window 1/x")


def test_a_non_boolean_bit_is_stopped_at_its_booleanity(curve):
    # k + l has no (m-1)-bit decomposition; "bit 0 = 1 + l" would make the bits sum to k + l
    ec = embedded_curve(curve)
    k = 1000001
    cs = OverridingSystem(curve, {"k/bit 0": 1 + ec.order})
    bits = ephemeral_scalar_bits(cs, ec, k, "k")
    variable_base_mul(cs, ec, public_point(cs, "P", base_mul(ec, 9)), bits, "k*P")
    assert_only_fails_at(cs, "k/bit 0 is boolean")


def test_canonical_scalar_bits_refuse_the_group_order_and_above(curve):
    ec = embedded_curve(curve)
    for k in (0, 1, ec.order - 1):
        cs = ConstraintSystem(curve, has_witness=True)
        bits = canonical_scalar_bits(cs, ec, cs.public("sk", k), "sk")
        out = fixed_base_mul(cs, ec, ec.base, bits, "pk")
        assert point_value(cs, out) == base_mul(ec, k) and cs.is_satisfied() and cs.audit().ok
    # sk = l + 5 names the same point as 5, but is not canonical
    cs = ConstraintSystem(curve, has_witness=True)
    canonical_scalar_bits(cs, ec, cs.public("sk", ec.order + 5), "sk")
    assert_only_fails_at(cs, "sk/below the group order")


def test_canonical_scalar_bits_refuse_a_decomposition_of_another_value(curve):
    # the bits of k + l recompose to k + l, not to k: the recomposition stops them
    ec = embedded_curve(curve)
    k = 5
    overrides = {f"sk/bits/bit {i}": ((k + ec.order) >> i) & 1 for i in range(ec.scalar_bits)}
    cs = OverridingSystem(curve, overrides)
    canonical_scalar_bits(cs, ec, cs.public("sk", k), "sk")
    labels = assert_only_fails_at(cs, "sk/bits/bits recompose the value", "sk/below the group order")
    assert "sk/bits/bits recompose the value" in labels


def test_not_identity(curve):
    ec = embedded_curve(curve)
    cs = ConstraintSystem(curve, has_witness=True)
    assert_not_identity(cs, public_point(cs, "R", base_mul(ec, 3)), "R")
    assert cs.is_satisfied()
    cs = ConstraintSystem(curve, has_witness=True)
    assert_not_identity(cs, public_point(cs, "R", IDENTITY), "R")
    assert_only_fails_at(cs, "R/x is nonzero")


def test_setup_mode_builds_the_same_shape(curve):
    ec = embedded_curve(curve)
    shapes = []
    for has_witness in (False, True):
        cs = ConstraintSystem(curve, has_witness=has_witness)
        bits = ephemeral_scalar_bits(cs, ec, 77 if has_witness else None, "k")
        point = CurvePoint(cs.public("P.x", 0 if not has_witness else base_mul(ec, 2)[0]),
                           cs.public("P.y", 1 if not has_witness else base_mul(ec, 2)[1]))
        variable_base_mul(cs, ec, point, bits, "k*P")
        fixed_base_mul(cs, ec, ec.base, bits, "k*B")
        shapes.append([c.label for c in cs.constraints])
    assert shapes[0] == shapes[1]
