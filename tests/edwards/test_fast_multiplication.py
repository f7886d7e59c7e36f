"""The fixed-base table and the two-point multiplication agree with the double-and-add ladder."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkmargin.edwards import BABY_JUBJUB, IDENTITY, JUBJUB, add, base_mul, double_mul, mul

CURVES = [BABY_JUBJUB, JUBJUB]


@pytest.mark.parametrize("ec", CURVES, ids=str)
def test_base_mul_edge_scalars(ec):
    for scalar in (0, 1, 2, 15, 16, 17, ec.order - 1, ec.order, ec.order + 1, -1, 2**ec.scalar_bits - 1):
        assert base_mul(ec, scalar) == mul(ec, scalar, ec.base), scalar
    assert base_mul(ec, ec.order) == IDENTITY


@pytest.mark.parametrize("ec", CURVES, ids=str)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_base_mul_matches_the_ladder(ec, data):
    scalar = data.draw(st.integers(min_value=-(2**260), max_value=2**260))
    assert base_mul(ec, scalar) == mul(ec, scalar, ec.base)


@pytest.mark.parametrize("ec", CURVES, ids=str)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_double_mul_is_the_sum_of_two_products(ec, data):
    a = data.draw(st.integers(min_value=-ec.order, max_value=ec.order))
    b = data.draw(st.integers(min_value=-ec.order, max_value=ec.order))
    p1, p2 = base_mul(ec, 1234567), base_mul(ec, 89)
    assert double_mul(ec, a, p1, b, p2) == add(ec, mul(ec, a, p1), mul(ec, b, p2))


@pytest.mark.parametrize("ec", CURVES, ids=str)
def test_double_mul_with_zero_and_equal_points(ec):
    p = base_mul(ec, 5)
    assert double_mul(ec, 0, p, 0, p) == IDENTITY
    assert double_mul(ec, 3, p, 4, p) == mul(ec, 7, p)
    assert double_mul(ec, 3, p, -3, p) == IDENTITY
