"""`zkmargin bench prove --compare-snarkjs` times snarkjs on the same chain in the same run."""

import json

from tests.prover.test_cli import run


def test_compare_snarkjs_reports_both_medians_and_the_ratio(snarkjs, tmp_path):
    result = run("bench", "prove", "--circuit", "chain", "--log2", "6", "--curve", "bn128", "--repeat", "2",
                 "--compare-snarkjs", "--json", env_home=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    theirs = data["snarkjs"]
    assert theirs["repeat"] == 2 and theirs["median_s"] > 0
    assert data["ratio_to_snarkjs"] == round(data["median_s"] / theirs["median_s"], 3)
    # the circom circuit fills the same domain: snarkjs made a proving key for it, cached for next time
    assert (tmp_path / "snarkjs" / "chain-bn128-6" / "chain.zkey").exists()


def test_compare_snarkjs_needs_the_chain_circuit(tmp_path):
    result = run("bench", "prove", "--circuit", "mult", "--compare-snarkjs", env_home=tmp_path)
    assert result.returncode == 2 and "--circuit chain" in result.stderr
