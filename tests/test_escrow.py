"""Native escrow: seal and open on both curves, the JSON codec's validation, the digest."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from zkmargin.edwards import IDENTITY, add, base_mul, embedded_curve, mul
from zkmargin.errors import MalformedInputError
from zkmargin.escrow import (
    Escrow,
    new_ephemeral_scalar,
    open_with_secret_key,
    open_with_shared_point,
    seal,
    shared_point,
)


def key_pair(curve, seed=1):
    ec = embedded_curve(curve)
    sk = random.Random(seed).randrange(1, ec.order)
    return sk, base_mul(ec, sk)


def values(curve, count, seed=0):
    rng = random.Random(seed)
    return [rng.randrange(curve.r) for _ in range(count)]


@pytest.mark.parametrize("count", [1, 4, 6, 35])
def test_seal_and_open(curve, count):
    sk, pk = key_pair(curve)
    sealed = values(curve, count, seed=count)
    escrow = seal(sealed, pk, curve)
    assert open_with_secret_key(escrow, sk) == sealed
    ec = embedded_curve(curve)
    assert shared_point(escrow, sk) == mul(ec, sk, escrow.ephemeral_key)
    assert open_with_shared_point(escrow, [str(c) for c in shared_point(escrow, sk)]) == sealed


def test_the_shared_point_is_k_times_the_public_key(curve):
    ec = embedded_curve(curve)
    _, pk = key_pair(curve)
    escrow = seal([1, 2, 3], pk, curve, ephemeral_scalar=987654321)
    assert escrow.ephemeral_key == base_mul(ec, 987654321)
    assert open_with_shared_point(escrow, mul(ec, 987654321, pk)) == [1, 2, 3]


def test_fresh_ephemeral_scalars(curve):
    ec = embedded_curve(curve)
    drawn = {new_ephemeral_scalar(ec) for _ in range(50)}
    assert len(drawn) == 50 and all(1 <= k < 1 << (ec.scalar_bits - 1) for k in drawn)
    _, pk = key_pair(curve)
    assert seal([5], pk, curve).ephemeral_key != seal([5], pk, curve).ephemeral_key


def test_opening_refuses_another_key_and_a_bad_shared_point(curve):
    ec = embedded_curve(curve)
    sk, pk = key_pair(curve)
    escrow = seal([10, 20], pk, curve)
    with pytest.raises(MalformedInputError, match="authentication tag"):
        open_with_secret_key(escrow, sk + 1)
    good = shared_point(escrow, sk)
    with pytest.raises(MalformedInputError, match="subgroup"):
        open_with_shared_point(escrow, add(ec, good, (0, ec.p - 1)))  # plus a point of order 2
    with pytest.raises(MalformedInputError, match="not a point"):
        open_with_shared_point(escrow, (good[0], good[1] + 1))


def test_opening_refuses_a_changed_escrow(curve):
    sk, pk = key_pair(curve)
    escrow = seal([10, 20, 30, 40], pk, curve)
    changed = [
        replace(escrow, tag=(escrow.tag + 1) % curve.r),
        replace(escrow, ciphertext=((escrow.ciphertext[0] + 1) % curve.r, *escrow.ciphertext[1:])),
        replace(escrow, nonce=1),
        replace(escrow, length=5),
    ]
    for other in changed:
        with pytest.raises(MalformedInputError, match="authentication tag"):
            open_with_secret_key(other, sk)


def test_seal_refuses_bad_keys_and_values(curve):
    ec = embedded_curve(curve)
    _, pk = key_pair(curve)
    with pytest.raises(MalformedInputError, match="identity"):
        seal([1], IDENTITY, curve)
    with pytest.raises(MalformedInputError, match="subgroup"):
        seal([1], (0, ec.p - 1), curve)
    with pytest.raises(MalformedInputError, match="below the scalar field modulus"):
        seal([curve.r], pk, curve)
    with pytest.raises(MalformedInputError, match="1..1024 values"):
        seal([], pk, curve)
    with pytest.raises(MalformedInputError, match="ephemeral scalar"):
        seal([1], pk, curve, ephemeral_scalar=0)


def test_json_round_trip(curve):
    _, pk = key_pair(curve)
    escrow = seal(values(curve, 7), pk, curve, nonce=12345)
    document = escrow.to_json()
    assert all(isinstance(c, str) for c in [*document["ephemeral_key"], *document["ciphertext"], document["tag"]])
    assert Escrow.from_json(document, curve) == escrow
    assert Escrow.from_json(document).digest() == escrow.digest()


def edited(document, **fields):
    return {**document, **fields}


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda d, c, ec: edited(d, ephemeral_key=[d["ephemeral_key"][0], str(int(d["ephemeral_key"][1]) + 1)]),
         "not a point"),
        (lambda d, c, ec: edited(d, ephemeral_key=["0", str(ec.p - 1)]), "subgroup"),
        (lambda d, c, ec: edited(d, ephemeral_key=["0", "1"]), "identity"),
        (lambda d, c, ec: edited(d, tag=str(c.r)), "below the scalar field modulus"),
        (lambda d, c, ec: edited(d, tag=str(int(d["tag"]) + c.r)), "below the scalar field modulus"),
        (lambda d, c, ec: edited(d, tag="0" + d["tag"]), "canonical decimal"),
        (lambda d, c, ec: edited(d, tag="-1"), "canonical decimal"),
        (lambda d, c, ec: edited(d, tag=" 1"), "canonical decimal"),
        (lambda d, c, ec: edited(d, tag=int(d["tag"])), "expected a string"),
        (lambda d, c, ec: edited(d, ciphertext=d["ciphertext"][:-1]), "expected 6 elements"),
        (lambda d, c, ec: edited(d, length=7), "expected 9 elements"),
        (lambda d, c, ec: edited(d, length=0), "1..1024 values"),
        (lambda d, c, ec: edited(d, length=True), "expected an integer"),
        (lambda d, c, ec: edited(d, nonce=str(1 << 128)), "nonce"),
        (lambda d, c, ec: edited(d, extra="1"), "exactly the fields"),
        (lambda d, c, ec: {k: v for k, v in d.items() if k != "tag"}, "exactly the fields"),
        (lambda d, c, ec: edited(d, curve="secp256k1"), "unknown curve"),
    ],
)
def test_json_refuses_malformed_escrows(curve, edit, message):
    ec = embedded_curve(curve)
    _, pk = key_pair(curve)
    document = seal(values(curve, 5), pk, curve).to_json()
    with pytest.raises(Exception, match=message) as caught:
        Escrow.from_json(edit(document, curve, ec), curve)
    assert isinstance(caught.value, ValueError)  # MalformedInputError / UnknownCurveError


def test_json_refuses_an_escrow_of_the_other_curve():
    _, pk = key_pair("bn128")
    document = seal([1, 2], pk, "bn128").to_json()
    with pytest.raises(MalformedInputError, match="expected bls12381"):
        Escrow.from_json(document, "bls12381")


def test_the_digest_binds_every_field(curve):
    _, pk = key_pair(curve)
    escrow = seal(values(curve, 4), pk, curve)
    ec = embedded_curve(curve)
    variants = [
        replace(escrow, ephemeral_key=base_mul(ec, 3)),
        replace(escrow, nonce=1),
        replace(escrow, length=5),
        replace(escrow, ciphertext=(*escrow.ciphertext[:-1], (escrow.ciphertext[-1] + 1) % curve.r)),
        replace(escrow, tag=(escrow.tag + 1) % curve.r),
    ]
    digests = {escrow.digest(), *(v.digest() for v in variants)}
    assert len(digests) == 1 + len(variants)
