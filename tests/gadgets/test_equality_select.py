import pytest

from tests.gadgets.helpers import build
from zkmargin.gadgets.equality import assert_nonzero, is_equal, is_zero
from zkmargin.gadgets.select import select


@pytest.mark.parametrize("x,expected", [(0, 1), (1, 0), (5, 0), (-1, 0)])
def test_is_zero(curve, x, expected):
    cs, out = build(curve, lambda cs, v: is_zero(cs, v, "z"), x=x)
    assert cs.is_satisfied() and cs.value(out) == expected


def test_is_zero_cannot_claim_a_nonzero_value_is_zero(curve):
    cs, out = build(curve, lambda cs, v: is_zero(cs, v, "z"), x=7)
    cs.set_value(out, 1)
    for inverse in (0, 1, pow(7, -1, curve.r)):
        cs.set_value(cs.variable("z/inverse"), inverse)
        assert not cs.is_satisfied()


def test_is_zero_cannot_claim_zero_is_nonzero(curve):
    cs, out = build(curve, lambda cs, v: is_zero(cs, v, "z"), x=0)
    cs.set_value(out, 0)
    assert not cs.is_satisfied()


def test_is_equal(curve):
    cs, out = build(curve, lambda cs, a, b: is_equal(cs, a, b, "eq"), a=9, b=9)
    assert cs.is_satisfied() and cs.value(out) == 1
    cs, out = build(curve, lambda cs, a, b: is_equal(cs, a, b, "eq"), a=9, b=10)
    assert cs.is_satisfied() and cs.value(out) == 0


def test_assert_nonzero(curve):
    cs, _ = build(curve, lambda cs, v: assert_nonzero(cs, v, "x"), x=3)
    assert cs.is_satisfied()
    cs, _ = build(curve, lambda cs, v: assert_nonzero(cs, v, "x"), x=0)
    assert not cs.is_satisfied()


@pytest.mark.parametrize("cond,expected", [(1, 11), (0, 22)])
def test_select(curve, cond, expected):
    cs, out = build(curve, lambda cs, c, a, b: select(cs, c, a, b, "sel"), c=cond, a=11, b=22)
    assert cs.is_satisfied() and cs.value(out) == expected
    cs.set_value(out, 33 - expected)  # the other branch
    assert not cs.is_satisfied()


def test_gadget_circuits_pass_the_audit(curve):
    cs, _ = build(curve, lambda cs, v: is_zero(cs, v, "z"), x=3)
    report = cs.audit()
    assert report.ok and report.advice == ["z/inverse"]
