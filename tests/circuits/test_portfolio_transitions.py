"""Withdrawals and fills in portfolio mode: the scenario rule at the initial-margin factor.

As in test_portfolio, every cheat fails *only* at the constraint that must stop it (so the
assertion would fail were that constraint removed), and honest transitions prove and verify
with real Groth16 keys. The books are test_portfolio's: BTC at 60 000, a perpetual, a deep
in-the-money call and an at-the-money call, 30 days from expiry.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from circuits import get_circuit
from circuits.portfolio import DIGEST_LABEL
from circuits.portfolio_transitions import (
    FLOOR_LABEL,
    INITIAL_BITS,
    ROUTE_NEEDS_REDUCTION,
    PortfolioFill,
    PortfolioTransfer,
    initial_label,
)
from circuits.protocol.risk import Option, OptionRight
from circuits.protocol.risk.scenarios import EpochRiskArrays, equity_at_marks, portfolio_risk
from circuits.state import BoundError, Fill
from tests.circuits.helpers import CURVES, EPOCH, applied, assert_only_fails_at, commit, fill_commit, successor
from tests.circuits.test_portfolio import BTC, HEDGED, MARKS, NAKED, NOW, RISK, book, published, with_array
from zkmargin.curves import get_curve
from zkmargin.errors import MalformedInputError
from zkmargin.groth16 import prove, setup, verify

ALPHA = 1_250_000  # the default initial-margin factor, 1.25x
ALL_VALUES = [initial_label(t) for t in range(17)]


def requirement(sizes, risk: EpochRiskArrays = RISK) -> int:
    return portfolio_risk(risk.arrays, list(sizes)).requirement


def initial_requirement(sizes, risk: EpochRiskArrays = RISK, factor: int = ALPHA) -> int:
    return portfolio_risk(risk.arrays, list(sizes)).initial_requirement(factor)


def worst_label(sizes, risk: EpochRiskArrays = RISK) -> str:
    worst = portfolio_risk(risk.arrays, list(sizes)).worst_scenario
    return initial_label(0 if worst is None else worst + 1)


def risk_public(risk: EpochRiskArrays, curve: str, factor: int) -> dict:
    return {"marks": [a.mark for a in risk.arrays], "risk_digest": risk.digest(curve), "initial_factor": factor}


def transfer_inputs(old, amount, curve, *, risk=RISK, witness_risk=None, factor=ALPHA, digest=None) -> dict:
    """A transfer's proving inputs written by hand (no builder checks): what a cheater feeds the circuit."""
    new = successor(old, collateral=old.collateral + amount, epoch=risk.epoch)
    public = {"account": old.account_id, "old_commitment": commit(old, curve), "new_commitment": commit(new, curve),
              "amount": amount % get_curve(curve).r, "epoch": risk.epoch, **risk_public(risk, curve, factor)}
    if digest is not None:
        public["risk_digest"] = digest
    return {"public": public, "state": old, "new_salt": new.salt, "risk": witness_risk or risk}


def fill_inputs(old, fill, curve, *, route: int, floor: int, risk=RISK, factor=ALPHA) -> dict:
    new = applied(old, fill, epoch=risk.epoch)
    r = get_curve(curve).r
    public = {"account": old.account_id, "old_commitment": commit(old, curve), "new_commitment": commit(new, curve),
              "fill_commitment": fill_commit(fill, curve), "epoch": risk.epoch, **risk_public(risk, curve, factor)}
    return {"public": public, "state": old, "fill": fill, "new_salt": new.salt, "risk": risk, "route": route,
            "floor": floor % r}


def synth_transfer(old, amount, curve, **kw):
    return PortfolioTransfer(old.markets).synthesize(curve, transfer_inputs(old, amount, curve, **kw))


def synth_fill(old, fill, curve, **kw):
    return PortfolioFill(old.markets).synthesize(curve, fill_inputs(old, fill, curve, **kw))


def surplus(s, risk: EpochRiskArrays = RISK) -> int:
    return portfolio_risk(risk.arrays, list(s.sizes)).surplus(equity_at_marks(s.collateral, s.sizes, s.costs,
                                                                              risk.arrays))


def buy(market: int, size: int, price: int, fee: int = 0) -> Fill:
    return Fill(7, 1, market, size, price, fee, salt=99)


# --- layout, bounds, audit -----------------------------------------------------------------------

def test_public_layouts_key_names_and_the_factors_bound():
    transfer, fill = PortfolioTransfer(3), PortfolioFill(3, escrow=True)
    assert transfer.synthesize("bn128").public_names == [
        "account", "old commitment", "new commitment", "amount", "epoch", "mark 0", "mark 1", "mark 2",
        "risk digest", "initial factor"]
    assert [e.key for e in fill.public_layout][:9] == [
        "account", "old_commitment", "new_commitment", "fill_commitment", "epoch", "marks", "risk_digest",
        "initial_factor", "escrow_key_x"]
    assert transfer.key_name() == "portfolio-transfer-markets3-scenarios16"
    assert fill.key_name() == "portfolio-fill-markets3-scenarios16-escrow"
    assert get_circuit("portfolio-fill", markets=2, scenarios=4).parameters() == {"markets": 2, "scenarios": 4}
    assert INITIAL_BITS == 122
    s = book(HEDGED, 10**12)
    for factor in (999_999, 10_000_001):
        with pytest.raises(BoundError, match="initial factor"):
            transfer.public_vector({**transfer_inputs(s, -1, "bn128", factor=factor)["public"], "amount": -1},
                                   "bn128")
    with pytest.raises(BoundError, match="3 instruments x 16 scenarios, the circuit 2 x 16"):
        PortfolioTransfer(2).transition(book((1, 0), 10**12), -1, RISK, ALPHA, "bn128")


@pytest.mark.parametrize("curve", CURVES)
def test_audit_is_clean_and_only_the_fills_route_and_floor_are_existential(curve):
    transfer = PortfolioTransfer(2).synthesize(curve).audit()
    assert transfer.ok and transfer.existential == [], transfer.as_dict()
    fill = PortfolioFill(2).synthesize(curve).audit()
    assert fill.ok and fill.undetermined == [], fill.as_dict()
    assert fill.existential == ["route/fill route", "route/floor"]


# --- withdrawals --------------------------------------------------------------------------------

@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("sizes", [HEDGED, NAKED, (3, 2, -5)])
def test_a_withdrawal_down_to_exactly_initial_margin_passes_and_one_unit_more_is_refused(curve, sizes):
    needed = initial_requirement(sizes)
    assert needed > requirement(sizes)  # the factor asks more than maintenance
    s = book(sizes, needed + 1_000)
    circuit = PortfolioTransfer(3)
    new, inputs = circuit.transition(s, -1_000, RISK, ALPHA, curve)
    assert new.collateral == needed and circuit.synthesize(curve, inputs).is_satisfied()
    with pytest.raises(BoundError, match=r"scenario \d+ \(price .*\) short by 1 collateral units"):
        circuit.transition(s, -1_001, RISK, ALPHA, curve)
    assert_only_fails_at(synth_transfer(s, -1_001, curve), worst_label(sizes))


def test_the_refusal_names_the_scenario_and_the_shortfall():
    s = book(NAKED, initial_requirement(NAKED))
    with pytest.raises(BoundError, match=r"below initial portfolio margin: scenario 10 \(price \+1 x range, vol up\) "
                                         r"short by 500 collateral units at the initial factor 1250000"):
        PortfolioTransfer(3).transition(s, -500, RISK, ALPHA, "bn128")


@pytest.mark.parametrize("curve", CURVES)
def test_a_withdrawal_that_meets_maintenance_but_not_initial_margin_is_stopped(curve):
    s = book(NAKED, requirement(NAKED) + 10**6)
    cheat = synth_transfer(s, -10**6, curve)  # leaves exactly the maintenance requirement
    labels = assert_only_fails_at(cheat, *ALL_VALUES)  # every scenario within 1.25x of the worst fails
    assert any(worst_label(NAKED) in label for label in labels)
    # the factor misapplied (maintenance's 10^6 for the configured 1.25x) is another statement:
    # the verifier builds the public input from its own configuration (test_groth16_... below)
    assert synth_transfer(s, -10**6, curve, factor=10**6).is_satisfied()


@pytest.mark.parametrize("curve", CURVES)
def test_a_deposit_needs_no_margin(curve):
    s = book(NAKED, 0)  # far below every requirement
    new, inputs = PortfolioTransfer(3).transition(s, 5, RISK, ALPHA, curve)
    assert new.collateral == 5 and PortfolioTransfer(3).synthesize(curve, inputs).is_satisfied()


@pytest.mark.parametrize("curve", CURVES)
def test_a_scenario_skipped_or_other_arrays_are_caught_by_the_digest(curve):
    s = book(HEDGED, initial_requirement(HEDGED))
    worst = portfolio_risk(RISK.arrays, list(HEDGED)).worst_scenario
    assert worst is not None
    assert_only_fails_at(synth_transfer(s, -1, curve), worst_label(HEDGED))
    pnl = list(RISK.arrays[0].pnl)
    pnl[worst] = 0  # the future's worst scenario, skipped
    skipped = with_array(RISK, 0, pnl=tuple(pnl))
    assert_only_fails_at(synth_transfer(s, -1, curve, witness_risk=skipped), DIGEST_LABEL)
    calm = published(vol=200_000)
    assert_only_fails_at(synth_transfer(s, -1, curve, witness_risk=calm), DIGEST_LABEL)
    older = published(epoch=EPOCH - 1)  # last epoch's digest does not open for this epoch
    honest = replace(s, collateral=s.collateral + 1)
    assert synth_transfer(honest, -1, curve).is_satisfied()
    assert_only_fails_at(synth_transfer(honest, -1, curve, digest=older.digest(curve)), DIGEST_LABEL)


# --- fills ---------------------------------------------------------------------------------------

SHORT_TWO = (0, 0, -2)  # two naked at-the-money calls
CALL = 2


@pytest.mark.parametrize("curve", CURVES)
def test_a_fill_that_keeps_initial_margin_takes_route_0(curve):
    s = book(NAKED, 10**12)
    new, inputs = PortfolioFill(3).transition(s, buy(0, 1, BTC), RISK, ALPHA, curve)
    assert inputs["route"] == 0 and PortfolioFill(3).synthesize(curve, inputs).is_satisfied()


@pytest.mark.parametrize("curve", CURVES)
def test_a_risk_reducing_fill_below_initial_margin_takes_route_1(curve):
    # two short calls with the maintenance requirement of one: buying one back at its mark
    # leaves the book below initial margin, but its surplus rises
    s = book(SHORT_TWO, requirement(NAKED))
    fill = buy(CALL, 1, MARKS[CALL])
    new, inputs = PortfolioFill(3).transition(s, fill, RISK, ALPHA, curve)
    assert surplus(new) > surplus(s) and inputs["route"] == 1
    assert PortfolioFill(3).synthesize(curve, inputs).is_satisfied()
    # on route 0 the same fill fails the initial check, exactly there
    route0 = synth_fill(s, fill, curve, route=0, floor=surplus(s))
    assert_only_fails_at(route0, *ALL_VALUES)


@pytest.mark.parametrize("curve", CURVES)
def test_a_floor_below_every_old_value_is_caught(curve):
    # a fee that takes the surplus below the old one: the cheater lowers the floor to match
    s = book(SHORT_TWO, requirement(NAKED) + 2 * 10**9)
    fill = buy(CALL, 1, MARKS[CALL], fee=requirement(NAKED) + 10**6)  # 10^6 more than the call releases
    new = applied(s, fill)
    assert surplus(new) < surplus(s)
    with pytest.raises(BoundError, match="lower the portfolio surplus by"):
        PortfolioFill(3).transition(s, fill, RISK, ALPHA, curve)
    assert_only_fails_at(synth_fill(s, fill, curve, route=1, floor=surplus(s)), *ALL_VALUES)
    assert_only_fails_at(synth_fill(s, fill, curve, route=1, floor=surplus(new)), FLOOR_LABEL)


@pytest.mark.parametrize("curve", CURVES)
def test_a_fill_that_is_neither_is_caught(curve):
    # a naked short call below initial margin buys a future: the hedge raises the surplus, but
    # |b| grows, so route 1 is closed and route 0 fails the initial check
    s = book(NAKED, requirement(NAKED))
    fill = buy(0, 1, BTC)
    new = applied(s, fill)
    assert surplus(new) >= surplus(s)
    with pytest.raises(BoundError, match=r"below initial portfolio margin: (scenario \d+|the unmoved book)"):
        PortfolioFill(3).transition(s, fill, RISK, ALPHA, curve)
    assert_only_fails_at(synth_fill(s, fill, curve, route=1, floor=surplus(s)), ROUTE_NEEDS_REDUCTION)
    assert_only_fails_at(synth_fill(s, fill, curve, route=0, floor=surplus(s)), *ALL_VALUES)
    # and a risk-increasing fill that leaves initial margin short: another short call
    more = buy(CALL, -1, MARKS[CALL])
    with pytest.raises(BoundError, match="short by"):
        PortfolioFill(3).transition(s, more, RISK, ALPHA, curve)
    assert_only_fails_at(synth_fill(s, more, curve, route=0, floor=surplus(s)), *ALL_VALUES)


@pytest.mark.parametrize("curve", CURVES)
def test_a_route_bit_that_is_not_a_bit_is_caught(curve):
    s = book(SHORT_TWO, requirement(NAKED))
    fill = buy(CALL, 1, MARKS[CALL])
    labels = assert_only_fails_at(synth_fill(s, fill, curve, route=2, floor=surplus(s)), "fill route is boolean",
                                  *ALL_VALUES)
    assert any("fill route is boolean" in label for label in labels)


def test_prepare_reads_input_json():
    from tests.circuits.test_portfolio import risk_to_json

    s = book(HEDGED, 10**12)
    state_json = {"account_id": s.account_id, "nonce": s.nonce, "salt": s.salt, "collateral": s.collateral,
                  "sizes": list(s.sizes), "costs": list(s.costs), "epoch": s.epoch}
    curve = get_curve("bn128")
    data = {"state": state_json, "amount": -5, "risk": risk_to_json(RISK), "initial_factor": ALPHA}
    prepared = PortfolioTransfer(3).prepare(data, curve)
    assert prepared.successor is not None and prepared.successor.collateral == s.collateral - 5
    fill = {"account_id": 7, "fill_id": 1, "market": 0, "size_delta": 1, "price": BTC, "fee": 0, "salt": 5}
    prepared = PortfolioFill(3).prepare({**data, "fill": fill}, curve)
    assert PortfolioFill(3).synthesize(curve, prepared.inputs).is_satisfied()
    with pytest.raises(MalformedInputError, match="initial-margin factor"):
        PortfolioTransfer(3).prepare({**data, "initial_factor": 10}, curve)


# --- real Groth16 proofs on BLS12-381, one instrument -------------------------------------------

ONE = published(instruments=[Option(0, OptionRight.CALL, BTC, NOW + 30 * 86_400)])


@pytest.fixture(scope="module")
def keys():
    return {"transfer": setup(PortfolioTransfer(1).shape("bls12381"), insecure_test_seed=141),
            "fill": setup(PortfolioFill(1).shape("bls12381"), insecure_test_seed=142)}


def one_call_book(size: int, collateral: int):
    mark = ONE.arrays[0].mark
    return replace(book((0, 0, 0), 0), sizes=(size,), costs=(size * mark,), collateral=collateral)


def test_groth16_withdrawal_is_bound_to_the_factor_and_the_arrays(keys):
    s = one_call_book(-1, 10**12)
    circuit = PortfolioTransfer(1)
    new, inputs = circuit.transition(s, -10**6, ONE, ALPHA, "bls12381")
    cs = circuit.synthesize("bls12381", inputs)
    proof = prove(keys["transfer"], cs)
    public = circuit.public_inputs(s.account_id, commit(s, "bls12381"), commit(new, "bls12381"), -10**6, ONE,
                                   ALPHA, "bls12381")
    assert cs.public_values() == public and verify(keys["transfer"].vk, public, proof)
    for what, index, value in [("maintenance's factor", -1, 10**6), ("another digest", -2, RISK.digest("bls12381")),
                               ("another amount", 3, (-10**6 - 1) % get_curve("bls12381").r)]:
        forged = list(public)
        forged[index] = value
        assert not verify(keys["transfer"].vk, forged, proof), what


def test_groth16_risk_reducing_fill_below_initial_margin(keys):
    two = one_call_book(-2, requirement((-1,), ONE))
    fill = buy(0, 1, ONE.arrays[0].mark)
    circuit = PortfolioFill(1)
    new, inputs = circuit.transition(two, fill, ONE, ALPHA, "bls12381")
    assert inputs["route"] == 1
    cs = circuit.synthesize("bls12381", inputs)
    proof = prove(keys["fill"], cs)
    assert verify(keys["fill"].vk, cs.public_values(), proof)
    forged = list(cs.public_values())
    forged[-1] = 10**6
    assert not verify(keys["fill"].vk, forged, proof)


# --- the epoch rule, as in transfer and fill ---------------------------------------------------------

@pytest.mark.parametrize("curve", CURVES)
def test_a_state_holding_a_position_of_another_epoch_is_stopped_by_the_epoch_rule(curve):
    # last epoch's positions, unsettled, proven against this epoch's arrays
    stale = replace(book(HEDGED, 10**12), epoch=EPOCH - 1)
    assert_only_fails_at(synth_transfer(stale, -1, curve), "epoch/a state holding a position is in the epoch")
    floor = surplus(stale)
    assert_only_fails_at(synth_fill(stale, buy(0, 1, BTC), curve, route=0, floor=floor),
                         "epoch/a state holding a position is in the epoch")
    with pytest.raises(BoundError, match="epoch"):
        PortfolioTransfer(3).transition(replace(stale, epoch=EPOCH + 1), -1, RISK, ALPHA, curve)


# --- the escrow variants --------------------------------------------------------------------------

def test_the_escrow_variants_seal_the_successor_and_audit_clean():
    from tests.circuits.test_transition_escrow import SECRET, guardian_key
    from zkmargin.escrow import open_with_secret_key

    key = guardian_key("bn128")
    s = book(HEDGED, 10**12)
    for circuit, new_inputs in [
        (PortfolioTransfer(3, escrow=True), lambda c: c.transition(s, -5, RISK, ALPHA, "bn128", escrow_key=key)),
        (PortfolioFill(3, escrow=True), lambda c: c.transition(s, buy(0, 1, BTC), RISK, ALPHA, "bn128",
                                                               escrow_key=key)),
    ]:
        new, inputs = new_inputs(circuit)
        assert circuit.synthesize("bn128", inputs).is_satisfied()
        assert inputs["public"]["escrow_digest"] == inputs["escrow"].digest()
        assert circuit.synthesize("bn128").audit().ok
        # the guardians' secret opens the escrow to exactly what the new commitment absorbs
        assert open_with_secret_key(inputs["escrow"], SECRET) == new.commitment_inputs()
