"""Constraint counts of the escrow's parts, pinned (docs/protocol.md, "Escrow (draft)", has the table).

``python -m tests.gadgets.test_escrow_costs`` prints the table.
"""

from __future__ import annotations

import pytest

from zkmargin.constraints import ConstraintSystem
from zkmargin.curves import BLS12_381, BN254
from zkmargin.edwards import base_mul, embedded_curve
from zkmargin.gadgets.edwards import (
    CurvePoint,
    ephemeral_scalar_bits,
    fixed_base_mul,
    variable_base_mul,
)
from zkmargin.gadgets.escrow import escrow_gadget
from zkmargin.gadgets.poseidon_cipher import poseidon_encrypt_gadget

LENGTHS = (4, 6, 35)

# (curve, part) -> constraints
EXPECTED = {
    ("bn128", "key pair + ECDH, constant key"): 1744,
    ("bn128", "key pair + ECDH, public key"): 4236,
    ("bls12381", "key pair + ECDH, constant key"): 1747,
    ("bls12381", "key pair + ECDH, public key"): 4251,
    **{(c, f"cipher, {n} elements"): 264 * (-(-n // 3) + 1) for c in ("bn128", "bls12381") for n in LENGTHS},
}


def key_pair_and_ecdh(curve, public_key: bool) -> int:
    """R = k·B and S = k·PK from fresh bits (the whole escrow adds R != O and PK on the curve)."""
    ec = embedded_curve(curve)
    pk = base_mul(ec, 5)
    cs = ConstraintSystem(curve, has_witness=False)
    bits = ephemeral_scalar_bits(cs, ec, None, "k")
    fixed_base_mul(cs, ec, ec.base, bits, "R")
    if public_key:
        variable_base_mul(cs, ec, CurvePoint(cs.public("pk.x"), cs.public("pk.y")), bits, "S")
    else:
        fixed_base_mul(cs, ec, pk, bits, "S")
    return cs.num_constraints


def cipher(curve, length: int) -> int:
    cs = ConstraintSystem(curve, has_witness=False)
    poseidon_encrypt_gadget(cs, [cs.private(f"m{i}") for i in range(length)], (cs.private("k0"), cs.private("k1")), 0)
    return cs.num_constraints


def whole_escrow(curve, length: int, public_key: bool) -> int:
    ec = embedded_curve(curve)
    cs = ConstraintSystem(curve, has_witness=False)
    key = CurvePoint(cs.public("pk.x"), cs.public("pk.y")) if public_key else base_mul(ec, 5)
    escrow_gadget(cs, [cs.private(f"m{i}") for i in range(length)], key, None)
    return cs.num_constraints


@pytest.mark.parametrize("curve", [BN254, BLS12_381], ids=str)
def test_key_pair_and_ecdh_cost(curve):
    assert key_pair_and_ecdh(curve, False) == EXPECTED[(curve.name, "key pair + ECDH, constant key")]
    assert key_pair_and_ecdh(curve, True) == EXPECTED[(curve.name, "key pair + ECDH, public key")]
    assert key_pair_and_ecdh(curve, True) < 6240  # circomlib's BabyPbk + ECDH


@pytest.mark.parametrize("curve", [BN254, BLS12_381], ids=str)
@pytest.mark.parametrize("length", LENGTHS)
def test_cipher_cost(curve, length):
    assert cipher(curve, length) == EXPECTED[(curve.name, f"cipher, {length} elements")]
    if length <= 6:
        assert cipher(curve, length) < 1042  # circomlib-style Poseidon encryption of 4-6 elements


def main() -> None:
    print("| curve | part | constraints |")
    print("|---|---|---:|")
    for curve in (BN254, BLS12_381):
        for public_key in (False, True):
            mode = "public key (variable base)" if public_key else "constant key (fixed base)"
            print(f"| {curve.name} | ephemeral key pair + ECDH, {mode} | {key_pair_and_ecdh(curve, public_key):,} |")
        for n in LENGTHS:
            print(f"| {curve.name} | Poseidon encryption of {n} elements | {cipher(curve, n):,} |")
        for n in LENGTHS:
            for public_key in (False, True):
                mode = "public key" if public_key else "constant key"
                count = whole_escrow(curve, n, public_key)
                print(f"| {curve.name} | whole escrow of {n} elements, {mode} | {count:,} |")


if __name__ == "__main__":
    main()
