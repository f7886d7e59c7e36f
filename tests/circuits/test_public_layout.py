"""Each statement's public-input layout is the one source of its public inputs: the variables
``define`` makes, the vector the verifier builds and the named dict the builders hand over."""

from __future__ import annotations

import pytest

from circuits import CIRCUITS, get_circuit
from circuits.base import Circuit, Prepared, PublicInput
from circuits.common import MarketCircuit
from circuits.examples import Mult
from circuits.margin import Margin
from circuits.settle import Settle
from circuits.state import BoundError
from circuits.transfer import Transfer
from tests.circuits.helpers import EPOCH, state
from zkmargin.curves import get_curve

STATEMENTS = ("margin", "transfer", "fill", "settle")
P2, RATES2 = [100, 200], [100_000, 50_000]


def expected_names(circuit: Circuit) -> list[str]:
    names = []
    for entry in circuit.public_layout:
        names += [f"{entry.label} {m}" for m in range(circuit.copies(entry))] if entry.per_market else [entry.label]
    return names


def sample_values(circuit: Circuit) -> dict[str, object]:
    """A value inside every entry's bound: its lowest (a flag: True)."""
    return {e.key: ([True if e.flag else e.low] * circuit.copies(e) if e.per_market else (True if e.flag else e.low))
            for e in circuit.public_layout}


@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_define_allocates_exactly_the_layout(name):
    circuit = get_circuit(name, markets=3) if name in STATEMENTS else get_circuit(name)
    cs = circuit.synthesize("bn128")
    assert cs.public_names == expected_names(circuit)
    assert circuit.public_count() == cs.num_public


@pytest.mark.parametrize("name", STATEMENTS)
def test_vector_and_named_dict_round_trip(name):
    circuit = get_circuit(name, markets=2)
    values = sample_values(circuit)
    vector = circuit.public_vector(values, "bn128")
    assert len(vector) == circuit.public_count()
    named = circuit.name_public(vector)
    assert list(named) == [e.key for e in circuit.public_layout]
    flattened = [x for e in circuit.public_layout for x in (named[e.key] if e.per_market else [named[e.key]])]
    assert flattened == vector


@pytest.mark.parametrize("name", STATEMENTS)
def test_every_bound_is_enforced_at_both_ends(name):
    circuit = get_circuit(name, markets=2)
    for entry in circuit.public_layout:
        if entry.flag:
            continue
        high = get_curve("bn128").r if entry.high is None else entry.high
        for value, accepted in ((entry.low, True), (high - 1, True), (entry.low - 1, False), (high, False)):
            per = [value] * 2 if entry.per_market else value
            values = {**sample_values(circuit), entry.key: per}
            if accepted:
                circuit.public_vector(values, "bn128")
            else:
                with pytest.raises(BoundError, match=entry.noun):
                    circuit.public_vector(values, "bn128")


def test_signed_values_are_encoded_mod_r():
    r = get_curve("bls12381").r
    vector = Transfer(1).public_inputs(7, 1, 2, -30, EPOCH, [100], [100_000], "bls12381")
    assert vector[3] == r - 30


def test_a_flag_must_be_a_bool():
    with pytest.raises(BoundError, match="holds_position must be a bool"):
        Settle(1).public_inputs(7, 1, 2, EPOCH, [100], 0, 1, "bn128")  # type: ignore[arg-type]


def test_market_count_and_keys_are_checked():
    with pytest.raises(BoundError, match="expected 2 maintenance rates, got 1"):
        Margin(2).public_inputs(7, 1, EPOCH, P2, [5], "bn128")
    with pytest.raises(BoundError, match="takes the public inputs"):
        Margin(1).public_vector({"account": 7}, "bn128")
    with pytest.raises(BoundError, match="has 5 public inputs, got 4"):
        Margin(1).name_public([1, 2, 3, 4])


def test_per_market_entries_need_markets():
    class NoMarkets(Mult):
        public_layout = (PublicInput("prices", "per market", per_market=True),)

    with pytest.raises(Exception, match="has no markets"):
        NoMarkets().public_count()


def test_an_integer_that_is_a_bool_is_refused():
    with pytest.raises(BoundError, match="account id must be an integer"):
        Margin(1).public_inputs(True, 1, EPOCH, [100], [5], "bn128")  # type: ignore[arg-type]


# --- the witness protocol, declared on the base class ----------------------------------------

def test_every_statement_prepares_through_the_base_protocol():
    for name in CIRCUITS:
        prepare = type(get_circuit(name)).prepare
        assert callable(prepare)
    assert getattr(MarketCircuit.prepare, "__isabstractmethod__", False)


def test_default_prepare_reads_snarkjs_signals():
    prepared = Mult().prepare({"a": "3", "b": 11}, get_curve("bn128"), source="in.json")
    assert prepared == Prepared({"a": 3, "b": 11}, None)
    cs = Mult().synthesize("bn128", prepared.inputs)
    assert cs.public_values() == [33, 11] and cs.is_satisfied()
    with pytest.raises(Exception, match="in.json: a: expected an integer"):
        Mult().prepare({"a": 1.5}, get_curve("bn128"), source="in.json")


def test_a_transition_prepares_its_successor():
    s = state(collateral=1_000, sizes=(0, 0))
    data = {"state": {"account_id": s.account_id, "nonce": s.nonce, "salt": s.salt, "collateral": s.collateral,
                      "sizes": list(s.sizes), "costs": list(s.costs), "epoch": EPOCH},
            "amount": -100, "epoch": EPOCH, "prices": P2, "rates": RATES2}
    prepared = Transfer(2).prepare(data, get_curve("bn128"))
    assert prepared.successor is not None and prepared.successor.collateral == 900
    assert Transfer(2).synthesize("bn128", prepared.inputs).is_satisfied()
    with pytest.raises(Exception, match="input.json: missing 'amount'"):
        Transfer(2).prepare({k: v for k, v in data.items() if k != "amount"}, get_curve("bn128"), "input.json")
