"""A prepared verifying key (e(alpha, beta) computed once) gives the same verdicts as the plain
key, on valid and invalid proofs, on every backend, and the same as the py_ecc reference."""

from __future__ import annotations

import pytest

from circuits import get_circuit
from zkmargin.backends import get_backend
from zkmargin.errors import MalformedInputError, ZkMarginError
from zkmargin.groth16 import Proof, batch_verify, prepare_verifying_key, prove, setup, verify
from zkmargin.groth16.keys import VerifyingKey

MULT = get_circuit("mult")
SEED = 11
BACKENDS = [
    pytest.param(("bls12381", "arkworks"), id="bls12381-arkworks"),
    pytest.param(("bn128", "garaga"), id="bn128-garaga"),
    pytest.param(("bls12381", "py_ecc"), id="bls12381-py_ecc", marks=pytest.mark.slow),
    pytest.param(("bn128", "py_ecc"), id="bn128-py_ecc", marks=pytest.mark.slow),
]


def _statements(curve: str, backend_name: str):
    """An honest statement and tampered ones, each with the verdict it must get."""
    backend = get_backend(curve, backend_name)
    pk = setup(MULT.shape(curve), backend, insecure_test_seed=SEED)
    cs = MULT.synthesize(curve, {"a": 5, "b": 7})
    inputs, proof = cs.public_values(), prove(pk, cs, backend)
    g1 = backend.g1_generator()
    cases = {
        "honest": (inputs, proof, True),
        "another output": ([inputs[0] + 1, inputs[1]], proof, False),
        "A negated": (inputs, Proof(proof.curve, backend.g1_neg(proof.a_g1), proof.b_g2, proof.c_g1), False),
        "C moved": (inputs, Proof(proof.curve, proof.a_g1, proof.b_g2, backend.g1_add(proof.c_g1, g1)), False),
        "A and C swapped": (inputs, Proof(proof.curve, proof.c_g1, proof.b_g2, proof.a_g1), False),
    }
    return pk.vk, backend, cases


@pytest.fixture(scope="module", params=BACKENDS)
def statements(request):
    curve, backend_name = request.param
    return _statements(curve, backend_name)


def test_prepared_and_plain_keys_agree(statements):
    vk, backend, cases = statements
    prepared = prepare_verifying_key(vk, backend)
    for name, (inputs, proof, expected) in cases.items():
        assert verify(vk, inputs, proof, backend) is expected, name
        assert verify(prepared, inputs, proof) is expected, name


def test_prepared_key_verifies_with_three_pairs_and_no_alpha_beta(statements, monkeypatch):
    vk, backend, cases = statements
    prepared = prepare_verifying_key(vk, backend)
    calls = []
    monkeypatch.setattr(backend, "pairing_product", lambda g1s, g2s: calls.append(len(g1s)) or prepared.alpha_beta)
    monkeypatch.setattr(backend, "pairing_check", lambda *_: pytest.fail("a prepared key runs no four-pair check"))
    inputs, proof, _ = cases["honest"]
    assert verify(prepared, inputs, proof)
    assert calls == [3]


def test_prepared_key_in_batches(statements):
    vk, backend, cases = statements
    prepared = prepare_verifying_key(vk, backend)
    batch = [(inputs, proof) for inputs, proof, _ in cases.values()]
    expected = [verdict for _, _, verdict in cases.values()]
    assert batch_verify(prepared, batch, workers=1) == expected
    assert batch_verify(prepared, batch[:1] * 3, workers=1) == [True] * 3


def test_prepared_key_still_validates_inputs(statements):
    vk, backend, cases = statements
    prepared = prepare_verifying_key(vk, backend)
    inputs, proof, _ = cases["honest"]
    with pytest.raises(MalformedInputError, match=r"not in \[0, r\)"):
        verify(prepared, [inputs[0] + vk.curve.r, inputs[1]], proof)
    with pytest.raises(MalformedInputError, match="expected 2 public inputs"):
        verify(prepared, inputs[:1], proof)
    infinity = Proof(proof.curve, backend.g1_identity(), proof.b_g2, proof.c_g1)
    with pytest.raises(MalformedInputError, match="point at infinity"):
        verify(prepared, inputs, infinity)


def test_a_prepared_key_belongs_to_its_backend():
    vk, backend, cases = _statements("bls12381", "arkworks")
    prepared = prepare_verifying_key(vk, backend)
    inputs, proof, _ = cases["honest"]
    with pytest.raises(ZkMarginError, match="prepared for"):
        verify(prepared, inputs, proof, get_backend("bls12381", "py_ecc"))


def _to_reference(vk: VerifyingKey, proof: Proof, src, ref) -> tuple[VerifyingKey, Proof]:
    def g1(point):
        return ref.g1_from_affine(src.g1_to_affine(point))

    def g2(point):
        return ref.g2_from_affine(src.g2_to_affine(point))

    ref_vk = VerifyingKey(vk.curve, g1(vk.alpha_g1), g2(vk.beta_g2), g2(vk.gamma_g2), g2(vk.delta_g2),
                          [g1(p) for p in vk.gamma_abc_g1])
    return ref_vk, Proof(proof.curve, g1(proof.a_g1), g2(proof.b_g2), g1(proof.c_g1))


@pytest.mark.slow
@pytest.mark.parametrize("curve, backend_name", [("bls12381", "arkworks"), ("bn128", "garaga")])
def test_native_prepared_verdicts_match_py_ecc(curve, backend_name):
    vk, backend, cases = _statements(curve, backend_name)
    ref = get_backend(curve, "py_ecc")
    prepared = prepare_verifying_key(vk, backend)
    for name in ("honest", "another output", "C moved"):
        inputs, proof, expected = cases[name]
        ref_vk, ref_proof = _to_reference(vk, proof, backend, ref)
        assert verify(prepared, inputs, proof) is expected, name
        assert verify(prepare_verifying_key(ref_vk, ref), inputs, ref_proof) is expected, name
        assert verify(ref_vk, inputs, ref_proof, ref) is expected, name
