"""The exported Solidity verifier, compiled with solc-js and run in ethereumjs's in-memory EVM:
our proofs of every statement verify on chain, snarkjs's proofs verify with our contract, and
tampered proofs, out-of-range inputs and invalid points are refused (false, never a revert)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from circuits import get_circuit
from circuits.fill import ApplyFill
from circuits.settle import Settle
from circuits.state import Fill
from circuits.transfer import Transfer
from prover.bench.proof_timings import sample_margin_inputs
from tests.backends.curve_points import g2_point_outside_subgroup
from tests.circuits.helpers import EPOCH, state
from tests.evm.runner import CallResult, Contract, Evm
from tests.formats.snarkjs_vectors import mult_dir
from zkmargin.backends import get_backend
from zkmargin.curves import BN254
from zkmargin.formats.snarkjs import load_json, proof_from_json, public_from_json, vk_from_json
from zkmargin.formats.solidity import CONTRACT_NAME, calldata_words, solidity_calldata, solidity_verifier
from zkmargin.groth16 import prove, setup, verify

pytestmark = pytest.mark.evm

P, R = BN254.p, BN254.r
BACKEND = get_backend(BN254)
# EIP-197 pairing: 45000 + 34000 per pair (4 pairs); EIP-196 ecMul + ecAdd: 6150 per input;
# what is left is calldata reading, memory and the checks
PAIRING_GAS = 45_000 + 4 * 34_000
PER_INPUT_GAS = 6_000 + 150


def signature(n: int) -> str:
    return f"verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[{n}])"


@dataclass
class Deployed:
    contract: Contract
    n: int

    def call(self, evm: Evm, words: list[int]) -> CallResult:
        return evm.call(self.contract, signature(self.n), words)


def deploy(evm: Evm, vk) -> Deployed:
    source = solidity_verifier(vk, BACKEND)
    return Deployed(evm.deploy_source(source, CONTRACT_NAME), vk.num_public)


def describe(result: CallResult) -> str:
    return f"success={result.success} {result.return_data.hex()} {result.error}"


def assert_true(result: CallResult, what: str) -> None:
    assert result.returned_true, f"{what}: expected true, got {describe(result)}"


def assert_false(result: CallResult, what: str) -> None:
    # a refusal is the answer false, not a revert: callers can tell "invalid" from "broken"
    assert result.returned_false, f"{what}: expected false, got {describe(result)}"


def parse_calldata(text: str) -> list[int]:
    """The words of snarkjs's soliditycalldata text, in ABI order."""
    a, b, c, inputs = json.loads(f"[{text}]")
    return [int(w, 16) for w in (*a, *b[0], *b[1], *c, *inputs)]


def tampered_variants(words: list[int], n: int) -> list[tuple[str, list[int]]]:
    """Proof and input changes that must each make verifyProof return false."""
    ax, ay, bx1, bx0, by1, by0, cx, cy = words[:8]
    inputs = words[8:]
    outside = g2_point_outside_subgroup(BN254)
    variants = [
        ("A negated", [ax, P - ay, *words[2:]]),
        ("A and C swapped", [cx, cy, *words[2:6], ax, ay, *inputs]),
        ("B's coordinates in proof.json order (real part first)", [ax, ay, bx0, bx1, by0, by1, cx, cy, *inputs]),
        ("A at infinity", [0, 0, *words[2:]]),
        ("C at infinity", [*words[:6], 0, 0, *inputs]),
        ("B at infinity", [ax, ay, 0, 0, 0, 0, cx, cy, *inputs]),
        ("A off the curve", [ax, (ay + 1) % P, *words[2:]]),
        ("A.x not reduced below p", [ax + P, ay, *words[2:]]),
        ("C.y not reduced below p", [*words[:7], cy + P, *inputs]),
        ("B.x0 not reduced below p", [ax, ay, bx1, bx0 + P, by1, by0, cx, cy, *inputs]),
        ("B on the twist but outside the subgroup",
         [ax, ay, outside[0][1], outside[0][0], outside[1][1], outside[1][0], cx, cy, *inputs]),
    ]
    for i in range(n):
        unreduced = ((f"input {i} + 1", (inputs[i] + 1) % R), (f"input {i} + r", inputs[i] + R), (f"input {i} = r", R))
        for what, value in unreduced:
            changed = list(inputs)
            changed[i] = value
            variants.append((what, [*words[:8], *changed]))
    variants.append(("every input 2^256 - 1", [*words[:8], *([2**256 - 1] * n)]))
    return variants


# --- snarkjs's own vectors --------------------------------------------------------------------


def test_snarkjs_proofs_verify_with_our_contract(evm: Evm) -> None:
    folder = mult_dir(BN254)
    vk = vk_from_json(load_json(folder / "verification_key.json"), BACKEND)
    deployed = deploy(evm, vk)
    public = public_from_json(load_json(folder / "public.json"), BN254)
    for name in ("proof.json", "proof2.json"):
        proof = proof_from_json(load_json(folder / name), BACKEND)
        words = parse_calldata(solidity_calldata(proof, public, BACKEND))
        assert words == calldata_words(proof, public, BACKEND)
        assert_true(deployed.call(evm, words), name)
    tampered = proof_from_json(load_json(folder / "proof_tampered_neg_a.json"), BACKEND)
    assert_false(deployed.call(evm, calldata_words(tampered, public, BACKEND)), "proof_tampered_neg_a.json")
    proof = proof_from_json(load_json(folder / "proof.json"), BACKEND)
    other = public_from_json(load_json(folder / "public_tampered.json"), BN254)
    assert_false(deployed.call(evm, calldata_words(proof, other, BACKEND)), "public_tampered.json")
    # x + r: public_from_json refuses it, so the words are built from the raw file
    raw = [int(v) for v in load_json(folder / "public_noncanonical.json")]
    assert raw[0] >= R
    assert_false(deployed.call(evm, [*calldata_words(proof, public, BACKEND)[:8], *raw]), "public_noncanonical.json")


# --- our proofs of every statement ----------------------------------------------------------


def _margin():
    circuit = get_circuit("margin", markets=2)
    return circuit, sample_margin_inputs(circuit, BN254, 0)


def _transfer():
    circuit = Transfer(1)
    old = state(collateral=150, sizes=(10,), costs=(1000,))
    _, inputs = circuit.transition(old, -40, EPOCH, [100], [100_000], BN254)
    return circuit, inputs


def _fill():
    circuit = ApplyFill(1)
    old = state(collateral=1000, sizes=(0,), costs=(0,))
    _, inputs = circuit.transition(old, Fill(7, 77, 0, 5, 100, 1, 4242), EPOCH, [100], [100_000], [50_000],
                                   BN254)
    return circuit, inputs


def _settle():
    circuit = Settle(1)
    old = state(collateral=1000, sizes=(10,), costs=(1100,))
    _, _, inputs = circuit.transition(old, EPOCH, [100], BN254)
    return circuit, inputs


STATEMENTS = {
    "mult": lambda: (get_circuit("mult"), {"a": 3, "b": 11}),
    "chain": lambda: (get_circuit("chain", log2=4), {"x": 5}),
    "margin": _margin,
    "transfer": _transfer,
    "fill": _fill,
    "settle": _settle,
}

@pytest.mark.parametrize("name", list(STATEMENTS))
def test_our_proofs_verify_on_chain_and_tampering_is_refused(evm: Evm, name: str) -> None:
    circuit, inputs = STATEMENTS[name]()
    pk = setup(circuit.shape(BN254), BACKEND, insecure_test_seed=2024)
    cs = circuit.synthesize(BN254, inputs)
    public = cs.public_values()
    proof = prove(pk, cs, BACKEND)
    assert verify(pk.vk, public, proof, BACKEND)
    deployed = deploy(evm, pk.vk)
    words = calldata_words(proof, public, BACKEND)
    result = deployed.call(evm, words)
    assert_true(result, name)
    n = len(public)
    print(f"\n{name}: {n} public inputs, verifyProof {result.gas} gas (execution)")
    # the precompiles are nearly all of it: 181k for the pairings, ~6.2k per input
    assert PAIRING_GAS + n * PER_INPUT_GAS < result.gas < PAIRING_GAS + n * PER_INPUT_GAS + 6_000 + 300 * n
    for what, forged in tampered_variants(words, n):
        assert_false(deployed.call(evm, forged), f"{name}: {what}")


def test_a_second_proof_for_other_inputs_verifies_and_the_first_proof_does_not_transfer(evm: Evm) -> None:
    circuit = get_circuit("mult")
    pk = setup(circuit.shape(BN254), BACKEND, insecure_test_seed=7)
    deployed = deploy(evm, pk.vk)
    statements = []
    for a, b in ((3, 11), (5, 7)):
        cs = circuit.synthesize(BN254, {"a": a, "b": b})
        statements.append((cs.public_values(), prove(pk, cs, BACKEND)))
    (x1, proof1), (x2, proof2) = statements
    assert_true(deployed.call(evm, calldata_words(proof1, x1, BACKEND)), "first")
    assert_true(deployed.call(evm, calldata_words(proof2, x2, BACKEND)), "second")
    assert_false(deployed.call(evm, calldata_words(proof1, x2, BACKEND)), "first proof, second inputs")


def test_the_interface_is_snarkjs_s(evm: Evm) -> None:
    vk = vk_from_json(load_json(mult_dir(BN254) / "verification_key.json"), BACKEND)
    _, selectors = evm.compile(solidity_verifier(vk, BACKEND), CONTRACT_NAME)
    assert set(selectors) == {signature(vk.num_public)}


def test_the_largest_supported_key_deploys(evm: Evm) -> None:
    """MAX_PUBLIC_INPUTS inputs still fit Ethereum's contract size limit (EIP-170)."""
    from zkmargin.formats.solidity import MAX_PUBLIC_INPUTS
    from zkmargin.groth16.keys import VerifyingKey

    g, h = BACKEND.g1_generator(), BACKEND.g2_generator()
    ic = BACKEND.g1_batch_mul(g, list(range(2, MAX_PUBLIC_INPUTS + 3)))
    vk = VerifyingKey(BN254, BACKEND.g1_mul(g, 5), BACKEND.g2_mul(h, 7), h, BACKEND.g2_mul(h, 11), ic)
    deployed = deploy(evm, vk)
    assert deployed.n == MAX_PUBLIC_INPUTS
