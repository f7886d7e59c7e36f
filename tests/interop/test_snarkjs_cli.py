"""The real snarkjs 0.7.6 agrees with the reference vectors and accepts the files we write."""

from __future__ import annotations

import pytest

from tests.formats.snarkjs_vectors import CURVE_NAMES, backend_for, manifest_cases, mult_dir
from prover.snarkjs import SnarkjsError
from zkmargin.errors import MalformedInputError
from zkmargin.formats.snarkjs import (
    dump_json,
    load_json,
    proof_from_json,
    proof_to_json,
    read_proof,
    read_public,
    read_vk,
    write_proof,
    write_public,
    write_vk,
)
from zkmargin.groth16.keys import Proof

pytestmark = pytest.mark.snarkjs

CASES = [(c, case) for c in CURVE_NAMES for case in manifest_cases(c)]
IDS = [f"{c}-{case['public'].stem}-{case['proof'].stem}" for c, case in CASES]


@pytest.mark.parametrize(("curve_name", "case"), CASES, ids=IDS)
def test_snarkjs_verdicts_match_the_manifest(snarkjs, curve_name, case):
    result = snarkjs.groth16_verify(case["vk"], case["public"], case["proof"])
    assert result.valid is case["expect"], result.output


@pytest.mark.parametrize(("curve_name", "case"), CASES, ids=IDS)
def test_our_rewritten_files_keep_the_verdict(snarkjs, tmp_path, curve_name, case):
    """Parse every file with zkmargin, write it back, and ask snarkjs again."""
    backend = backend_for(curve_name)
    vk = read_vk(case["vk"], backend)
    proof = read_proof(case["proof"], backend)
    try:
        public = read_public(case["public"], curve_name)
    except MalformedInputError:
        # public value + r: snarkjs says "not valid", we refuse to read it at all
        assert case["expect"] is False
        return
    write_vk(vk, tmp_path / "verification_key.json", backend)
    write_public(public, tmp_path / "public.json", curve_name)
    write_proof(proof, tmp_path / "proof.json", backend)
    originals = {
        "verification_key.json": case["vk"],
        "public.json": case["public"],
        "proof.json": case["proof"],
    }
    for name, original in originals.items():
        # our bytes are snarkjs's bytes (some vector files were re-saved with a final newline)
        assert (tmp_path / name).read_text() == original.read_text().removesuffix("\n")
    verdict = snarkjs.verify(
        tmp_path / "verification_key.json", tmp_path / "public.json", tmp_path / "proof.json"
    )
    assert verdict is case["expect"]


def _verify_vector_statement(snarkjs, folder, proof_path) -> bool:
    """snarkjs's verdict on ``proof_path`` for the vector key and public inputs in ``folder``."""
    return snarkjs.verify(folder / "verification_key.json", folder / "public.json", proof_path)


def test_snarkjs_reads_our_point_at_infinity(snarkjs, tmp_path):
    """ffjavascript parses our infinity encoding (and, being a pairing check, says no)."""
    backend = backend_for("bn128")
    folder = mult_dir("bn128")
    proof = read_proof(folder / "proof.json", backend)
    at_infinity = Proof(proof.curve, backend.g1_identity(), proof.b_g2, proof.c_g1)
    write_proof(at_infinity, tmp_path / "proof.json", backend)
    assert load_json(tmp_path / "proof.json")["pi_a"] == ["0", "1", "0"]
    assert _verify_vector_statement(snarkjs, folder, tmp_path / "proof.json") is False


def _g1_add_affine(p1, p2, p):
    (x1, y1), (x2, y2) = p1, p2
    lam = (y2 - y1) * pow(x2 - x1, -1, p) % p
    x3 = (lam * lam - x1 - x2) % p
    return x3, (lam * (x1 - x3) - y1) % p


def test_snarkjs_misses_a_small_order_component_that_we_reject(snarkjs, tmp_path):
    """snarkjs checks proof points are on the curve, not that they are in the subgroup.

    On BLS12-381, T = (0, 2) has order 3; the pairing kills it, so A + T still verifies in snarkjs.
    zkmargin refuses to even read such a proof.
    """
    folder = mult_dir("bls12381")
    data = load_json(folder / "proof.json")
    a = (int(data["pi_a"][0]), int(data["pi_a"][1]))
    x, y = _g1_add_affine(a, (0, 2), backend_for("bls12381").curve.p)
    data["pi_a"] = [str(x), str(y), "1"]
    dump_json(data, tmp_path / "proof.json")
    assert _verify_vector_statement(snarkjs, folder, tmp_path / "proof.json") is True
    with pytest.raises(MalformedInputError, match="pi_a is not in the prime-order subgroup"):
        proof_from_json(data, backend_for("bls12381"))


def test_off_curve_point_is_a_verdict_not_a_crash(snarkjs, tmp_path):
    folder = mult_dir("bn128")
    data = load_json(folder / "proof.json")
    data["pi_a"][1] = str(int(data["pi_a"][1]) + 1)
    dump_json(data, tmp_path / "proof.json")
    result = snarkjs.groth16_verify(
        folder / "verification_key.json", folder / "public.json", tmp_path / "proof.json"
    )
    assert result.valid is False and "Proof commitments are not valid." in result.output


def test_runner_raises_when_snarkjs_gives_no_verdict(snarkjs, tmp_path):
    """snarkjs exits 1 for a missing file too; that must not read as "invalid proof"."""
    folder = mult_dir("bn128")
    with pytest.raises(SnarkjsError, match="no verdict"):
        snarkjs.verify(folder / "verification_key.json", folder / "public.json", tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text('{"pi_a": [')
    with pytest.raises(SnarkjsError, match="no verdict"):
        snarkjs.verify(folder / "verification_key.json", folder / "public.json", tmp_path / "broken.json")


def test_proof_to_json_is_what_snarkjs_reads(snarkjs, tmp_path):
    """A proof object built in Python, written by us, checked by snarkjs: B negated breaks it."""
    backend = backend_for("bls12381")
    folder = mult_dir("bls12381")
    proof = read_proof(folder / "proof.json", backend)
    bad = Proof(proof.curve, proof.a_g1, backend.g2_neg(proof.b_g2), proof.c_g1)
    dump_json(proof_to_json(bad, backend), tmp_path / "proof.json")
    assert _verify_vector_statement(snarkjs, folder, tmp_path / "proof.json") is False


def test_export_calldata_prints_what_snarkjs_prints(snarkjs):
    """`zkmargin groth16 export calldata` and `snarkjs zkey export soliditycalldata`, byte for byte."""
    import subprocess
    import sys

    folder = mult_dir("bn128")
    pairs = (("public.json", "proof.json"), ("public.json", "proof2.json"), ("public_tampered.json", "proof.json"))
    for public, proof in pairs:
        theirs = snarkjs.check("zkey", "export", "soliditycalldata", folder / public, folder / proof)
        ours = subprocess.run(
            [sys.executable, "-m", "prover", "groth16", "export", "calldata", folder / public, folder / proof],
            capture_output=True, text=True, timeout=120, check=True,
        ).stdout
        assert ours.strip() == theirs.strip()
