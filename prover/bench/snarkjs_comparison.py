"""snarkjs on the same `chain` statement, same curve and domain, timed in the same run.

The circom source is a chain of squarings like circuits.examples.Chain: with n = 2^K - 2
squarings and one public output, snarkjs's domain is exactly 2^K too. Everything slow is cached
under $ZKMARGIN_HOME/snarkjs/: the powers-of-tau file (its phase-2 preparation takes minutes on
BLS12-381), the compiled circuit, the proving key and the witness.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from circuits.protocol.home import zkmargin_home
from prover.snarkjs import SNARKJS_VERSION, SnarkjsError, SnarkjsRunner, install_snarkjs
from zkmargin.curves import Curve

# snarkjs names BLS12-381 "bls12-381" on the command line, circom "bls12381"
_SNARKJS_CURVE = {"bls12381": "bls12-381", "bn128": "bn128"}
_MIN_PTAU_POWER = 8

Say = Callable[[str], None]


def chain_source(squarings: int) -> str:
    return (
        "pragma circom 2.0.0;\n"
        "template Chain(n) {\n"
        "    signal input x;\n    signal output y;\n    signal s[n + 1];\n"
        "    s[0] <== x;\n"
        "    for (var i = 0; i < n; i++) { s[i + 1] <== s[i] * s[i]; }\n"
        "    y <== s[n];\n"
        "}\n"
        f"component main = Chain({squarings});\n"
    )


def _cache() -> Path:
    return zkmargin_home() / "snarkjs"


def _publish(tmp: Path, final: Path) -> Path:
    os.replace(tmp, final)
    return final


def powers_of_tau(runner: SnarkjsRunner, curve: Curve, power: int, say: Say) -> Path:
    """A prepared powers-of-tau file for 2^power, made once (one throwaway contribution)."""
    power = max(power, _MIN_PTAU_POWER)
    folder = _cache() / "ptau"
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{curve.name}_{power}.ptau"
    if final.exists():
        return final
    name = _SNARKJS_CURVE[curve.name]
    fresh, contributed, prepared = (folder / f"{curve.name}_{power}.{s}.tmp" for s in ("0", "1", "2"))
    say(f"snarkjs: powers of tau 2^{power} on {curve.name} (cached afterwards; minutes on BLS12-381)")
    runner.check("powersoftau", "new", name, str(power), fresh)
    runner.check("powersoftau", "contribute", fresh, contributed, "-e=zkmargin benchmark")
    runner.check("powersoftau", "prepare", "phase2", contributed, prepared)
    fresh.unlink()
    contributed.unlink()
    return _publish(prepared, final)


def chain_artifacts(runner: SnarkjsRunner, curve: Curve, log2: int, say: Say) -> tuple[Path, Path]:
    """(proving key, witness) for the circom chain filling a 2^log2 domain."""
    folder = _cache() / f"chain-{curve.name}-{log2}"
    zkey, witness = folder / "chain.zkey", folder / "chain.wtns"
    if zkey.exists() and witness.exists():
        return zkey, witness
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "chain.circom"
    source.write_text(chain_source((1 << log2) - 2))
    say(f"circom: compiling chain 2^{log2} for {curve.name}")
    runner.compile_circom(source, folder, curve.name)
    ptau = powers_of_tau(runner, curve, log2, say)
    say("snarkjs: groth16 setup")
    runner.check("groth16", "setup", folder / "chain.r1cs", ptau, folder / "chain.zkey.tmp")
    (folder / "input.json").write_text(json.dumps({"x": "3"}))
    done = subprocess.run(
        ["node", str(folder / "chain_js" / "generate_witness.js"), str(folder / "chain_js" / "chain.wasm"),
         str(folder / "input.json"), str(folder / "chain.wtns.tmp")],
        capture_output=True, text=True, timeout=1800,
    )
    if done.returncode != 0:
        raise SnarkjsError(f"witness generation failed:\n{done.stderr.strip()}")
    _publish(folder / "chain.wtns.tmp", witness)
    return _publish(folder / "chain.zkey.tmp", zkey), witness


def bench_snarkjs_chain(curve: Curve, log2: int, repeat: int, say: Say = lambda _m: None) -> dict[str, Any]:
    """Median seconds of snarkjs's in-process groth16.prove on the chain circuit."""
    runner = install_snarkjs()
    zkey, witness = chain_artifacts(runner, curve, log2, say)
    say(f"snarkjs: proving {repeat} times")
    times = runner.time_prove(zkey, witness, repeat)
    return {
        "tool": f"snarkjs {SNARKJS_VERSION} (Node.js, in-process groth16.prove, witness precomputed)",
        "median_s": round(statistics.median(times), 6),
        "min_s": round(min(times), 6),
        "max_s": round(max(times), 6),
        "repeat": repeat,
    }
