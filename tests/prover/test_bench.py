"""The benchmark commands print the figures they promise (tiny sizes: this checks shape, not speed)."""

import json

from tests.prover.test_cli import run


def test_bench_prove_prints_median_and_phases(tmp_path):
    result = run("bench", "prove", "--circuit", "chain", "--log2", "4", "--curve", "bls12381",
                 "--repeat", "2", "--json", env_home=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["domain_size"] == 16 and data["repeat"] == 2
    assert data["min_s"] <= data["median_s"] <= data["max_s"]
    phases = data["phases_median_s"]
    for phase in ("witness", "ntt", "msm A (G1)", "msm B (G2)", "msm B (G1)", "msm C (G1)", "msm H (G1)"):
        assert phases[phase] >= 0, phase
    assert data["msm_total_s"] > 0
    sizes = data["sizes_bytes"]
    assert sizes["proof_raw"] == 4 * 48 + 192  # two uncompressed G1 points and one G2 point
    assert sizes["proof_json"] > sizes["proof_raw"] and sizes["proving_key"] > 0


def test_bench_verify_prints_single_and_batch_figures(tmp_path):
    result = run("bench", "verify", "--curve", "bls12381", "--batch", "4", "--repeat", "2", "--json",
                 env_home=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["batch_size"] == 4
    assert data["single_proofs_per_s"] > 0 and data["batch_proofs_per_s"] > 0


def test_bench_prove_margin_statement(tmp_path):
    result = run("bench", "prove", "--circuit", "margin", "--markets", "1", "--repeat", "1", "--json",
                 env_home=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["parameters"] == {"markets": 1} and data["constraints"] > 0 and data["median_s"] > 0


def test_bench_report_writes_json_table_and_plots(tmp_path):
    out = tmp_path / "report"
    result = run("bench", "report", "--quick", "--out", out, env_home=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads((out / "results.json").read_text())
    assert {row["circuit"] for row in data["prove"]} == {"chain", "margin"}
    assert data["verify"][0]["batch_size"] == 4
    table = (out / "table.md").read_text()
    assert table.count("| chain") == 3 and "batch proofs/s" in table
    for png in ("prove_time.png", "phases.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_prove_portfolio_statement_and_its_scenario_sets(tmp_path):
    result = run("bench", "prove", "--circuit", "portfolio", "--markets", "2", "--scenarios", "8", "--repeat", "1",
                 "--json", env_home=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["parameters"] == {"markets": 2, "scenarios": 8} and data["constraints"] > 0 and data["median_s"] > 0
    odd = run("bench", "prove", "--circuit", "portfolio", "--markets", "2", "--scenarios", "10", "--json",
              env_home=tmp_path)
    assert odd.returncode == 2 and "S = 4n + 4" in odd.stderr


def test_bench_prove_margin_with_scenarios_is_the_portfolio_statement(tmp_path):
    """``--circuit margin --scenarios S`` (the issue's spelling) benchmarks margin in portfolio mode."""
    from circuits import get_circuit

    result = run("bench", "prove", "--circuit", "margin", "--markets", "2", "--scenarios", "8", "--repeat", "1",
                 "--json", env_home=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["circuit"] == "portfolio" and data["parameters"] == {"markets": 2, "scenarios": 8}
    portfolio = get_circuit("portfolio", markets=2, scenarios=8).synthesize("bls12381")
    assert data["constraints"] == portfolio.num_constraints
    assert "portfolio variant, portfolio" in result.stderr
