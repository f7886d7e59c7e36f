import pytest

from tests.gadgets.helpers import build, satisfied
from zkmargin.constraints import ConstraintSystem
from zkmargin.gadgets.bits import from_bits, max_bits, range_check, to_bits
from zkmargin.gadgets.boolean import and_, assert_boolean, boolean, or_


def test_boolean_accepts_zero_and_one_only(curve):
    for value, ok in ((0, True), (1, True), (2, False), (curve.r - 1, False)):
        cs = ConstraintSystem(curve, has_witness=True)
        boolean(cs, "b", value)
        assert cs.is_satisfied() is ok, value


@pytest.mark.parametrize("a,b", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_and_or_truth_tables(curve, a, b):
    cs, (conj, disj) = build(
        curve, lambda cs, x, y: (and_(cs, x, y, "and"), or_(cs, x, y, "or")), x=a, y=b
    )
    assert cs.is_satisfied()
    assert (cs.value(conj), cs.value(disj)) == (a & b, a | b)


@pytest.mark.parametrize("n", [1, 8, 64])
def test_range_check_boundaries(curve, n):
    body = lambda cs, x: range_check(cs, x, n, "x")  # noqa: E731
    assert satisfied(curve, body, x=0)
    assert satisfied(curve, body, x=(1 << n) - 1)
    assert not satisfied(curve, body, x=1 << n)  # one past the bound
    assert not satisfied(curve, body, x=curve.r - 1)  # -1 wrapped around the field


def test_wrapped_negative_has_no_bit_decomposition(curve):
    # whatever bits a cheater picks, n booleans recompose to at most 2^n - 1 < r - 1
    cs, bits = build(curve, lambda cs, x: to_bits(cs, x, 16, "x"), x=curve.r - 1)
    for b in bits:
        cs.set_value(b, 1)
    label = cs.first_unsatisfied()[1]
    assert "recompose" in label


def test_non_boolean_bit_is_caught(curve):
    # x = 3 as bits (3, 0): recomposes correctly but bit 0 is not boolean
    cs, bits = build(curve, lambda cs, x: to_bits(cs, x, 2, "x"), x=3)
    cs.set_value(bits[0], 3)
    cs.set_value(bits[1], 0)
    assert "bit 0 is boolean" in cs.first_unsatisfied()[1]


def test_from_bits_round_trip(curve):
    cs, bits = build(curve, lambda cs, x: to_bits(cs, x, 10, "x"), x=777)
    assert cs.value(from_bits(bits)) == 777


def test_bit_width_guard(curve):
    cs = ConstraintSystem(curve, has_witness=False)
    x = cs.public("x")
    with pytest.raises(ValueError):
        to_bits(cs, x, max_bits(cs) + 1, "x")  # 2^n >= r: decomposition no longer unique
    with pytest.raises(ValueError):
        to_bits(cs, x, 0, "x")


def test_assert_boolean_shape_is_recognised_by_audit(curve):
    cs = ConstraintSystem(curve, has_witness=False)
    x = cs.public("x")
    to_bits(cs, x, 8, "x")
    assert cs.audit().ok
    # without the booleanity constraints, the bits are not pinned by the recomposition
    cs2 = ConstraintSystem(curve, has_witness=False)
    x2 = cs2.public("x")
    bits = [cs2.private(f"bit {i}") for i in range(8)]
    cs2.enforce_equal(from_bits(bits), x2, "recompose")
    assert_boolean(cs2, bits[0], "bit 0")
    report = cs2.audit()
    assert not report.ok and len(report.undetermined) == 8
