"""Chaum–Pedersen and Schnorr proofs: what verifies, what does not, what is refused outright."""

from __future__ import annotations

import dataclasses

import pytest

from zkmargin.edwards import IDENTITY, add, base_mul, mul
from zkmargin.errors import MalformedInputError
from zkmargin.threshold.dleq import (
    DleqProof,
    proof_from_json,
    proof_to_json,
    prove_dleq,
    prove_knowledge,
    verify_dleq,
    verify_knowledge,
)

SECRET = 0x1234567890ABCDEF1234567890ABCDEF
RANDOMNESS = bytes(range(32))


def _statement(ec, secret=SECRET, r=987654321):
    ephemeral = base_mul(ec, r)
    return base_mul(ec, secret), ephemeral, mul(ec, secret, ephemeral)


def _order_two_point(ec):
    return (0, ec.p - 1)


def test_an_honest_proof_verifies(ec):
    vk, ephemeral, share = _statement(ec)
    proof = prove_dleq(ec, SECRET, ephemeral, context=b"request 7")
    assert verify_dleq(ec, vk, ephemeral, share, proof, context=b"request 7")


def test_a_proof_does_not_hold_for_another_statement(ec):
    vk, ephemeral, share = _statement(ec)
    proof = prove_dleq(ec, SECRET, ephemeral, context=b"c")
    other_ephemeral = base_mul(ec, 55555)
    assert not verify_dleq(ec, vk, ephemeral, add(ec, share, ec.base), proof, context=b"c")  # wrong D
    assert not verify_dleq(ec, vk, ephemeral, mul(ec, SECRET + 1, ephemeral), proof, context=b"c")
    assert not verify_dleq(ec, vk, other_ephemeral, mul(ec, SECRET, other_ephemeral), proof, context=b"c")
    assert not verify_dleq(ec, base_mul(ec, SECRET + 1), ephemeral, share, proof, context=b"c")  # other VK
    assert not verify_dleq(ec, vk, ephemeral, share, proof, context=b"d")  # other request
    assert not verify_dleq(ec, share, ephemeral, vk, proof, context=b"c")  # roles swapped


def test_a_tampered_challenge_or_response_does_not_verify(ec):
    vk, ephemeral, share = _statement(ec)
    proof = prove_dleq(ec, SECRET, ephemeral)
    for tampered in (
        dataclasses.replace(proof, challenge=(proof.challenge + 1) % ec.order),
        dataclasses.replace(proof, response=(proof.response + 1) % ec.order),
        DleqProof(proof.response, proof.challenge),
        DleqProof(0, 0),
    ):
        assert not verify_dleq(ec, vk, ephemeral, share, tampered)


def test_a_proof_for_a_wrong_share_cannot_be_made_to_verify(ec):
    """A guardian proving with its real key but returning D' = s'·R is caught."""
    vk, ephemeral, _ = _statement(ec)
    lying_share = mul(ec, SECRET + 3, ephemeral)
    proof = prove_dleq(ec, SECRET + 3, ephemeral)  # a valid proof for the other secret
    assert not verify_dleq(ec, vk, ephemeral, lying_share, proof)


def test_malformed_points_and_scalars_are_refused(ec):
    vk, ephemeral, share = _statement(ec)
    proof = prove_dleq(ec, SECRET, ephemeral)
    off_subgroup = add(ec, share, _order_two_point(ec))
    with pytest.raises(MalformedInputError, match="decryption share D: not in the prime-order subgroup"):
        verify_dleq(ec, vk, ephemeral, off_subgroup, proof)
    with pytest.raises(MalformedInputError, match="ephemeral point R: the identity"):
        verify_dleq(ec, vk, IDENTITY, IDENTITY, proof)
    with pytest.raises(MalformedInputError, match="verification key: not a point"):
        verify_dleq(ec, (vk[0], vk[1] + 1), ephemeral, share, proof)
    with pytest.raises(MalformedInputError, match="proof challenge"):
        verify_dleq(ec, vk, ephemeral, share, DleqProof(ec.order, proof.response))
    with pytest.raises(MalformedInputError, match="proof response"):
        verify_dleq(ec, vk, ephemeral, share, DleqProof(proof.challenge, -1))
    with pytest.raises(MalformedInputError, match="secret"):
        prove_dleq(ec, 0, ephemeral)
    with pytest.raises(MalformedInputError, match="secret"):
        prove_dleq(ec, ec.order, ephemeral)
    with pytest.raises(MalformedInputError, match="subgroup"):
        prove_dleq(ec, SECRET, add(ec, ephemeral, _order_two_point(ec)))
    with pytest.raises(MalformedInputError, match="randomness"):
        prove_dleq(ec, SECRET, ephemeral, randomness=b"short")


def _nonce(ec, secret, proof):
    return (proof.response - proof.challenge * secret) % ec.order


def test_nonces_are_hedged(ec):
    _, ephemeral, _ = _statement(ec)
    other = base_mul(ec, 4242)
    # same randomness and statement: the same proof (the nonce is a function of both)
    assert prove_dleq(ec, SECRET, ephemeral, randomness=RANDOMNESS) == prove_dleq(
        ec, SECRET, ephemeral, randomness=RANDOMNESS
    )
    # a repeated random value still gives a fresh nonce for another statement, context or secret
    nonces = {
        _nonce(ec, SECRET, prove_dleq(ec, SECRET, ephemeral, randomness=RANDOMNESS)),
        _nonce(ec, SECRET, prove_dleq(ec, SECRET, other, randomness=RANDOMNESS)),
        _nonce(ec, SECRET, prove_dleq(ec, SECRET, ephemeral, context=b"x", randomness=RANDOMNESS)),
        _nonce(ec, SECRET + 1, prove_dleq(ec, SECRET + 1, ephemeral, randomness=RANDOMNESS)),
    }
    assert len(nonces) == 4
    # and fresh randomness by default
    assert prove_dleq(ec, SECRET, ephemeral) != prove_dleq(ec, SECRET, ephemeral)


def test_proof_of_knowledge(ec):
    public = base_mul(ec, SECRET)
    proof = prove_knowledge(ec, SECRET, context=b"dealer 1")
    assert verify_knowledge(ec, public, proof, context=b"dealer 1")
    assert not verify_knowledge(ec, public, proof, context=b"dealer 2")
    assert not verify_knowledge(ec, base_mul(ec, SECRET + 1), proof, context=b"dealer 1")
    # a Schnorr proof is not a DLEQ proof and vice versa (separate domains)
    vk, ephemeral, _share = _statement(ec)
    dleq = prove_dleq(ec, SECRET, ephemeral, context=b"dealer 1")
    assert not verify_knowledge(ec, vk, dleq, context=b"dealer 1")


def test_proof_json(ec):
    proof = prove_knowledge(ec, SECRET)
    assert proof_from_json(ec, proof_to_json(proof), "test") == proof
    for bad, message in [
        ({"challenge": "1"}, "missing field 'response'"),
        ({"challenge": "01", "response": "1"}, "canonical decimal"),
        ({"challenge": 1, "response": "1"}, "canonical decimal"),
        ({"challenge": str(ec.order), "response": "1"}, "not below the modulus"),
        ([], "expected an object"),
    ]:
        with pytest.raises(MalformedInputError, match=message):
            proof_from_json(ec, bad, "test")
