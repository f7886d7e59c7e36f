"""Benchmarks: medians over repeats, with the prover's phases broken out."""

from __future__ import annotations

import resource
from dataclasses import replace
import statistics
import time
from typing import Any

from circuits import get_circuit
from circuits.base import Circuit
from circuits.protocol.keystore import PROVING_KEY_FILE, VERIFICATION_KEY_FILE, cached_keys, default_key_dir
from circuits.protocol.risk import Future, MarketInputs, Option, OptionRight, RiskParameters, epoch_risk_arrays
from circuits.protocol.risk.scenarios import DEFAULT_INITIAL_FACTOR, EpochRiskArrays, portfolio_risk
from circuits.state import AccountState, Fill, fresh_salt
from zkmargin.backends import get_backend
from zkmargin.curves import get_curve
from zkmargin.errors import ZkMarginError
from zkmargin.formats.snarkjs import dumps_json, proof_to_json
from zkmargin.groth16 import PhaseTimer, batch_verify, prepare_verifying_key, prove, verify
from zkmargin.groth16.qap import qap_shape


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 6)


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def sample_margin_book(markets: int, curve, seed: int) -> tuple[AccountState, list[int]]:
    """A healthy account with a position in every market (long and short alternating), and the prices."""
    prices = [50_000 + 17 * m for m in range(markets)]
    sizes = tuple((1 if m % 2 else -1) * (1_000 + m + seed) for m in range(markets))
    costs = tuple(b * (p - 25) for b, p in zip(sizes, prices))
    return AccountState(seed + 1, seed, fresh_salt(curve), 10**12, sizes, costs), prices


def sample_margin_inputs(circuit: Circuit, curve, seed: int) -> dict[str, Any]:
    markets = circuit.parameters()["markets"]
    state, prices = sample_margin_book(markets, curve, seed)
    return circuit.assignment(state, seed, prices, [50_000] * markets, curve)


def sample_flat_transition_inputs(circuit: Any, curve, seed: int) -> dict[str, Any]:
    """The margin sample book withdrawing 1 000 (``transfer``) or buying 7 of market 0 at its price (``fill``),
    at 10 % initial and 5 % maintenance."""
    markets = circuit.parameters()["markets"]
    state, prices = sample_margin_book(markets, curve, seed)
    if circuit.name == "transfer":
        return circuit.transition(state, -1_000, state.epoch, prices, [100_000] * markets, curve)[1]
    fill = Fill(state.account_id, seed + 1, 0, 7, prices[0], 3, fresh_salt(curve))
    return circuit.transition(state, fill, state.epoch, prices, [100_000] * markets, [50_000] * markets, curve)[1]


SAMPLE_NOW = 1_700_000_000  # the risk model's clock for the sample book (Unix seconds)
SAMPLE_PRICE = 60_000 * 10**6  # the underlying's mark price (collateral units per base unit)
SAMPLE_VOL = 600_000  # 60 % implied volatility, in millionths


def sample_risk_parameters(scenarios: int) -> RiskParameters:
    """The default policy with as many price steps as give S scenarios: S = 4n + 4 (SPAN's 16 is n = 3)."""
    steps, rest = divmod(scenarios - 4, 4)
    if rest or not 1 <= steps <= 10:
        raise ZkMarginError(f"the risk model's scenario sets have S = 4n + 4 scenarios for n = 1..10 "
                            f"price steps (8, 12, 16, ..., 44), not {scenarios}")
    return RiskParameters(price_steps=steps)


def sample_portfolio_book(circuit: Circuit, curve, seed: int) -> tuple[AccountState, EpochRiskArrays]:
    """A hedged book covering every scenario at the default initial factor (and so at maintenance):
    long perpetuals on the even instruments, short calls (strikes spread below the price, 30 days
    out) on the odd ones, all on market 0."""
    shape = circuit.parameters()
    markets, scenarios = shape["markets"], shape["scenarios"]
    instruments = [Future(0) if i % 2 == 0 else
                   Option(0, OptionRight.CALL, SAMPLE_PRICE - 1_000 * 10**6 * i, SAMPLE_NOW + 30 * 86_400)
                   for i in range(markets)]
    risk = epoch_risk_arrays(seed, instruments, {0: MarketInputs(SAMPLE_PRICE, SAMPLE_VOL)}, SAMPLE_NOW,
                             sample_risk_parameters(scenarios))
    sizes = tuple(1 if i % 2 == 0 else -1 for i in range(markets))
    costs = tuple(b * array.mark for b, array in zip(sizes, risk.arrays))
    collateral = portfolio_risk(risk.arrays, sizes).initial_requirement(DEFAULT_INITIAL_FACTOR) + 10**9
    return AccountState(seed + 1, seed, fresh_salt(curve), collateral, sizes, costs, seed), risk


def sample_portfolio_inputs(circuit: Any, curve, seed: int) -> dict[str, Any]:
    """``portfolio``: the sample book's attestation; ``portfolio-transfer``: it withdraws 10^6;
    ``portfolio-fill``: it buys one more perpetual at the mark (route 0, with 10^11 more collateral),
    at the default factor."""
    state, risk = sample_portfolio_book(circuit, curve, seed)
    if circuit.name == "portfolio":
        inputs: dict[str, Any] = circuit.assignment(state, risk, curve)
        return inputs
    if circuit.name == "portfolio-transfer":
        return circuit.transition(state, -10**6, risk, DEFAULT_INITIAL_FACTOR, curve)[1]
    fill = Fill(state.account_id, seed + 1, 0, 1, risk.arrays[0].mark, 0, fresh_salt(curve))
    richer = replace(state, collateral=state.collateral + 10**11)  # the extra perpetual is unhedged
    return circuit.transition(richer, fill, risk, DEFAULT_INITIAL_FACTOR, curve)[1]


def sample_inputs(circuit: Circuit, seed: int, curve=None) -> dict[str, Any]:
    if circuit.name == "margin":
        return sample_margin_inputs(circuit, curve, seed)
    if circuit.name in ("portfolio", "portfolio-transfer", "portfolio-fill"):
        return sample_portfolio_inputs(circuit, curve, seed)
    if circuit.name in ("transfer", "fill"):
        return sample_flat_transition_inputs(circuit, curve, seed)
    if circuit.name == "chain":
        return {"x": 3 + seed}
    if circuit.name == "mult":
        return {"a": 3 + seed, "b": 11 + seed}
    raise ValueError(f"no sample inputs for {circuit.name}")


def bench_prove(
    circuit: Circuit, curve_name: str, repeat: int, backend_name: str | None = None,
    compare_snarkjs: bool = False, say=lambda _message: None,
) -> dict[str, Any]:
    curve = get_curve(curve_name)
    backend = get_backend(curve, backend_name)
    setup_start = time.perf_counter()
    pk = cached_keys(circuit, curve, backend)
    key_seconds = time.perf_counter() - setup_start
    totals: list[float] = []
    phases: dict[str, list[float]] = {}
    for i in range(repeat):
        timer = PhaseTimer()
        start = time.perf_counter()
        with timer.phase("witness"):
            cs = circuit.synthesize(curve, sample_inputs(circuit, i, curve))
        with timer.phase("constraint synthesis"):
            shape = qap_shape(cs)
        proof = prove(pk, cs, backend, timer=timer, shape=shape)
        totals.append(time.perf_counter() - start)
        for name, seconds in timer.seconds.items():
            phases.setdefault(name, []).append(seconds)
        assert verify(pk.vk, cs.public_values(), proof, backend), "benchmark proof did not verify"
    sizes = _artifact_sizes(circuit, curve, proof, backend)
    phase_medians = {name: _median(values) for name, values in phases.items()}
    msm_total = sum(v for k, v in phase_medians.items() if k.startswith("msm"))
    median = _median(totals)
    result = {
        "circuit": circuit.name,
        "parameters": circuit.parameters(),
        "curve": curve.name,
        "backend": backend.name,
        "constraints": cs.num_constraints,
        "domain_size": pk.domain_size,
        "repeat": repeat,
        "median_s": median,
        "min_s": round(min(totals), 6),
        "max_s": round(max(totals), 6),
        "phases_median_s": phase_medians,
        "msm_total_s": round(msm_total, 6),
        "prover_over_msm": round(median / msm_total, 3) if msm_total else None,
        "key_load_or_setup_s": round(key_seconds, 3),
        "peak_rss_mb": _peak_rss_mb(),
        "sizes_bytes": sizes,
    }
    if compare_snarkjs:
        result.update(_compare_with_snarkjs(circuit, curve, repeat, median, say))
    return result


def _artifact_sizes(circuit: Circuit, curve, proof, backend) -> dict[str, int]:
    """Bytes of the proof (snarkjs JSON and raw uncompressed points) and of the key files."""
    key_dir = default_key_dir(circuit, curve)
    raw = len(backend.g1_to_bytes(proof.a_g1) + backend.g2_to_bytes(proof.b_g2) + backend.g1_to_bytes(proof.c_g1))
    return {
        "proof_json": len(dumps_json(proof_to_json(proof, backend)).encode()),
        "proof_raw": raw,
        "proving_key": (key_dir / PROVING_KEY_FILE).stat().st_size,
        "verification_key_json": (key_dir / VERIFICATION_KEY_FILE).stat().st_size,
    }


def _compare_with_snarkjs(circuit: Circuit, curve, repeat: int, our_median: float, say) -> dict[str, Any]:
    """snarkjs on the same chain, same curve and domain, in this run: ratios hold across machines."""
    from prover.bench.snarkjs_comparison import bench_snarkjs_chain

    if circuit.name != "chain":
        raise ZkMarginError("--compare-snarkjs needs --circuit chain (the same circuit exists in circom)")
    theirs = bench_snarkjs_chain(curve, circuit.parameters()["log2"], repeat, say)
    return {"snarkjs": theirs, "ratio_to_snarkjs": round(our_median / theirs["median_s"], 3)}


def bench_verify(curve_name: str, batch: int, repeat: int, backend_name: str | None = None) -> dict[str, Any]:
    curve = get_curve(curve_name)
    backend = get_backend(curve, backend_name)
    circuit = get_circuit("mult")
    pk = cached_keys(circuit, curve, backend)
    statements = []
    for i in range(batch):
        cs = circuit.synthesize(curve, sample_inputs(circuit, i))
        statements.append((cs.public_values(), prove(pk, cs, backend)))
    key = prepare_verifying_key(pk.vk, backend)  # once per key, as the service does
    singles = []
    for i in range(max(repeat, 5)):
        inputs, proof = statements[i % batch]
        start = time.perf_counter()
        ok = verify(key, inputs, proof)
        singles.append(time.perf_counter() - start)
        assert ok, "benchmark proof did not verify"
    batches = []
    for _ in range(repeat):
        start = time.perf_counter()
        verdicts = batch_verify(key, statements)
        batches.append(time.perf_counter() - start)
        assert all(verdicts), "benchmark batch did not verify"
    single_median = statistics.median(singles)
    batch_median = statistics.median(batches)
    return {
        "curve": curve.name,
        "backend": backend.name,
        "circuit": "mult",
        "single_median_ms": round(single_median * 1000, 3),
        "single_proofs_per_s": round(1 / single_median, 1),
        "batch_size": batch,
        "batch_median_ms": round(batch_median * 1000, 3),
        "batch_proofs_per_s": round(batch / batch_median, 1),
        "repeat": repeat,
    }
