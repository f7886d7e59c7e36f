"""Groth16, split by phase: QAP reduction, setup, prover, verifier."""

from zkmargin.groth16.keys import PreparedVerifyingKey, Proof, ProvingKey, VerifyingKey
from zkmargin.groth16.prover import PhaseTimer, prove
from zkmargin.groth16.qap import QAPShape, qap_shape
from zkmargin.groth16.setup import setup
from zkmargin.groth16.verifier import batch_verify, prepare_verifying_key, verify

__all__ = [
    "PhaseTimer",
    "PreparedVerifyingKey",
    "Proof",
    "ProvingKey",
    "QAPShape",
    "VerifyingKey",
    "batch_verify",
    "prepare_verifying_key",
    "prove",
    "qap_shape",
    "setup",
    "verify",
]
