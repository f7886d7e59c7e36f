"""``zkmargin demo``: a guided run on embedded defaults, printing what happens and how long it takes.

Today it walks through the proving core on both curves: setup, prove, verify in snarkjs's file
formats, a tampered proof rejected, batch verification. Keys are made on first use and cached
under ZKMARGIN_HOME (default ~/.zkmargin).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rich.console import Console

from circuits import get_circuit
from prover.keystore import cached_keys
from zkmargin.backends import get_backend
from zkmargin.curves import get_curve
from zkmargin.formats.snarkjs import (
    dump_json,
    load_json,
    proof_from_json,
    proof_to_json,
    public_from_json,
    public_to_json,
    vk_from_json,
    vk_to_json,
)
from zkmargin.groth16 import batch_verify, prove, verify

console = Console()


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def _demo_curve(curve_name: str, workdir: Path) -> bool:
    curve = get_curve(curve_name)
    backend = get_backend(curve)
    mult = get_circuit("mult")
    console.print(f"\n[bold]{curve.name}[/bold] (backend {backend.name})")
    pk, seconds = _timed(cached_keys, mult, curve, backend)
    console.print(f"  keys for `mult` ready in {seconds:.2f} s")
    cs = mult.synthesize(curve, {"a": 3, "b": 11})
    proof, seconds = _timed(prove, pk, cs, backend)
    console.print(f"  proved 'I know a with a * 11 = 33' in {seconds * 1000:.0f} ms")

    folder = workdir / curve.name
    dump_json(vk_to_json(pk.vk, backend), folder / "verification_key.json")
    dump_json(proof_to_json(proof, backend), folder / "proof.json")
    dump_json(public_to_json(cs.public_values()), folder / "public.json")
    vk = vk_from_json(load_json(folder / "verification_key.json"), backend)
    reread = proof_from_json(load_json(folder / "proof.json"), backend)
    inputs = public_from_json(load_json(folder / "public.json"), curve)
    ok, seconds = _timed(verify, vk, inputs, reread, backend)
    console.print(f"  verified from snarkjs-format files in {seconds * 1000:.1f} ms: {'valid' if ok else 'INVALID'}")
    forged = not verify(vk, [34, 11], reread, backend)
    console.print(f"  the same proof for the claim a * 11 = 34: {'rejected' if forged else 'ACCEPTED (bug!)'}")

    statements = []
    for i in range(16):
        cs_i = mult.synthesize(curve, {"a": i + 2, "b": 11})
        statements.append((cs_i.public_values(), prove(pk, cs_i, backend)))
    verdicts, seconds = _timed(batch_verify, vk, statements, backend)
    console.print(f"  batch-verified {len(statements)} proofs in {seconds * 1000:.1f} ms: {sum(verdicts)} valid")
    return ok and forged and all(verdicts)


def run_demo() -> int:
    console.print("[bold]zkmargin demo[/bold]: Groth16 proofs, snarkjs file formats, batch verification")
    with tempfile.TemporaryDirectory(prefix="zkmargin-demo-") as tmp:
        results = [_demo_curve(name, Path(tmp)) for name in ("bls12381", "bn128")]
    if all(results):
        console.print("\n[green]demo complete[/green]: every valid proof verified, every forgery was rejected")
        return 0
    console.print("\n[red]demo failed[/red]: see the lines above")
    return 1
