"""The native and pure-Python backends agree with the py_ecc reference on whole proofs."""

import pytest

from circuits import get_circuit
from zkmargin.backends import get_backend
from zkmargin.groth16 import Proof, prove, setup, verify

MULT = get_circuit("mult")


def _convert_proof(proof, src, dst):
    return Proof(
        proof.curve,
        dst.g1_from_affine(src.g1_to_affine(proof.a_g1)),
        dst.g2_from_affine(src.g2_to_affine(proof.b_g2)),
        dst.g1_from_affine(src.g1_to_affine(proof.c_g1)),
    )


@pytest.mark.parametrize("curve_name", ["bls12381", "bn128"])
def test_same_seed_gives_the_same_keys_on_fast_and_reference_backends(curve_name):
    fast, ref = get_backend(curve_name), get_backend(curve_name, "py_ecc")
    shape = MULT.shape(curve_name)
    pk_fast = setup(shape, fast, insecure_test_seed=3)
    pk_ref = setup(shape, ref, insecure_test_seed=3)
    assert [fast.g1_to_affine(p) for p in pk_fast.a_query_g1] == [ref.g1_to_affine(p) for p in pk_ref.a_query_g1]
    assert [fast.g2_to_affine(p) for p in pk_fast.b_query_g2] == [ref.g2_to_affine(p) for p in pk_ref.b_query_g2]
    assert [fast.g1_to_affine(p) for p in pk_fast.h_query_g1] == [ref.g1_to_affine(p) for p in pk_ref.h_query_g1]
    assert [fast.g1_to_affine(p) for p in pk_fast.vk.gamma_abc_g1] == [
        ref.g1_to_affine(p) for p in pk_ref.vk.gamma_abc_g1
    ]
    # a proof made on the fast backend verifies on the reference, and vice versa
    cs = MULT.synthesize(curve_name, {"a": 5, "b": 7})
    proof_fast = prove(pk_fast, cs, fast)
    assert verify(pk_ref.vk, cs.public_values(), _convert_proof(proof_fast, fast, ref), ref)
    proof_ref = prove(pk_ref, cs, ref)
    assert verify(pk_fast.vk, cs.public_values(), _convert_proof(proof_ref, ref, fast), fast)
    assert not verify(pk_ref.vk, [36, 7], _convert_proof(proof_fast, fast, ref), ref)
