"""Portfolio (scenario) margin: books that cover every published scenario pass, every cheat fails.

As in test_margin, each cheat is shown to fail *only* at the constraint that must stop it, so
each assertion would fail if that constraint were removed. The books are the risk module's
(docs/protocol.md §10.3): BTC at 60 000, 60 % volatility, calls 30 days from expiry.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from circuits.margin import Margin
from circuits.portfolio import (
    DIGEST_LABEL,
    MAX_SCENARIOS,
    UNMOVED_LABEL,
    PortfolioMargin,
    risk_arrays_from_json,
    risk_domain,
    scenario_label,
)
from circuits.protocol.risk import Future, MarketInputs, Option, OptionRight, epoch_risk_arrays
from circuits.protocol.risk.instruments import instrument_to_dict
from circuits.protocol.risk.scenarios import (
    EpochRiskArrays,
    RiskArray,
    equity_at_marks,
    flat_rate_requirement,
    portfolio_risk,
)
from circuits.state import MAX_MARKETS, BoundError
from tests.circuits.adversary import drop
from tests.circuits.helpers import CURVES, EPOCH, assert_only_fails_at, commit, margin_inputs, state
from zkmargin.constraints import ConstraintSystem
from zkmargin.curves import get_curve
from zkmargin.errors import MalformedInputError, UnsatisfiedError
from zkmargin.groth16 import prove, setup, verify

NOW = 1_700_000_000
DAY = 86_400
BTC = 60_000 * 10**6  # collateral units per base unit (1 BTC)
MAINTENANCE = 50_000  # the flat rate the comparison uses: 5 %
FUTURE = Future(0)
ITM_CALL = Option(0, OptionRight.CALL, 40_000 * 10**6, NOW + 30 * DAY)  # delta ~ 0.99
ATM_CALL = Option(0, OptionRight.CALL, BTC, NOW + 30 * DAY)
INSTRUMENTS = [FUTURE, ITM_CALL, ATM_CALL]
HEDGED = (1, -1, 0)  # long 1 perpetual, short 1 deep in-the-money call
NAKED = (0, 0, -1)  # short 1 at-the-money call, nothing else


def published(vol: int = 600_000, epoch: int = EPOCH, instruments=INSTRUMENTS) -> EpochRiskArrays:
    return epoch_risk_arrays(epoch, instruments, {0: MarketInputs(BTC, vol)}, NOW)


RISK = published()
MARKS = [a.mark for a in RISK.arrays]


def book(sizes, collateral: int, **changes):
    """A state holding ``sizes``, opened at the marks (so its equity at the marks is its collateral)."""
    return state(collateral=collateral, sizes=tuple(sizes), costs=tuple(b * m for b, m in zip(sizes, MARKS)), **changes)


def requirement(sizes, risk: EpochRiskArrays = RISK) -> int:
    return portfolio_risk(risk.arrays, list(sizes)).requirement


def inputs(s, curve, *, risk: EpochRiskArrays = RISK, witness_risk: EpochRiskArrays | None = None,
           marks=None, digest=None, commitment=None, account=None, epoch=None) -> dict:
    """Proving inputs written by hand: the public part is what the verifier would build unless
    overridden; ``witness_risk`` is what the prover feeds the circuit (the published arrays by default)."""
    return {
        "public": {
            "account": s.account_id if account is None else account,
            "commitment": commit(s, curve) if commitment is None else commitment,
            "epoch": risk.epoch if epoch is None else epoch,
            "marks": [a.mark for a in risk.arrays] if marks is None else list(marks),
            "risk_digest": risk.digest(curve) if digest is None else digest,
        },
        "state": s,
        "risk": risk if witness_risk is None else witness_risk,
    }


def synth(s, curve, **overrides) -> ConstraintSystem:
    return PortfolioMargin(s.markets).synthesize(curve, inputs(s, curve, **overrides))


def honest(s, curve, risk: EpochRiskArrays = RISK) -> ConstraintSystem:
    circuit = PortfolioMargin(s.markets)
    return circuit.synthesize(curve, circuit.assignment(s, risk, curve))


def with_array(risk: EpochRiskArrays, i: int, **changes) -> EpochRiskArrays:
    arrays = list(risk.arrays)
    arrays[i] = replace(arrays[i], **changes)
    return replace(risk, arrays=tuple(arrays))


# --- the digest and the layout ---------------------------------------------------------------

@pytest.mark.parametrize("curve", CURVES)
def test_the_circuit_recomputes_the_risk_modules_digest(curve):
    cs = honest(book(HEDGED, 10**12), curve)
    assert cs.is_satisfied()
    assert cs.public_values()[-1] == RISK.digest(curve) % get_curve(curve).r
    assert risk_domain(get_curve(curve)) == RISK.domain(get_curve(curve).name)


def test_the_digest_exists_at_the_largest_shape_on_both_curves():
    # regression: the sponge tag once carried the shape, and "zkm/risk1/bls12381/16x16" is too long
    arrays = tuple(RiskArray(FUTURE, BTC, 0, (i,) * MAX_SCENARIOS) for i in range(MAX_MARKETS))
    big = EpochRiskArrays(EPOCH, arrays, tuple(published().scenarios[:1]) * MAX_SCENARIOS)
    assert big.digest("bls12381") != big.digest("bn128")


def test_public_layout_and_bounds():
    circuit = PortfolioMargin(3)
    cs = circuit.synthesize("bn128")
    assert cs.public_names == ["account", "commitment", "epoch", "mark 0", "mark 1", "mark 2", "risk digest"]
    assert circuit.public_count() == cs.num_public
    assert circuit.key_name() == "portfolio-markets3-scenarios16"
    good = {"account": 7, "commitment": 1, "epoch": EPOCH, "marks": [0, 1, (1 << 50) - 1], "risk_digest": 5}
    assert len(circuit.public_vector(good, "bn128")) == 7
    with pytest.raises(BoundError, match="mark of market 2"):
        circuit.public_vector({**good, "marks": [0, 1, 1 << 50]}, "bn128")
    with pytest.raises(BoundError, match="risk digest"):
        circuit.public_vector({**good, "risk_digest": get_curve("bn128").r}, "bn128")
    with pytest.raises(BoundError, match="scenarios must be 1..64"):
        PortfolioMargin(1, scenarios=0)


def test_the_builder_refuses_arrays_of_another_shape():
    with pytest.raises(BoundError, match="3 instruments x 16 scenarios, the circuit 2 x 16"):
        PortfolioMargin(2).assignment(book((1, 0), 10**12), RISK, "bn128")


# --- the audit ---------------------------------------------------------------------------------

@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("markets", [1, 4])
def test_audit_is_clean(markets, curve):
    report = PortfolioMargin(markets).synthesize(curve).audit()
    assert report.ok, report.as_dict()
    assert report.existential == []


def test_audit_notices_the_missing_digest_check():
    cs = PortfolioMargin(1).synthesize("bn128")
    index = next(i for i, c in enumerate(cs.constraints) if c.label == DIGEST_LABEL)
    assert cs.audit().ok
    assert not drop(cs, index).audit().ok


# --- honest books and the boundary ---------------------------------------------------------------

@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("sizes", [(0, 0, 0), HEDGED, NAKED, (3, 2, -5), (-2, 1, 1)])
def test_books_with_exactly_their_requirement_pass_and_one_unit_less_fails(curve, sizes):
    needed = requirement(sizes)
    at = book(sizes, needed)
    assert portfolio_risk(RISK.arrays, list(sizes)).surplus(equity_at_marks(needed, sizes, at.costs, RISK.arrays)) == 0
    assert honest(at, curve).is_satisfied()
    if needed == 0:
        return
    short = book(sizes, needed - 1)
    with pytest.raises(BoundError, match="below portfolio margin in .* by 1 collateral units"):
        PortfolioMargin(3).assignment(short, RISK, curve)
    worst = portfolio_risk(RISK.arrays, list(sizes)).worst_scenario
    where = UNMOVED_LABEL if worst is None else scenario_label(worst)
    labels = assert_only_fails_at(synth(short, curve), *(scenario_label(s) for s in range(16)), UNMOVED_LABEL)
    assert any(where in label for label in labels)


@pytest.mark.parametrize("curve", CURVES)
def test_a_book_that_gains_in_every_scenario_earns_no_credit(curve):
    # a made-up instrument that gains 5 in every scenario: equity -1 covers every scenario, not
    # the unmoved book
    gains = EpochRiskArrays(EPOCH, (RiskArray(FUTURE, 100, 0, (5,) * 16),), RISK.scenarios)
    s = state(collateral=0, sizes=(1,), costs=(101,))  # E = 1 * 100 - 101 = -1
    labels = assert_only_fails_at(synth(s, curve, risk=gains), UNMOVED_LABEL)
    assert labels
    assert honest(replace(s, collateral=1), curve, gains).is_satisfied()


# --- cheats, each pinned to the constraint that stops it ---------------------------------------

SHORT_BY_ONE = book(HEDGED, requirement(HEDGED) - 1)
WORST = portfolio_risk(RISK.arrays, list(HEDGED)).worst_scenario


@pytest.mark.parametrize("curve", CURVES)
def test_a_scenario_skipped_is_caught_by_the_digest(curve):
    assert WORST is not None
    assert_only_fails_at(synth(SHORT_BY_ONE, curve), scenario_label(WORST))
    # the cheater replaces the worst scenario of the future by the unmoved one (P&L 0)
    pnl = list(RISK.arrays[0].pnl)
    pnl[WORST] = pnl[0]
    skipped = with_array(RISK, 0, pnl=tuple(pnl))
    assert portfolio_risk(skipped.arrays, list(HEDGED)).requirement < requirement(HEDGED)
    assert_only_fails_at(synth(SHORT_BY_ONE, curve, witness_risk=skipped), DIGEST_LABEL)


@pytest.mark.parametrize("curve", CURVES)
def test_the_arrays_of_a_calmer_market_are_caught_by_the_digest(curve):
    calm = published(vol=200_000)
    assert calm.digest(curve) != RISK.digest(curve)
    # the book covers the calm arrays, not the published ones
    s = book(HEDGED, requirement(HEDGED) - 1)
    assert portfolio_risk(calm.arrays, list(HEDGED)).surplus(equity_at_marks(s.collateral, s.sizes, s.costs,
                                                                              calm.arrays)) >= 0
    assert_only_fails_at(synth(s, curve, witness_risk=calm, marks=MARKS), DIGEST_LABEL)
    # with the calm digest as public input as well, the proof would be of another statement:
    # see test_groth16_proofs_are_bound_to_the_published_arrays


@pytest.mark.parametrize("curve", CURVES)
def test_another_epochs_digest_is_caught(curve):
    # the same integers published for the epoch before: the digest absorbs the public epoch, so
    # last epoch's digest does not open for this one
    older = published(epoch=EPOCH - 1)
    assert older.digest(curve) != RISK.digest(curve)
    s = book(HEDGED, requirement(HEDGED))
    assert_only_fails_at(synth(s, curve, digest=older.digest(curve)), DIGEST_LABEL)
    assert synth(s, curve, risk=older).is_satisfied()  # in its own epoch it holds


@pytest.mark.parametrize("curve", CURVES)
def test_a_misstated_mark_is_caught_by_the_digest(curve):
    # the short call marked 1 000 lower: the book's equity at the marks rises by 1 000
    marks = [MARKS[0], MARKS[1] - 1_000 * 10**6, MARKS[2]]
    lowered = with_array(RISK, 1, mark=marks[1])
    s = SHORT_BY_ONE
    assert equity_at_marks(s.collateral, s.sizes, s.costs, lowered.arrays) > s.collateral
    assert_only_fails_at(synth(s, curve, marks=marks, witness_risk=lowered), DIGEST_LABEL)


@pytest.mark.parametrize("curve", CURVES)
def test_an_omitted_short_option_charge_is_caught_by_the_digest(curve):
    charge = RISK.arrays[2].short_charge
    assert charge == BTC // 100  # 1 % of the underlying
    s = book(NAKED, requirement(NAKED) - charge)  # covers every scenario, not the charge
    worst = portfolio_risk(RISK.arrays, list(NAKED)).worst_scenario
    assert worst is not None
    assert_only_fails_at(synth(s, curve), scenario_label(worst))  # short of the charge in the worst one
    uncharged = with_array(RISK, 2, short_charge=0)
    assert_only_fails_at(synth(s, curve, witness_risk=uncharged), DIGEST_LABEL)


@pytest.mark.parametrize("curve", CURVES)
def test_a_long_option_pays_no_short_charge(curve):
    # the charge reads the negative part of the size: a long call at zero requirement-slack passes
    sizes = (0, 0, 1)
    s = book(sizes, requirement(sizes))
    assert portfolio_risk(RISK.arrays, list(sizes)).short_option_charge == 0
    assert honest(s, curve).is_satisfied()


@pytest.mark.parametrize("curve", CURVES)
def test_a_state_other_than_the_committed_one(curve):
    committed = SHORT_BY_ONE
    richer = replace(committed, collateral=committed.collateral + 10**9)
    assert_only_fails_at(synth(richer, curve, commitment=commit(committed, curve)),
                         "state commitment opens to the state")
    naked = book(NAKED, 5_000 * 10**6)  # below portfolio margin: the cheater hides the short call
    hidden = replace(naked, sizes=(0, 0, 0), costs=(0, 0, 0))
    assert_only_fails_at(synth(hidden, curve, commitment=commit(naked, curve)),
                         "state commitment opens to the state")


# --- against the flat rate, with real Groth16 proofs on BLS12-381 ---------------------------------

@pytest.fixture(scope="module")
def keys():
    return {
        "portfolio": setup(PortfolioMargin(3).shape("bls12381"), insecure_test_seed=131),
        "margin": setup(Margin(3).shape("bls12381"), insecure_test_seed=132),
    }


def flat(s, curve="bls12381"):
    """The flat-rate statement on the same state: an option is a linear contract at its mark."""
    return Margin(3).assignment(s, EPOCH, MARKS, [MAINTENANCE] * 3, curve)


def test_a_hedged_book_proves_portfolio_margin_where_the_flat_rate_refuses(keys):
    collateral = 2_000 * 10**6
    s = book(HEDGED, collateral)
    assert requirement(HEDGED) < collateral < s.requirement(MARKS, [MAINTENANCE] * 3) // 10**6
    assert collateral < flat_rate_requirement(RISK.arrays, list(HEDGED), [BTC] * 3, [MAINTENANCE] * 3)
    cs = honest(s, "bls12381")
    proof = prove(keys["portfolio"], cs)
    public = PortfolioMargin(3).public_inputs_for(s.account_id, commit(s, "bls12381"), RISK, "bls12381")
    assert cs.public_values() == public and verify(keys["portfolio"].vk, public, proof)
    with pytest.raises(BoundError, match="below maintenance margin"):
        flat(s)
    forced = Margin(3).synthesize("bls12381", margin_inputs(s, MARKS, [MAINTENANCE] * 3, "bls12381"))
    assert_only_fails_at(forced, "maintenance margin holds")
    with pytest.raises(UnsatisfiedError):
        prove(keys["margin"], forced)


def test_a_naked_short_call_proves_flat_rate_margin_where_portfolio_refuses(keys):
    collateral = 5_000 * 10**6
    s = book(NAKED, collateral)
    assert s.requirement(MARKS, [MAINTENANCE] * 3) // 10**6 < collateral < requirement(NAKED)
    assert flat_rate_requirement(RISK.arrays, list(NAKED), [BTC] * 3, [MAINTENANCE] * 3) < collateral
    cs = Margin(3).synthesize("bls12381", flat(s))
    assert verify(keys["margin"].vk, cs.public_values(), prove(keys["margin"], cs))
    with pytest.raises(BoundError, match="below portfolio margin in scenario 10"):
        PortfolioMargin(3).assignment(s, RISK, "bls12381")
    forced = synth(s, "bls12381")
    assert_only_fails_at(forced, *(scenario_label(x) for x in range(16)), UNMOVED_LABEL)
    with pytest.raises(UnsatisfiedError):
        prove(keys["portfolio"], forced)


def test_groth16_proofs_are_bound_to_the_published_arrays(keys):
    s = book(HEDGED, 2_000 * 10**6)
    cs = honest(s, "bls12381")
    public = cs.public_values()
    proof = prove(keys["portfolio"], cs)
    assert verify(keys["portfolio"].vk, public, proof)
    calm = published(vol=200_000)
    for what, index, value in [
        ("another account", 0, s.account_id + 1),
        ("another commitment", 1, commit(replace(s, nonce=s.nonce + 1), "bls12381")),
        ("another epoch", 2, EPOCH + 1),
        ("a lower mark for the short call", 4, MARKS[1] - 1),
        ("the digest of calmer arrays", 6, calm.digest("bls12381")),
    ]:
        forged = list(public)
        forged[index] = value
        assert not verify(keys["portfolio"].vk, forged, proof), what


# --- input.json ----------------------------------------------------------------------------------

def risk_to_json(risk: EpochRiskArrays) -> dict:
    return {"epoch": risk.epoch, "arrays": [
        {"instrument": instrument_to_dict(a.instrument), "mark": str(a.mark), "short_charge": a.short_charge,
         "pnl": [str(p) for p in a.pnl]} for a in risk.arrays]}


def test_prepare_reads_the_published_arrays():
    s = book(HEDGED, 10**12)
    data = {"state": {"account_id": s.account_id, "nonce": s.nonce, "salt": s.salt, "collateral": s.collateral,
                      "sizes": list(s.sizes), "costs": list(s.costs), "epoch": s.epoch},
            "risk": risk_to_json(RISK)}
    assert risk_arrays_from_json(data["risk"]) == RISK
    prepared = PortfolioMargin(3).prepare(data, get_curve("bn128"))
    assert prepared.successor is None
    assert PortfolioMargin(3).synthesize("bn128", prepared.inputs).is_satisfied()
    bad = risk_to_json(RISK)
    bad["arrays"][0]["pnl"][3] = str(1 << 50)
    with pytest.raises(MalformedInputError, match="scenario 3 P&L"):
        risk_arrays_from_json(bad)
    with pytest.raises(MalformedInputError, match="missing 'arrays'"):
        risk_arrays_from_json({"epoch": 1})


# --- the bounds the no-wrap argument relies on, each pinned to its range check ------------------

@pytest.mark.parametrize("curve", CURVES)
def test_collateral_wrapped_around_the_field_is_stopped_by_its_range(curve):
    # negative collateral beside 10^13 of unrealized profit: every scenario would hold
    hedged = book(HEDGED, 0)
    profit = replace(hedged, costs=(hedged.costs[0] - 10**13, *hedged.costs[1:]))
    for collateral in (-1, get_curve(curve).r - 1):
        cheat = replace(profit, collateral=collateral)
        assert_only_fails_at(synth(cheat, curve, commitment=commit(cheat, curve)), "state/collateral range")


@pytest.mark.parametrize("curve", CURVES)
def test_a_size_beyond_the_state_bound_is_stopped_by_its_range(curve):
    rich = book(HEDGED, 10**12)
    sizes = ((1 << 40) + 1, *rich.sizes[1:])
    big = replace(rich, sizes=sizes)
    assert_only_fails_at(synth(big, curve, commitment=commit(big, curve)), "state/size 0 sign/magnitude range")
