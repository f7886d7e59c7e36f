"""The Solidity generator's refusals, checked without an EVM (tests/evm runs the contracts)."""

from __future__ import annotations

import random

import pytest

from tests.formats.snarkjs_vectors import mult_dir
from zkmargin.backends import get_backend
from zkmargin.curves import BN254
from zkmargin.errors import MalformedInputError, UnsupportedCurveError
from zkmargin.formats.snarkjs import load_json, proof_from_json, public_from_json, vk_from_json
from zkmargin.formats.solidity import MAX_PUBLIC_INPUTS, solidity_calldata, solidity_verifier
from zkmargin.groth16.keys import VerifyingKey

BN = get_backend(BN254)


def _key(num_public: int) -> VerifyingKey:
    g, h = BN.g1_generator(), BN.g2_generator()
    rng = random.Random(num_public)
    ic = BN.g1_batch_mul(g, [rng.randrange(1, BN254.r) for _ in range(num_public + 1)])
    return VerifyingKey(BN254, BN.g1_mul(g, 5), BN.g2_mul(h, 7), h, BN.g2_mul(h, 11), ic)


def test_bls12_381_keys_and_proofs_are_refused():
    folder = mult_dir("bls12381")
    vk = vk_from_json(load_json(folder / "verification_key.json"))
    with pytest.raises(UnsupportedCurveError, match="BN254"):
        solidity_verifier(vk)
    proof = proof_from_json(load_json(folder / "proof.json"))
    with pytest.raises(UnsupportedCurveError, match="BN254"):
        solidity_calldata(proof, public_from_json(load_json(folder / "public.json"), "bls12381"))


def test_the_number_of_public_inputs_is_bounded():
    assert f"uint256[{MAX_PUBLIC_INPUTS}] calldata input" in solidity_verifier(_key(MAX_PUBLIC_INPUTS), BN)
    with pytest.raises(MalformedInputError, match="EIP-170"):
        solidity_verifier(_key(MAX_PUBLIC_INPUTS + 1), BN)
    with pytest.raises(MalformedInputError, match="no public inputs"):
        solidity_verifier(_key(0), BN)


def test_calldata_refuses_public_inputs_not_below_r():
    folder = mult_dir("bn128")
    proof = proof_from_json(load_json(folder / "proof.json"), BN)
    with pytest.raises(MalformedInputError):
        solidity_calldata(proof, [BN254.r, 11], BN)
    with pytest.raises(MalformedInputError):
        solidity_calldata(proof, [-1, 11], BN)


def test_a_contract_name_must_be_an_identifier():
    with pytest.raises(MalformedInputError):
        solidity_verifier(_key(1), BN, contract_name="Verifier; selfdestruct")
    assert "contract MarginVerifier {" in solidity_verifier(_key(1), BN, contract_name="MarginVerifier")
