import pytest

from tests.gadgets.helpers import build, satisfied
from zkmargin.constraints import ConstraintSystem
from zkmargin.gadgets.comparison import (
    assert_less_or_equal,
    assert_less_than,
    assert_nonnegative,
    less_or_equal,
    less_than,
)
from zkmargin.gadgets.signed import abs_value, decompose_signed, signed_input

N = 32


@pytest.mark.parametrize("a,b", [(0, 0), (0, 1), (1, 0), (5, 5), (2**N - 1, 0), (0, 2**N - 1), (2**N - 1, 2**N - 1)])
def test_less_than_and_less_or_equal(curve, a, b):
    cs, (lt, le) = build(
        curve, lambda cs, x, y: (less_than(cs, x, y, N, "lt"), less_or_equal(cs, x, y, N, "le")), a=a, b=b
    )
    assert cs.is_satisfied()
    assert (cs.value(lt), cs.value(le)) == (int(a < b), int(a <= b))


def test_less_than_result_cannot_be_flipped(curve):
    cs, lt = build(curve, lambda cs, x, y: less_than(cs, x, y, N, "lt"), a=3, b=9)
    top = cs.variable("lt/bit 32")
    cs.set_value(top, 1)  # claim 3 >= 9
    assert not cs.is_satisfied()


def test_assert_less_than_boundaries(curve):
    body = lambda cs, x, y: assert_less_than(cs, x, y, N, "a<b")  # noqa: E731
    assert satisfied(curve, body, a=4, b=5)
    assert not satisfied(curve, body, a=5, b=5)
    assert not satisfied(curve, body, a=6, b=5)


def test_assert_less_or_equal_boundaries(curve):
    body = lambda cs, x, y: assert_less_or_equal(cs, x, y, N, "a<=b")  # noqa: E731
    assert satisfied(curve, body, a=5, b=5)
    assert not satisfied(curve, body, a=6, b=5)


def test_assert_nonnegative_rejects_wrapped_negatives(curve):
    body = lambda cs, x: assert_nonnegative(cs, x, N, "x>=0")  # noqa: E731
    assert satisfied(curve, body, x=0)
    assert not satisfied(curve, body, x=-1)
    assert not satisfied(curve, body, x=2**N)


@pytest.mark.parametrize("v", [0, 1, -1, 123, -123, 2**N - 1, -(2**N)])
def test_signed_decomposition(curve, v):
    cs, s = build(curve, lambda cs, x: decompose_signed(cs, x, N, "v"), x=v)
    assert cs.is_satisfied()
    assert cs.value(s.sign) == int(v < 0)
    assert cs.value(s.abs) == abs(v)


@pytest.mark.parametrize("v", [2**N, -(2**N) - 1, 2**200, -(2**200)])
def test_signed_out_of_range_is_unsatisfiable(curve, v):
    assert not satisfied(curve, lambda cs, x: decompose_signed(cs, x, N, "v"), x=v)


def test_signed_sign_cannot_be_flipped(curve):
    # v = 5 written with sign 1 needs m = -6, which fails the magnitude range check
    cs, s = build(curve, lambda cs, x: decompose_signed(cs, x, N, "v"), x=5)
    cs.set_value(s.sign, 1)
    cs.set_value(s.offset_magnitude, -6)
    assert not cs.is_satisfied()


def test_signed_input_and_abs(curve):
    cs = ConstraintSystem(curve, has_witness=True)
    s = signed_input(cs, "size", -42, N)
    a = abs_value(cs, s.value, N, "again")
    assert cs.is_satisfied() and cs.value(a) == 42 and cs.value(s.value) == curve.r - 42


def test_comparison_width_guard(curve):
    cs = ConstraintSystem(curve, has_witness=False)
    x = cs.public("x")
    with pytest.raises(ValueError):
        less_than(cs, x, x, curve.r.bit_length() - 1, "too wide")


def test_signed_gadget_passes_audit(curve):
    cs, _ = build(curve, lambda cs, x: decompose_signed(cs, x, N, "v"), x=-7)
    assert cs.audit().ok
