"""snarkjs 0.7.6 accepts the keys and proofs zkmargin makes, and rejects them once tampered."""

import json

import pytest

from circuits import get_circuit
from zkmargin.backends import get_backend
from zkmargin.formats.snarkjs import dump_json, proof_to_json, public_to_json, vk_to_json
from zkmargin.groth16 import prove, setup


@pytest.mark.parametrize("curve_name", ["bls12381", "bn128"])
def test_snarkjs_verifies_our_mult_proof(snarkjs, tmp_path, curve_name):
    backend = get_backend(curve_name)
    circuit = get_circuit("mult")
    pk = setup(circuit.shape(curve_name), backend)
    cs = circuit.synthesize(curve_name, {"a": 3, "b": 11})
    proof = prove(pk, cs, backend)
    vk_path, public_path, proof_path = (tmp_path / n for n in ("vk.json", "public.json", "proof.json"))
    dump_json(vk_to_json(pk.vk, backend), vk_path)
    dump_json(public_to_json(cs.public_values()), public_path)
    dump_json(proof_to_json(proof, backend), proof_path)
    assert snarkjs.verify(vk_path, public_path, proof_path) is True

    public_path.write_text(json.dumps(["34", "11"]))
    assert snarkjs.verify(vk_path, public_path, proof_path) is False

    dump_json(public_to_json(cs.public_values()), public_path)
    tampered = proof_to_json(proof, backend)
    tampered["pi_a"], tampered["pi_c"] = tampered["pi_c"], tampered["pi_a"]
    dump_json(tampered, proof_path)
    assert snarkjs.verify(vk_path, public_path, proof_path) is False
