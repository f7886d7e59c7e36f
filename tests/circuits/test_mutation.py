"""Constraint mutation testing of the margin attestation (M = 2, BN254).

For every constraint i, the mutant is the circuit without constraint i. A mutant is *killed*
when a cheater, starting from one witness of a fixed catalogue of false claims and repairing it
with the adversary of :mod:`tests.circuits.adversary`, satisfies every remaining constraint
while the claim stays false: the public inputs are untouched and the opening the witness holds
(nonce, epoch, salt, collateral, sizes, costs) is not an in-bounds, healthy state that opens the
public commitment. A killed mutant shows that constraint i is load-bearing; a survivor is
either redundant or protected by something the adversary cannot break.

The false-claim test is the circuit's relation, checked on the witness's opening. Nearly every
kill is also a false *statement* (no in-bounds healthy opening of the public commitment
exists); the three S-box constraints of the salt lane in round 0 are killed at the relation
level only: the attack swaps the witness's salt while the ledger's (healthy) state still opens
the commitment, so the margin statement stays true although the witness does not open it.

The catalogue: unhealthy states; out-of-range nonce, epoch, collateral (wrapped r - 1 and 2^96),
sizes and costs; sign/magnitude decompositions that lie about |b| or hide an out-of-range
value; openings that do not match the public commitment (another collateral, cost, account,
nonce or salt), both with an honest Poseidon trace of the false opening (the repair walks back
from the commitment into the last round) and with the ledger state's trace reused (the repair
fixes the first-round S-box of the changed input). Variants of the last two differ only in the
changed value: an S-box x^2 constraint is solved with a square root, which exists half the time,
and a polynomial has a root in F_r about two times in three.

Two passes: the local repair search (solve one violated constraint for one variable, follow
single breakages), then an algebraic pass for what is left: the dropped constraint's output
becomes an unknown y, the one violated constraint downstream is interpolated as a polynomial
in y (degree <= MAX_DEGREE) and solved in F_r. Survivors: see EXPLANATION.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import replace

import pytest

from circuits.margin import Margin
from circuits.state import AccountState, BoundError
from tests.circuits.adversary import Witness, drop
from tests.circuits.helpers import commit, margin_inputs, state
from zkmargin.curves import get_curve
from zkmargin.poseidon.params import load_params

pytestmark = pytest.mark.slow

CURVE = "bn128"
M = 2
PRICES = [100, 2000]
RATES = [50_000, 100_000]
R = get_curve(CURVE).r
VARIANTS = 8
MAX_DEGREE = 50  # interpolation and root finding in F_r stay cheap up to here
LAST_ROUND = load_params(get_curve(CURVE), 5).rounds - 1
COMMITMENT_NS = "state commitment/"

# What the adversary achieves: every constraint outside the Poseidon permutations; the S-boxes of
# the first round where an opening value enters (account, nonce, salt and collateral lanes of
# block 0, the two position lanes of block 1); the last three rounds of the final block.
ACHIEVED_KILLS = 619
EXPLANATION = """\
All survivors are S-box constraints inside the two Poseidon permutations of the state
commitment. Dropping one frees a single field element in the middle of a permutation; using it
means opening the ledger's commitment with another state, i.e. inverting a Poseidon permutation
that has one free internal value. Within one round a changed value reaches all five lanes, so
the search can only meet the ledger's trace where one input meets one S-box (round 0 of the
lane carrying it: killed) or solve for the free value from the digest: the digest is a
polynomial of degree 5^k (x2: 2*5^k) in it, k the S-box layers after it; k <= 2 (rounds 65-67
of block 1, degree <= 50) is solved by root finding and killed. Round 64 (degree 125-250) and
the next few partial rounds would fall to a bigger root finder; the ~55 partial rounds before
them (degree 5^k for k up to 64) and every round of block 0 after round 0 (its output is block
1's input: five lanes to match with one free value, the position lanes only able to absorb
in-range changes) are out of reach of any known efficient attack. Round
0's capacity lane in block 0 is a constant (domain tag and length): its three constraints only
recompute a constant (they could be folded away) and cannot carry an opening change, nor can
lanes 0, 3, 4 of block 1's round 0, which hold no opening value. So the survivors are not
redundant for Poseidon's security argument, which counts every S-box, and none is a bug in
the margin circuit: no constraint outside the hash survives."""


def _poseidon_internal(label: str) -> bool:
    return "/poseidon t=" in label


def _round_lane(label: str) -> tuple[int, int, int] | None:
    match = re.search(r"block (\d+)/poseidon t=5/(?:full|partial) round (\d+)/x\^\d \[(\d+)\]", label)
    return tuple(int(x) for x in match.groups()) if match else None  # type: ignore[return-value]


def _reachable_sbox(label: str) -> bool:
    """The S-boxes the module docstring says a cheater can exploit (and the search does)."""
    block, rnd, lane = _round_lane(label)  # type: ignore[misc]
    if rnd == 0:
        return (block == 0 and lane in (1, 2, 3, 4)) or (block == 1 and lane in (1, 2))
    return block == 1 and rnd >= LAST_ROUND - 2


def valid_opening(w: Witness) -> bool:
    """Is the witness's opening an in-bounds state that opens the commitment and is healthy?"""
    sizes = tuple(w.signed(f"state/size {m}") for m in range(M))
    costs = tuple(w.signed(f"state/cost {m}") for m in range(M))
    s = AccountState(w["account"], w["state/nonce"], w["state/salt"], w["state/collateral"], sizes, costs,
                     w["state/epoch"])
    try:
        s.validate(CURVE)
    except BoundError:
        return False
    prices = [w[f"price {m}"] for m in range(M)]
    rates = [w[f"maintenance rate {m}"] for m in range(M)]
    return commit(s, CURVE) == w["commitment"] and s.health_difference(prices, rates) >= 0


def _long_unhealthy(m: int) -> AccountState:
    sizes, costs = [0] * M, [0] * M
    sizes[m], costs[m] = 10, 10 * PRICES[m]
    short_by_one = 10 * PRICES[m] * RATES[m] // 1_000_000 - 1  # collateral one unit below maintenance
    return state(collateral=short_by_one, sizes=tuple(sizes), costs=tuple(costs))


def _short_unhealthy(m: int) -> AccountState:
    s = _long_unhealthy(m)
    return replace(s, sizes=tuple(-b for b in s.sizes), costs=tuple(-k for k in s.costs))


HEALTHY = state(collateral=10**9, sizes=(10, -3), costs=(900, -6300))


class Catalogue:
    def __init__(self) -> None:
        self.circuit = Margin(M)
        self.entries: list[tuple[str, Witness, set[int]]] = []
        self._cache: dict[tuple, Witness] = {}

    def synth(self, s: AccountState, **public: int) -> Witness:
        key = (s, tuple(sorted(public.items())))
        if key not in self._cache:
            cs = self.circuit.synthesize(CURVE, margin_inputs(s, PRICES, RATES, CURVE, **public))
            self._cache[key] = Witness(cs)
        return self._cache[key].clone()

    def add(self, name: str, w: Witness, pins: dict[str, int] | None = None, frozen: tuple[str, ...] = ()) -> None:
        pins = pins or {}
        for var, value in pins.items():
            w[var] = value
        w.propagate(fixed=[v for v in pins if v in w.index and w.index[v] > w.num_public], frozen=frozen)
        fixed = {w.var(v) for v in pins}
        self.entries.append((name, w, fixed))


def build_catalogue() -> Catalogue:
    cat = Catalogue()
    for m in range(M):
        size, cost = f"state/size {m}", f"state/cost {m}"
        unhealthy = _long_unhealthy(m)
        cat.add(f"unhealthy, long in market {m}", cat.synth(unhealthy))
        cat.add(f"|b| = -b: sign := -b, magnitude := 0 (market {m})", cat.synth(unhealthy),
                {f"{size} sign/sign": -10, f"{size} sign/offset magnitude": 0})
        cat.add(f"|b| = 0: sign := 0, magnitude := 0 (market {m})", cat.synth(unhealthy),
                {f"{size} sign/sign": 0, f"{size} sign/offset magnitude": 0})
        cat.add(f"|b| = -|b|: short, magnitude := r - |b| (market {m})", cat.synth(_short_unhealthy(m)),
                {f"{size} sign/sign": 0, f"{size} sign/offset magnitude": R - 10})
        sizes, costs = [0] * M, [0] * M
        sizes[m] = 1 << 40 if m == 0 else -(1 << 40) - 1
        costs[m] = sizes[m] * PRICES[m]
        cat.add(f"size {'2^40' if m == 0 else '-2^40 - 1'} out of range (market {m})",
                cat.synth(state(collateral=1 << 80, sizes=tuple(sizes), costs=tuple(costs))))
        costs = [0] * M
        costs[m] = 1 << 88 if m == 0 else -(1 << 88) - 1
        wide = state(collateral=1 << 95, sizes=(0,) * M, costs=tuple(costs))
        cat.add(f"cost {'2^88' if m == 0 else '-2^88 - 1'} out of range (market {m})", cat.synth(wide))
        cat.add(f"cost out of range, sign := -k, magnitude := 0 (market {m})", cat.synth(wide),
                {f"{cost} sign/sign": -costs[m], f"{cost} sign/offset magnitude": 0})
        cat.add(f"cost out of range, sign := 0, magnitude := 0 (market {m})", cat.synth(wide),
                {f"{cost} sign/sign": 0, f"{cost} sign/offset magnitude": 0})
        for v in range(VARIANTS):
            cat.add(f"cost {m} lowered on the ledger state's Poseidon trace (variant {v})", cat.synth(unhealthy),
                    {cost: unhealthy.costs[m] - 10**8 - 7919 * v}, frozen=(COMMITMENT_NS,))
    cat.add("collateral -1 wrapped to r - 1", cat.synth(state(collateral=-1, sizes=(10, 0), costs=(0, 0))))
    cat.add("collateral 2^96", cat.synth(state(collateral=1 << 96, sizes=(0,) * M)))
    cat.add("nonce 2^64", cat.synth(replace(HEALTHY, nonce=1 << 64)))
    cat.add("epoch 2^64", cat.synth(replace(HEALTHY, epoch=1 << 64)))
    unhealthy = _long_unhealthy(0)
    for v in range(VARIANTS):
        rich = replace(unhealthy, collateral=10**9 + 7919 * v)
        cat.add(f"healthy opening for an unhealthy commitment (variant {v})",
                cat.synth(rich, commitment=commit(unhealthy, CURVE)))
        cat.add(f"collateral raised on the ledger state's trace (variant {v})", cat.synth(unhealthy),
                {"state/collateral": 10**9 + 7919 * v}, frozen=(COMMITMENT_NS,))
        cat.add(f"nonce changed on the ledger state's trace (variant {v})", cat.synth(HEALTHY),
                {"state/nonce": HEALTHY.nonce + 1 + v}, frozen=(COMMITMENT_NS,))
        cat.add(f"salt changed on the ledger state's trace (variant {v})", cat.synth(HEALTHY),
                {"state/salt": HEALTHY.salt + 1 + 7919 * v}, frozen=(COMMITMENT_NS,))
        cat.add(f"another account on the ledger state's trace (variant {v})", cat.synth(HEALTHY),
                {"account": HEALTHY.account_id + 1 + v}, frozen=(COMMITMENT_NS,))
    return cat


@pytest.fixture(scope="module")
def mutation_run():
    started = time.perf_counter()
    cat = build_catalogue()
    template = cat.entries[0][1]
    n = len(template.rows)

    # Every catalogue witness is a false claim the full circuit rejects, even after repair.
    baseline_seen: dict[str, set[int]] = {}
    for name, w, fixed in cat.entries:
        assert not valid_opening(w), f"catalogue entry {name!r} is not a false claim"
        assert w.violated(), f"catalogue entry {name!r} satisfies the full circuit"
        attempt, seen = w.clone(), set()
        assert not attempt.repair(None, fixed, seen=seen), f"SOUNDNESS BUG: {name!r} repaired on the full circuit"
        baseline_seen[name] = seen

    killed: dict[int, tuple[str, Witness]] = {}
    for i in range(n):
        for name, w, fixed in cat.entries:
            # a search that never looked at constraint i fails with i dropped exactly as it did without
            if i not in baseline_seen[name]:
                continue
            attempt = w.clone()
            if attempt.repair(i, fixed) and not valid_opening(attempt):
                killed[i] = (name, attempt)
                break
    # deeper into the hash: solve for the dropped constraint's output as a polynomial unknown,
    # from the witnesses that break a single constraint after it
    single = [(name, w, fixed, w.violated()) for name, w, fixed in cat.entries]
    single = [(name, w, fixed, bad[0]) for name, w, fixed, bad in single if len(bad) == 1]
    for i in range(n):
        output = template._output_of(i)
        if i in killed or output is None:
            continue
        for name, w, fixed, target in single:
            degree = template.degree_in(output, target, MAX_DEGREE) if target > i else None
            if not degree or degree > MAX_DEGREE:
                continue
            attempt = w.clone()
            if attempt.algebraic_repair(i, fixed, max_degree=MAX_DEGREE) and not valid_opening(attempt):
                killed[i] = (f"{name}, solved algebraically", attempt)
                break
    elapsed = time.perf_counter() - started
    return cat, template, n, killed, elapsed


def test_mutation_score(mutation_run, capsys):
    _, template, n, killed, elapsed = mutation_run
    survivors = [i for i in range(n) if i not in killed]
    by_entry = Counter(re.sub(r" \(variant \d+\)", "", name) for name, _ in killed.values())
    groups = Counter(re.sub(r"round \d+", "round *", template.labels[i]) for i in survivors)
    with capsys.disabled():
        _report(n, killed, survivors, elapsed, template, by_entry, groups)
    assert len(killed) >= ACHIEVED_KILLS


def _report(n, killed, survivors, elapsed, template, by_entry, groups) -> None:
    print(f"\nmutation score (margin, M={M}, {CURVE}): {len(killed)}/{n} killed "
          f"({100 * len(killed) / n:.1f}%), {len(survivors)} survivors, {elapsed:.1f} s")
    non_hash = [i for i in range(n) if not _poseidon_internal(template.labels[i])]
    print(f"  outside the Poseidon permutations: {sum(i in killed for i in non_hash)}/{len(non_hash)} killed")
    print("  kills by catalogue entry:")
    for name, count in by_entry.most_common():
        print(f"    {count:4d}  {name}")
    print("  survivors (round numbers folded):")
    for label, count in sorted(groups.items()):
        print(f"    {count:4d}  {label}")
    print(EXPLANATION)


def test_every_constraint_outside_poseidon_is_load_bearing(mutation_run):
    """Range checks, sign decompositions, products, digest, opening and health: all killed."""
    _, template, n, killed, _ = mutation_run
    missed = [template.labels[i] for i in range(n) if not _poseidon_internal(template.labels[i]) and i not in killed]
    assert not missed, missed


def test_reachable_poseidon_sboxes_are_killed_and_only_deep_ones_survive(mutation_run):
    _, template, n, killed, _ = mutation_run
    for i in range(n):
        label = template.labels[i]
        if _poseidon_internal(label):
            assert (i in killed) == _reachable_sbox(label), label


def test_kills_hold_under_the_library_checker(mutation_run):
    """Each killing witness, written into the real ConstraintSystem minus constraint i, satisfies it."""
    _, template, _, killed, _ = mutation_run
    cs = template.cs
    for i, (name, w) in killed.items():
        w.write_back(cs)
        mutant = drop(cs, i)
        assert mutant.first_unsatisfied() is None, (i, name)
        assert cs.first_unsatisfied() is not None and cs.first_unsatisfied()[0] == i, (i, name)
