"""The zkmargin command as a user runs it: real subprocesses, real files, exit codes."""

import json
import os
import subprocess
import sys

import pytest

from zkmargin.curves import BLS12_381

from tests.formats.snarkjs_vectors import snarkjs_vectors

VECTORS = snarkjs_vectors()


def run(*args, cwd=None, env_home=None):
    env = dict(os.environ)
    if env_home is not None:
        env["ZKMARGIN_HOME"] = str(env_home)
    return subprocess.run(
        [sys.executable, "-m", "prover", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env,
        timeout=600,
    )


def _manifest_cases():
    for curve_dir in sorted(VECTORS.glob("*/manifest.json")):
        for case in json.loads(curve_dir.read_text())["cases"]:
            yield pytest.param(curve_dir.parent, case, id=f"{curve_dir.parent.name}: {case['note']}")


@pytest.mark.parametrize("folder,case", list(_manifest_cases()))
def test_groth16_verify_gives_snarkjs_verdicts(folder, case):
    result = run("groth16", "verify", folder / case["vk"], folder / case["public"], folder / case["proof"])
    if case["expect"]:
        assert result.returncode == 0, result.stderr
    else:
        # invalid proof (1), or malformed input such as a public value >= r (2)
        assert result.returncode in (1, 2), result.stderr
        if "not reduced" in case["note"]:
            assert result.returncode == 2 and "not below" in result.stderr


def _small_order_point():
    """A point of order 3 on the BLS12-381 G1 curve: on the curve, outside the r-torsion."""
    from py_ecc.optimized_bls12_381 import FQ, is_inf, multiply, normalize

    p, cofactor = BLS12_381.p, 0x396C8C005555E1568C00AAAB0000AAAB
    x = 1
    while True:
        rhs = (x**3 + 4) % p
        y = pow(rhs, (p + 1) // 4, p)
        if y * y % p == rhs:
            point = (FQ(x), FQ(y), FQ(1))
            small = multiply(multiply(point, BLS12_381.r), cofactor // 3)
            if not is_inf(small):
                return tuple(int(c) for c in normalize(small))
        x += 1


def _add_affine(p1, p2, p):
    (x1, y1), (x2, y2) = p1, p2
    slope = (y2 - y1) * pow(x2 - x1, -1, p) % p
    x3 = (slope * slope - x1 - x2) % p
    return x3, (slope * (x1 - x3) - y1) % p


def test_proof_with_small_order_point_added_is_rejected(tmp_path):
    """snarkjs checks only that points are on the curve; we also check the subgroup."""
    folder = VECTORS / "bls12381" / "mult"
    proof = json.loads((folder / "proof.json").read_text())
    a = (int(proof["pi_a"][0]), int(proof["pi_a"][1]))
    forged_a = _add_affine(a, _small_order_point(), BLS12_381.p)
    proof["pi_a"] = [str(forged_a[0]), str(forged_a[1]), "1"]
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    result = run("groth16", "verify", folder / "verification_key.json", folder / "public.json", tmp_path / "proof.json")
    assert result.returncode == 2
    assert "subgroup" in result.stderr


@pytest.mark.parametrize("damage", ["truncated", "missing", "not json"])
def test_malformed_files_exit_2_with_one_line(tmp_path, damage):
    folder = VECTORS / "bn128" / "mult"
    target = tmp_path / "proof.json"
    if damage == "truncated":
        target.write_text((folder / "proof.json").read_text()[:200])
    elif damage == "not json":
        target.write_bytes(b"\x00\xffgarbage")
    result = run("groth16", "verify", folder / "verification_key.json", folder / "public.json", target)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0


@pytest.mark.parametrize("curve", ["bls12-381", "bn254"])
def test_setup_prove_verify_round_trip(tmp_path, curve):
    keys = tmp_path / "keys"
    assert run("setup", "mult", "--curve", curve, "--out", keys, env_home=tmp_path).returncode == 0
    assert json.loads((keys / "verification_key.json").read_text())["nPublic"] == 2
    (tmp_path / "input.json").write_text(json.dumps({"a": "3", "b": 11}))
    proved = run("prove", "mult", "--curve", curve, "--input", "input.json", "--keys", keys, cwd=tmp_path)
    assert proved.returncode == 0, proved.stderr
    assert json.loads((tmp_path / "public.json").read_text()) == ["33", "11"]
    ok = run("groth16", "verify", keys / "verification_key.json", "public.json", "proof.json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    (tmp_path / "public.json").write_text(json.dumps(["34", "11"]))
    bad = run("groth16", "verify", keys / "verification_key.json", "public.json", "proof.json", cwd=tmp_path)
    assert bad.returncode == 1


def test_prove_reports_missing_input_and_missing_keys(tmp_path):
    (tmp_path / "input.json").write_text(json.dumps({"b": 11}))
    no_keys = run("prove", "mult", "--input", "input.json", "--keys", tmp_path / "none", cwd=tmp_path)
    assert no_keys.returncode == 2 and "zkmargin setup" in no_keys.stderr
    keys = tmp_path / "keys"
    run("setup", "mult", "--out", keys)
    missing = run("prove", "mult", "--input", "input.json", "--keys", keys, cwd=tmp_path)
    assert missing.returncode == 2 and "'a'" in missing.stderr
    (tmp_path / "input.json").write_text(json.dumps({"a": 1.5, "b": 11}))
    floats = run("prove", "mult", "--input", "input.json", "--keys", keys, cwd=tmp_path)
    assert floats.returncode == 2 and "decimal string" in floats.stderr


def test_circuit_info_json_and_unknown_names():
    info = run("circuit", "info", "chain", "--log2", "6", "--curve", "bn128", "--json")
    assert info.returncode == 0
    data = json.loads(info.stdout)
    assert data["domain_size"] == 64 and data["audit"]["ok"] and data["curve"] == "bn128"
    assert run("circuit", "info", "nosuch").returncode == 2
    bad_curve = run("circuit", "info", "mult", "--curve", "secp256k1")
    assert bad_curve.returncode == 2 and "unknown curve" in bad_curve.stderr


def test_escrowed_transfer_setup_prove_verify_and_the_escrow_opens_to_the_new_state(tmp_path):
    from circuits.state import AccountState
    from zkmargin.edwards import base_mul, embedded_curve, point_to_json
    from zkmargin.escrow import Escrow, open_with_secret_key

    secret = 4242
    key = point_to_json(base_mul(embedded_curve("bls12381"), secret))
    state = {"account_id": 7, "nonce": 0, "salt": "5", "collateral": "100", "sizes": ["0"], "costs": ["0"], "epoch": 1}
    statement = {"state": state, "amount": 50, "epoch": 1, "prices": [100], "rates": [100000]}
    (tmp_path / "input.json").write_text(json.dumps({**statement, "escrow_key": key}))
    (tmp_path / "plain.json").write_text(json.dumps(statement))
    keys = tmp_path / "keys"
    assert run("setup", "transfer", "--markets", "1", "--escrow", "--out", keys, env_home=tmp_path).returncode == 0
    proved = run("prove", "transfer", "--markets", "1", "--escrow", "--input", "input.json", "--keys", keys,
                 cwd=tmp_path)
    assert proved.returncode == 0, proved.stderr
    ok = run("groth16", "verify", keys / "verification_key.json", "public.json", "proof.json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    escrow = Escrow.from_json(json.loads((tmp_path / "escrow.json").read_text()), "bls12381")
    public = json.loads((tmp_path / "public.json").read_text())
    assert public[-3:] == [*key, str(escrow.digest())]
    opened = AccountState.from_commitment_inputs(open_with_secret_key(escrow, secret), "bls12381")
    assert opened.collateral == 150 and str(opened.commitment("bls12381")) == public[2]
    # the key belongs to the escrow variant only, and the escrow variant needs it
    plain = run("prove", "transfer", "--markets", "1", "--input", "input.json", "--keys", keys, cwd=tmp_path)
    assert plain.returncode == 2 and "only for the escrow variant" in plain.stderr
    keyless = run("prove", "transfer", "--markets", "1", "--escrow", "--input", "plain.json", "--keys", keys,
                  cwd=tmp_path)
    assert keyless.returncode == 2 and "missing 'escrow_key'" in keyless.stderr
    assert run("circuit", "info", "margin", "--escrow").returncode == 2


def test_portfolio_setup_prove_verify_and_a_naked_call_refused_naming_its_scenario(tmp_path):
    from tests.prover.portfolio_books import FUTURE, ITM_CALL, book_state, input_json, published

    risk = published([FUTURE, ITM_CALL], price_steps=1)  # S = 8
    shape = ("--markets", "2", "--scenarios", "8")
    info = json.loads(run("circuit", "info", "portfolio", *shape, "--json").stdout)
    assert info["parameters"] == {"markets": 2, "scenarios": 8} and info["audit"]["ok"]
    assert info["public_input_names"] == ["account", "commitment", "epoch", "mark 0", "mark 1", "risk digest"]
    keys = tmp_path / "keys"
    assert run("setup", "portfolio", *shape, "--out", keys).returncode == 0
    hedged = book_state((1, -1), 3_000 * 10**6, risk)
    (tmp_path / "input.json").write_text(json.dumps(input_json(hedged, risk, price_steps=1)))
    proved = run("prove", "portfolio", *shape, "--input", "input.json", "--keys", keys, cwd=tmp_path)
    assert proved.returncode == 0, proved.stderr
    public = json.loads((tmp_path / "public.json").read_text())
    assert public[-1] == str(risk.digest("bls12381")) and public[3:5] == [str(a.mark) for a in risk.arrays]
    ok = run("groth16", "verify", keys / "verification_key.json", "public.json", "proof.json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    naked = book_state((0, -1), 1_000 * 10**6, risk)
    (tmp_path / "input.json").write_text(json.dumps(input_json(naked, risk, price_steps=1)))
    refused = run("prove", "portfolio", *shape, "--input", "input.json", "--keys", keys, cwd=tmp_path)
    assert refused.returncode == 2
    assert "below portfolio margin in scenario 2 (price +1 x range, vol up) by" in refused.stderr
    assert run("circuit", "info", "margin", "--scenarios", "8").returncode == 2
