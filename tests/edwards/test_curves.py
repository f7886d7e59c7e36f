"""The embedded Edwards curves: circomlib's Baby Jubjub vectors, group laws, subgroup checks."""

import pytest

from zkmargin.edwards import (
    BABY_JUBJUB,
    IDENTITY,
    JUBJUB,
    add,
    base_mul,
    embedded_curve,
    in_subgroup,
    is_on_curve,
    mul,
    neg,
    require_subgroup_point,
)
from zkmargin.errors import MalformedInputError

# circomlib test/babyjub.js
P = (
    17777552123799933955779906779655732241715742912184938656739573121738514868268,
    2626589144620713026669568689430873010625803728049924121243784502389097019475,
)
Q = (
    16540640123574156134436876038791482806971768689494387082833631921987005038935,
    20819045374670962167435360035096875258406992893633759881276124905556507972311,
)
CIRCOMLIB_GENERATOR = (
    995203441582195749578291179787384436505546430278305826713579947235728471134,
    5472060717959818805561601436314318772137091100104008585924551046643952123905,
)


def test_circomlib_addition_and_doubling_vectors():
    assert add(BABY_JUBJUB, P, Q) == (
        7916061937171219682591368294088513039687205273691143098332585753343424131937,
        14035240266687799601661095864649209771790948434046947201833777492504781204499,
    )
    assert add(BABY_JUBJUB, P, P) == (
        6890855772600357754907169075114257697580319025794532037257385534741338397365,
        4338620300185947561074059802482547481416142213883829469920100239455078257889,
    )


def test_base_is_circomlib_base8():
    assert mul(BABY_JUBJUB, 8, CIRCOMLIB_GENERATOR) == BABY_JUBJUB.base
    assert not in_subgroup(BABY_JUBJUB, CIRCOMLIB_GENERATOR)  # order 8l


@pytest.mark.parametrize("ec", [BABY_JUBJUB, JUBJUB], ids=str)
def test_curve_parameters(ec):
    assert is_on_curve(ec, ec.base) and in_subgroup(ec, ec.base)
    assert mul(ec, ec.order, ec.base) == IDENTITY
    # the unified addition law is complete: a square, d not
    assert pow(ec.a, (ec.p - 1) // 2, ec.p) == 1
    assert pow(ec.d, (ec.p - 1) // 2, ec.p) == ec.p - 1


@pytest.mark.parametrize("ec", [BABY_JUBJUB, JUBJUB], ids=str)
def test_group_laws(ec):
    a, b = base_mul(ec, 12345), base_mul(ec, 6789)
    assert add(ec, a, b) == base_mul(ec, 12345 + 6789)
    assert add(ec, a, neg(ec, a)) == IDENTITY
    assert add(ec, a, IDENTITY) == a
    assert mul(ec, -3, a) == neg(ec, mul(ec, 3, a))
    assert mul(ec, ec.order + 5, a) == mul(ec, 5, a)


def test_embedded_curve_by_pairing_curve():
    assert embedded_curve("bn128") is BABY_JUBJUB
    assert embedded_curve("bls12381") is JUBJUB


@pytest.mark.parametrize("ec", [BABY_JUBJUB, JUBJUB], ids=str)
def test_require_subgroup_point_refuses_off_curve_and_small_order(ec):
    good = base_mul(ec, 99)
    assert require_subgroup_point(ec, [str(good[0]), str(good[1])]) == good
    with pytest.raises(MalformedInputError, match="not a point"):
        require_subgroup_point(ec, (good[0], good[1] + 1))
    # (0, -1) has order 2: on the curve, outside the subgroup
    with pytest.raises(MalformedInputError, match="subgroup"):
        require_subgroup_point(ec, (0, ec.p - 1))
    with pytest.raises(MalformedInputError, match="pair"):
        require_subgroup_point(ec, ["x", 1])
