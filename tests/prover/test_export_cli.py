"""`zkmargin groth16 export solidity|calldata` as a user runs them: files, output, exit codes."""

from __future__ import annotations

import json

from tests.formats.snarkjs_vectors import mult_dir
from tests.prover.test_cli import run
from zkmargin.curves import BN254
from zkmargin.formats.snarkjs import load_json, proof_from_json, public_from_json
from zkmargin.formats.solidity import calldata_words

BN = mult_dir("bn128")
BLS = mult_dir("bls12381")


def test_export_solidity_writes_a_verifier_with_snarkjs_s_interface(tmp_path):
    out = tmp_path / "verifier.sol"
    result = run("groth16", "export", "solidity", BN / "verification_key.json", out)
    assert result.returncode == 0, result.stderr
    source = out.read_text()
    n = load_json(BN / "verification_key.json")["nPublic"]
    assert "contract Groth16Verifier" in source
    assert f"uint256[{n}] calldata input" in source
    assert "function verifyProof(" in source
    # every key constant is written in full, and the G2 points imaginary part first (EIP-197)
    beta = load_json(BN / "verification_key.json")["vk_beta_2"]
    assert f"BETA_X_IM = {beta[0][1]};" in source and f"BETA_X_RE = {beta[0][0]};" in source


def test_export_solidity_uses_the_default_file_names(tmp_path):
    (tmp_path / "verification_key.json").write_text((BN / "verification_key.json").read_text())
    result = run("groth16", "export", "solidity", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "verifyProof" in (tmp_path / "verifier.sol").read_text()


def test_export_solidity_refuses_a_bls12_381_key(tmp_path):
    out = tmp_path / "verifier.sol"
    result = run("groth16", "export", "solidity", BLS / "verification_key.json", out)
    assert result.returncode == 2
    assert "bls12381" in result.stderr and "BN254" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_export_calldata_prints_verify_proof_s_arguments():
    result = run("groth16", "export", "calldata", BN / "public.json", BN / "proof.json")
    assert result.returncode == 0, result.stderr
    a, b, c, inputs = json.loads(f"[{result.stdout.strip()}]")
    words = [int(w, 16) for w in (*a, *b[0], *b[1], *c, *inputs)]
    proof = proof_from_json(load_json(BN / "proof.json"), curve=BN254)
    public = public_from_json(load_json(BN / "public.json"), BN254)
    assert words == calldata_words(proof, public)
    raw = load_json(BN / "proof.json")
    assert b[0] == [f"0x{int(raw['pi_b'][0][1]):064x}", f"0x{int(raw['pi_b'][0][0]):064x}"]
    assert inputs == [f"0x{int(x):064x}" for x in load_json(BN / "public.json")]


def test_export_calldata_refuses_bad_input():
    bls = run("groth16", "export", "calldata", BLS / "public.json", BLS / "proof.json")
    assert bls.returncode == 2 and "BN254" in bls.stderr
    noncanonical = run("groth16", "export", "calldata", BN / "public_noncanonical.json", BN / "proof.json")
    assert noncanonical.returncode == 2 and "Traceback" not in noncanonical.stderr
    missing = run("groth16", "export", "calldata", BN / "no-such-public.json", BN / "proof.json")
    assert missing.returncode == 2
