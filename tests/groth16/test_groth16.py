"""Groth16 end to end: completeness, soundness against tampering, input validation, batching."""

import pytest

from circuits import get_circuit
from zkmargin.backends import get_backend
from zkmargin.errors import KeyFileError, MalformedInputError, UnsatisfiedError
from zkmargin.groth16 import Proof, batch_verify, prove, setup, verify
from zkmargin.groth16.qap import qap_shape

MULT = get_circuit("mult")


@pytest.fixture(scope="module")
def keys():
    """Seeded (test-only) keys for `mult` on both curves, with the default backend."""
    out = {}
    for name in ("bls12381", "bn128"):
        backend = get_backend(name)
        out[name] = (setup(MULT.shape(name), backend, insecure_test_seed=7), backend)
    return out


def _prove_mult(pk, backend, a=3, b=11):
    cs = MULT.synthesize(pk.curve, {"a": a, "b": b})
    return cs.public_values(), prove(pk, cs, backend)


@pytest.fixture(params=["bls12381", "bn128"])
def mult(request, keys):
    pk, backend = keys[request.param]
    inputs, proof = _prove_mult(pk, backend)
    return pk, backend, inputs, proof


def test_valid_proof_verifies_and_public_order_matches_snarkjs(mult):
    pk, backend, inputs, proof = mult
    assert inputs == [33, 11]  # [c, b]: outputs first, as snarkjs
    assert verify(pk.vk, inputs, proof, backend)


def test_fresh_randomness_per_proof(mult):
    pk, backend, inputs, proof = mult
    _, again = _prove_mult(pk, backend)
    assert not backend.g1_eq(proof.a_g1, again.a_g1)
    assert verify(pk.vk, inputs, again, backend)


def test_tampered_public_input_is_rejected(mult):
    pk, backend, inputs, proof = mult
    assert not verify(pk.vk, [inputs[0] + 1, inputs[1]], proof, backend)
    assert not verify(pk.vk, [inputs[0], inputs[1] + 1], proof, backend)


def test_tampered_proof_points_are_rejected(mult):
    pk, backend, inputs, proof = mult
    g1 = backend.g1_generator()
    for forged in (
        Proof(proof.curve, backend.g1_neg(proof.a_g1), proof.b_g2, proof.c_g1),
        Proof(proof.curve, proof.a_g1, proof.b_g2, backend.g1_add(proof.c_g1, g1)),
        Proof(proof.curve, proof.a_g1, backend.g2_neg(proof.b_g2), proof.c_g1),
        Proof(proof.curve, proof.c_g1, proof.b_g2, proof.a_g1),
    ):
        assert not verify(pk.vk, inputs, forged, backend)


def test_unreduced_public_input_is_an_error_not_a_reduction(mult):
    pk, backend, inputs, proof = mult
    with pytest.raises(MalformedInputError, match="not below"):
        verify(pk.vk, [inputs[0] + pk.curve.r, inputs[1]], proof, backend)
    with pytest.raises(MalformedInputError):
        verify(pk.vk, [-1, inputs[1]], proof, backend)


def test_wrong_number_of_public_inputs_is_an_error(mult):
    pk, backend, inputs, proof = mult
    with pytest.raises(MalformedInputError, match="expected 2 public inputs"):
        verify(pk.vk, inputs[:1], proof, backend)
    with pytest.raises(MalformedInputError):
        verify(pk.vk, [*inputs, 0], proof, backend)


def test_point_at_infinity_is_an_error(mult):
    pk, backend, inputs, proof = mult
    for forged in (
        Proof(proof.curve, backend.g1_identity(), proof.b_g2, proof.c_g1),
        Proof(proof.curve, proof.a_g1, backend.g2_identity(), proof.c_g1),
        Proof(proof.curve, proof.a_g1, proof.b_g2, backend.g1_identity()),
    ):
        with pytest.raises(MalformedInputError, match="infinity"):
            verify(pk.vk, inputs, forged, backend)


def test_proof_for_one_key_fails_under_another(keys):
    pk, backend = keys["bls12381"]
    other = setup(MULT.shape("bls12381"), backend, insecure_test_seed=8)
    inputs, proof = _prove_mult(pk, backend)
    assert not verify(other.vk, inputs, proof, backend)


def test_unsatisfied_witness_is_named_before_any_proving_work(keys):
    pk, backend = keys["bls12381"]
    cs = MULT.synthesize("bls12381", {"a": 3, "b": 11})
    cs.set_value(cs.variable("c"), 34)
    with pytest.raises(UnsatisfiedError, match="c = a \\* b"):
        prove(pk, cs, backend)


def test_key_for_another_circuit_is_refused(keys):
    pk, backend = keys["bls12381"]
    chain = get_circuit("chain", log2=3)
    cs = chain.synthesize("bls12381", {"x": 5})
    with pytest.raises(KeyFileError, match="different circuit"):
        prove(pk, cs, backend)


def test_batch_verification_finds_the_invalid_proofs(mult):
    pk, backend, _, _ = mult
    statements = [_prove_mult(pk, backend, a=i + 2, b=i + 5) for i in range(6)]
    assert batch_verify(pk.vk, statements, backend) == [True] * 6
    bad = list(statements)
    bad[1] = ([statements[1][0][0] + 1, statements[1][0][1]], statements[1][1])
    bad[4] = (statements[4][0], statements[0][1])
    assert batch_verify(pk.vk, bad, backend) == [True, False, True, True, False, True]
    assert batch_verify(pk.vk, [], backend) == []


def test_batch_verification_rejects_malformed_statements(mult):
    pk, backend, inputs, proof = mult
    with pytest.raises(MalformedInputError, match="statement 1"):
        batch_verify(pk.vk, [(inputs, proof), ([inputs[0] + pk.curve.r, inputs[1]], proof)], backend)


@pytest.mark.parametrize("log2", [2, 3, 6])
def test_chain_fills_its_domain_exactly(curve, log2):
    shape = qap_shape(get_circuit("chain", log2=log2).synthesize(curve))
    assert shape.domain_size == 1 << log2
    assert shape.num_constraints + shape.num_public + 1 == 1 << log2


def test_chain_proves_and_verifies(curve):
    backend = get_backend(curve)
    chain = get_circuit("chain", log2=5)
    pk = setup(chain.shape(curve), backend, insecure_test_seed=1)
    cs = chain.synthesize(curve, {"x": 7})
    proof = prove(pk, cs, backend)
    assert verify(pk.vk, cs.public_values(), proof, backend)
    assert not verify(pk.vk, [(cs.public_values()[0] + 1) % curve.r], proof, backend)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_batch_verdicts_do_not_depend_on_the_number_of_threads(mult, workers):
    pk, backend, _, _ = mult
    statements = [_prove_mult(pk, backend, a=i + 2, b=3) for i in range(5)]
    statements[3] = ([statements[3][0][0] + 1, statements[3][0][1]], statements[3][1])
    assert batch_verify(pk.vk, statements, backend, workers=workers) == [True, True, True, False, True]
    bad = list(statements)
    bad[4] = ([pk.curve.r, 3], statements[4][1])
    with pytest.raises(MalformedInputError, match="statement 4"):
        batch_verify(pk.vk, bad, backend, workers=workers)


@pytest.mark.parametrize("processes", ["1", "2"])
def test_bn254_prover_splits_its_msms_between_two_processes(monkeypatch, processes):
    """A backend that holds the GIL proves on two processes (halves of every MSM) when the
    circuit is large enough; one process when told so. Both proofs verify and are bound to
    their statement."""
    import os

    from zkmargin.groth16 import PhaseTimer
    from zkmargin.groth16.msm import FORK_ENV

    if processes == "2" and len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: the prover never forks")
    monkeypatch.setenv(FORK_ENV, processes)
    backend = get_backend("bn128")
    circuit = get_circuit("chain", log2=9)
    pk = setup(circuit.shape("bn128"), backend, insecure_test_seed=11)
    cs = circuit.synthesize("bn128", {"x": 7})
    timer = PhaseTimer()
    proof = prove(pk, cs, backend, timer=timer)
    assert ("msm wait for second process" in timer.seconds) is (processes == "2")
    public = cs.public_values()
    assert verify(pk.vk, public, proof, backend)
    assert not verify(pk.vk, [(public[0] + 1) % pk.curve.r, *public[1:]], proof, backend)


def test_bn254_prover_survives_a_failed_second_process(monkeypatch):
    """If the forked child fails, the parent computes the second halves itself."""
    import os

    import zkmargin.groth16.msm as msm_module
    from zkmargin.groth16 import PhaseTimer

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: the prover never forks")

    def broken_child(backend, jobs, conn):
        conn.close()
        os._exit(3)  # dies without an answer

    monkeypatch.setenv(msm_module.FORK_ENV, "2")
    monkeypatch.setattr(msm_module, "_msm_halves_in_child", broken_child)
    backend = get_backend("bn128")
    circuit = get_circuit("chain", log2=9)
    pk = setup(circuit.shape("bn128"), backend, insecure_test_seed=12)
    cs = circuit.synthesize("bn128", {"x": 9})
    timer = PhaseTimer()
    proof = prove(pk, cs, backend, timer=timer)
    assert "msm second halves (child failed)" in timer.seconds
    assert verify(pk.vk, cs.public_values(), proof, backend)
