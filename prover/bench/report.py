"""``zkmargin bench report``: the benchmark matrix, written as JSON, a markdown table and PNG plots.

Every figure is a median over repeats, measured in one run on one machine; the snarkjs ratio is
measured in the same run, so it holds across machines where absolute times do not.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zkmargin.errors import ZkMarginError
from zkmargin.formats.files import write_atomically

Say = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    """Which sizes to measure; ``quick`` is the smoke-test plan the test suite runs."""

    chain_log2: dict[str, list[int]]  # curve -> sizes on the default backend
    reference_chain_log2: list[int]  # py_ecc reference, BLS12-381 only (it is slow)
    margin_markets: list[int]
    verify_batch: dict[str, int]
    bn254_margin_markets: list[int] = field(default_factory=list)
    compare_snarkjs_log2: dict[str, int] = field(default_factory=dict)
    repeat: int = 3

    @classmethod
    def full(cls) -> Plan:
        return cls(
            chain_log2={"bls12381": [10, 12, 14, 16], "bn128": [10, 12, 14]},
            reference_chain_log2=[6],
            margin_markets=[1, 4, 16, 64],
            bn254_margin_markets=[1, 4],
            verify_batch={"bls12381": 512, "bn128": 32},
            compare_snarkjs_log2={"bls12381": 14, "bn128": 14},
        )

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            chain_log2={"bls12381": [4, 5], "bn128": [4]},
            reference_chain_log2=[],
            margin_markets=[1],
            verify_batch={"bls12381": 4},
            repeat=1,
        )


def run_report(plan: Plan, out: Path, compare_snarkjs: bool, say: Say) -> dict[str, Any]:
    """Each configuration runs in its own process, so its peak memory is its own."""
    results: dict[str, Any] = {"machine": _machine(), "prove": [], "verify": []}
    for curve, sizes in plan.chain_log2.items():
        for log2 in sizes:
            snarkjs = compare_snarkjs and plan.compare_snarkjs_log2.get(curve) == log2
            say(f"prove chain 2^{log2} on {curve}{' (and snarkjs)' if snarkjs else ''}")
            extra = ["--compare-snarkjs"] if snarkjs else []
            results["prove"].append(_bench("prove", "--circuit", "chain", "--log2", log2, "--curve", curve,
                                           "--repeat", plan.repeat, *extra))
    for log2 in plan.reference_chain_log2:
        say(f"prove chain 2^{log2} on bls12381 with the py_ecc reference")
        results["prove"].append(_bench("prove", "--circuit", "chain", "--log2", log2, "--curve", "bls12381",
                                       "--repeat", 1, "--backend", "py_ecc"))
    margins = [("bls12381", m) for m in plan.margin_markets] + [("bn128", m) for m in plan.bn254_margin_markets]
    for curve, markets in margins:
        say(f"prove margin M={markets} on {curve}")
        results["prove"].append(_bench("prove", "--circuit", "margin", "--markets", markets, "--curve", curve,
                                       "--repeat", plan.repeat))
    for curve, batch in plan.verify_batch.items():
        say(f"verify on {curve}: single and a batch of {batch}")
        results["verify"].append(_bench("verify", "--curve", curve, "--batch", batch, "--repeat", plan.repeat))
    out.mkdir(parents=True, exist_ok=True)
    write_atomically(out / "results.json", json.dumps(results, indent=1).encode())
    write_atomically(out / "table.md", markdown_tables(results).encode())
    plot(results, out)
    return results


def _bench(*args: object) -> dict[str, Any]:
    """One ``zkmargin bench`` command in a fresh process; its JSON result."""
    command = [sys.executable, "-m", "prover", "bench", *map(str, args), "--json"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise ZkMarginError(f"{' '.join(command[2:])} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout)


def _machine() -> dict[str, Any]:
    import os

    return {
        "date": time.strftime("%Y-%m-%d"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def markdown_tables(results: dict[str, Any]) -> str:
    lines = [
        "| circuit | curve | backend | constraints | domain | median s | spread s | NTT s | MSM sum s "
        "| wall / MSM sum | snarkjs s | ratio | proving key MB | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["prove"]:
        name = row["circuit"] + "".join(f" {k}={v}" for k, v in row["parameters"].items())
        snark = row.get("snarkjs", {})
        lines.append(
            f"| {name} | {row['curve']} | {row['backend']} | {row['constraints']} | {row['domain_size']} "
            f"| {row['median_s']:.3f} | {row['min_s']:.3f}-{row['max_s']:.3f} "
            f"| {row['phases_median_s'].get('ntt', 0):.3f} | {row['msm_total_s']:.3f} "
            f"| {row['prover_over_msm']} | {snark.get('median_s', '')} | {row.get('ratio_to_snarkjs', '')} "
            f"| {row['sizes_bytes']['proving_key'] / 2**20:.1f} | {row['peak_rss_mb']} |"
        )
    lines += [
        "",
        "| curve | backend | single verify ms | single /s | batch | batch ms | batch proofs/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["verify"]:
        lines.append(
            f"| {row['curve']} | {row['backend']} | {row['single_median_ms']} | {row['single_proofs_per_s']} "
            f"| {row['batch_size']} | {row['batch_median_ms']} | {row['batch_proofs_per_s']} |"
        )
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ZkMarginError("plots need matplotlib: pip install 'zkmargin[bench]'") from None

    fig, ax = plt.subplots(figsize=(7, 4.5))
    series: dict[str, list[tuple[int, float]]] = {}
    for row in results["prove"]:
        label = f"{row['circuit']} · {row['curve']} · {row['backend']}"
        series.setdefault(label, []).append((row["constraints"], row["median_s"]))
    for label, points in sorted(series.items()):
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("constraints")
    ax.set_ylabel("prove time, median (s)")
    ax.set_title("zkmargin Groth16 prove time")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "prove_time.png", dpi=120)
    plt.close(fig)

    rows = [r for r in results["prove"] if r["backend"] != "py_ecc"]
    phases = ["witness", "constraint synthesis", "check witness", "constraint evaluation", "ntt",
              "msm A (G1)", "msm B (G1)", "msm B (G2)", "msm C (G1)", "msm H (G1)"]
    fig, ax = plt.subplots(figsize=(9.5, 4.5))
    labels = [f"{r['circuit']} {next(iter(r['parameters'].values()), '')}\n{r['curve']}" for r in rows]
    totals = [sum(r["phases_median_s"].get(p, 0.0) for p in phases) or 1.0 for r in rows]
    bottom = [0.0] * len(rows)
    for phase in phases:
        shares = [100 * r["phases_median_s"].get(phase, 0.0) / t for r, t in zip(rows, totals)]
        ax.bar(range(len(rows)), shares, bottom=bottom, label=phase)
        bottom = [b + v for b, v in zip(bottom, shares)]
    ax.set_xticks(range(len(rows)), labels, fontsize=6)
    ax.set_ylabel("share of phase time (%); the MSMs run two at a time")
    ax.set_title("where prove time goes")
    ax.legend(fontsize=6, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    fig.savefig(out / "phases.png", dpi=120)
    plt.close(fig)
