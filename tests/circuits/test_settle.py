"""Statement 4, settle: pnl = sum(b*P - k - q), q = ceil(b*dF / 10^6), c += pnl, k := b*P, exactly."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circuits.settle import EXPIRES_BIT, FUNDING_BELOW_ONE, FUNDING_CEIL, FUNDING_RANGE, FUNDING_STEP_BITS, Settle
from circuits.state import BoundError
from tests.circuits.helpers import (
    CURVES,
    EPOCH,
    assert_only_fails_at,
    commit,
    funding_of,
    settle_inputs,
    settled,
    state,
)
from zkmargin.curves import get_curve
from zkmargin.groth16 import prove, setup, verify

P2 = [100, 2000]
PNL = "pnl = sum(b*P - k - q)"
NEW_OPENS = "new commitment opens to the settled state"
OLD_OPENS = "old commitment opens to the state"
NOT_NEGATIVE = "collateral after settlement is not negative"


def synth(old, new, pnl, prices, curve, **public):
    return Settle(old.markets).synthesize(curve, settle_inputs(old, new, pnl, prices, curve, **public))


def honest(old, prices, curve):
    circuit = Settle(old.markets)
    new, pnl, inputs = circuit.transition(old, EPOCH, prices, curve)
    return new, pnl, circuit.synthesize(curve, inputs)


VALID = [
    ("flat", state(collateral=10, sizes=(0, 0), costs=(0, 0))),
    ("gain and loss", state(collateral=1000, sizes=(10, -3), costs=(900, -6300))),
    ("loss that takes everything", state(collateral=100, sizes=(10, 0), costs=(1100, 0))),
    ("extreme sizes and prices", state(collateral=1 << 48, sizes=((1 << 40) - 1, -(1 << 40)), costs=(0, 0))),
]


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("name,old", VALID, ids=[v[0] for v in VALID])
def test_valid_settlements_satisfy(curve, name, old):
    prices = [(1 << 48) - 1] * 2 if name.startswith("extreme") else P2
    new, pnl, cs = honest(old, prices, curve)
    assert pnl == old.equity(prices) - old.collateral
    assert new.collateral == old.collateral + pnl >= 0
    assert new.costs == tuple(b * p for b, p in zip(old.sizes, prices))
    assert cs.is_satisfied()


# --- Groth16 ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def settle_keys():
    return {curve: setup(Settle(1).shape(curve), insecure_test_seed=404) for curve in CURVES}


@pytest.mark.parametrize("curve", CURVES)
def test_settle_proof_verifies_and_is_bound_to_its_statement(settle_keys, curve):
    pk = settle_keys[curve]
    r = get_curve(curve).r
    old = state(collateral=1000, sizes=(10,), costs=(1100,))  # pnl -100
    new, pnl, cs = honest(old, [100], curve)
    assert pnl == -100
    public = cs.public_values()
    assert public == Settle(1).public_inputs(old.account_id, commit(old, curve), commit(new, curve), EPOCH, [100], pnl,
                                             True, curve)
    proof = prove(pk, cs)
    assert verify(pk.vk, public, proof)
    for what, index, value in [
        ("another epoch", 3, EPOCH + 1),
        ("pnl + 1", 7, (pnl + 1) % r),
        ("pnl - 1", 7, (pnl - 1) % r),
        ("another account", 0, old.account_id + 1),
        ("another position bit", 8, 0),
        ("a funding step", 5, 1_000_000),
        ("an expiry", 6, 1),
    ]:
        forged = list(public)
        forged[index] = value
        assert not verify(pk.vk, forged, proof), what


# --- the pnl and the new state ---------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("off", [1, -1])
def test_pnl_off_by_one(curve, off):
    old = state(collateral=1000, sizes=(10, -3), costs=(900, -6300))
    honest_new, pnl = settled(old, P2)
    # the cheater's claimed pnl and a new state consistent with it: only the pnl equation objects
    cheat = replace(honest_new, collateral=old.collateral + pnl + off)
    assert_only_fails_at(synth(old, cheat, pnl + off, P2, curve), PNL)


@pytest.mark.parametrize("curve", CURVES)
def test_new_state_must_be_the_settled_state(curve):
    old = state(collateral=1000, sizes=(10, -3), costs=(900, -6300))
    right, pnl = settled(old, P2)
    for wrong in (
        replace(right, costs=(1001, -6000)),  # k != b*P
        replace(right, costs=(1000, -5999)),
        replace(right, costs=old.costs),  # never marked to market
        replace(right, collateral=right.collateral + 1),  # c + pnl + 1
        replace(right, collateral=right.collateral - 1),
        replace(right, sizes=(10, 0), costs=(1000, 0)),  # a position vanishes
        replace(right, nonce=old.nonce),  # replayable
    ):
        assert_only_fails_at(synth(old, wrong, pnl, P2, curve), NEW_OPENS)


@pytest.mark.parametrize("curve", CURVES)
def test_loss_beyond_the_collateral(curve):
    old = state(collateral=100, sizes=(10, 0), costs=(1101, 0))  # pnl -101
    with pytest.raises(BoundError):
        Settle(2).transition(old, EPOCH, P2, curve)
    new, pnl = settled(old, P2)
    assert pnl == -101 and new.collateral == -1
    assert_only_fails_at(synth(old, new, pnl, P2, curve), NOT_NEGATIVE)


@pytest.mark.parametrize("curve", CURVES)
def test_settling_at_other_prices_than_the_public_ones(curve):
    old = state(collateral=1000, sizes=(10, -3), costs=(900, -6300))
    mine, pnl = settled(old, [110, 1900])  # what the trader would like
    labels = assert_only_fails_at(synth(old, mine, pnl, P2, curve), PNL, NEW_OPENS)
    assert PNL in labels and NEW_OPENS in labels


@pytest.mark.parametrize("curve", CURVES)
def test_old_state_must_be_the_ledgers(curve):
    ledger = state(nonce=5, collateral=1000, sizes=(10, -3), costs=(900, -6300))
    for stale in (replace(ledger, nonce=4), replace(ledger, costs=(1000, -6000)),
                  replace(ledger, salt=ledger.salt + 1)):
        new, pnl = settled(stale, P2)
        cs = synth(stale, new, pnl, P2, curve, old_commitment=commit(ledger, curve), account=ledger.account_id)
        labels = assert_only_fails_at(cs, OLD_OPENS, NEW_OPENS)
        assert OLD_OPENS in labels


@pytest.mark.parametrize("curve", CURVES)
def test_out_of_range_state_cannot_be_settled(curve):
    r = get_curve(curve).r
    old = state(collateral=-1, sizes=(10, 0), costs=(0, 0))  # wrapped collateral, pnl +1000
    new, pnl = settled(old, P2)
    assert_only_fails_at(synth(old, new, pnl, P2, curve), "old/collateral range")
    old = state(collateral=0, sizes=(1 << 40, 0), costs=(0, 0))
    new, pnl = settled(old, [1, 1])
    assert_only_fails_at(synth(old, new, pnl, [1, 1], curve), "old/size 0 sign/magnitude range")
    old = state(collateral=r - 5, sizes=(10, 0), costs=(0, 0))  # the same wrap, spelled r - 5
    new, pnl = settled(old, P2)
    assert_only_fails_at(synth(old, new, pnl, P2, curve), "old/collateral range")


@pytest.mark.parametrize("curve", CURVES)
def test_stale_successor_nonce(curve):
    old = state(collateral=1000, sizes=(10, 0), costs=(900, 0))
    new, pnl = settled(old, P2, nonce=old.nonce + 2)
    assert_only_fails_at(synth(old, new, pnl, P2, curve), NEW_OPENS)


# --- funding ---------------------------------------------------------------------------------

FUNDED = state(collateral=10**6, sizes=(10, -3), costs=(900, -6300))
STEPS = [1_234_567, -7_654_321]  # long pays ceil(12.34567) = 13, short pays ceil(22.96...) = 23


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("steps", [[0, 0], STEPS, [-5, 5], [1_000_000, -2_000_000], [(1 << FUNDING_STEP_BITS) - 1,
                                                                                     -(1 << FUNDING_STEP_BITS) + 1]])
def test_funding_is_charged_rounded_up(curve, steps):
    old = replace(FUNDED, collateral=1 << 90)  # enough for the extreme steps
    circuit = Settle(2)
    new, pnl, inputs = circuit.transition(old, EPOCH, P2, curve, funding_steps=steps)
    paid = [funding_of(b, step) for b, step in zip(old.sizes, steps)]
    assert inputs["funding_paid"] == paid
    assert pnl == sum(b * p - k for b, k, p in zip(old.sizes, old.costs, P2)) - sum(paid)
    assert new.collateral == old.collateral + pnl and new.costs == (1000, -6000)
    assert circuit.synthesize(curve, inputs).is_satisfied()


def test_funding_example_figures():
    _new, pnl, inputs = Settle(2).transition(FUNDED, EPOCH, P2, "bls12381", funding_steps=STEPS)
    assert inputs["funding_paid"] == [13, 23]  # both round toward the payer
    assert pnl == 400 - 36


def test_a_step_beyond_its_bound_is_refused():
    with pytest.raises(BoundError):
        Settle(2).transition(FUNDED, EPOCH, P2, "bls12381", funding_steps=[1 << FUNDING_STEP_BITS, 0])


def funded_cheat(curve, paid, steps=STEPS, public_steps=None):
    """A witness paying ``paid`` with a new state and pnl consistent with it: only funding can object."""
    right, pnl = settled(FUNDED, P2, steps)
    honest = [funding_of(b, step) for b, step in zip(FUNDED.sizes, steps)]
    r = get_curve(curve).r
    shift = (sum(honest) - sum(paid) + r // 2) % r - r // 2  # as a field element: small for wrapped quotients
    cheat = replace(right, collateral=right.collateral + shift)
    return Settle(2).synthesize(curve, settle_inputs(FUNDED, cheat, pnl + shift, P2, curve,
                                                     funding_steps=public_steps or steps, funding_paid=paid))


@pytest.mark.parametrize("curve", CURVES)
def test_funding_rounded_down_fails_the_ceiling(curve):
    # floor(12.34567) = 12 and floor(22.96) = 22: the remainder goes negative (and, wrapped, the
    # upper check sees a huge value too); the ceiling's check is among the broken ones
    for paid in ([12, 23], [13, 22]):
        labels = assert_only_fails_at(funded_cheat(curve, paid), FUNDING_CEIL, FUNDING_BELOW_ONE)
        assert any(FUNDING_CEIL in label for label in labels)


@pytest.mark.parametrize("curve", CURVES)
def test_funding_rounded_up_by_a_whole_unit_more_fails(curve):
    # b dF = -49 10^6 exactly: q = -48 leaves a remainder of exactly 10^6, which only the upper check refuses
    assert_only_fails_at(funded_cheat(curve, [-48, 0], steps=[-4_900_000, 0]), FUNDING_BELOW_ONE)
    # 14 instead of 13 leaves 1 654 330 >= 2^20: both 20-bit checks see it
    labels = assert_only_fails_at(funded_cheat(curve, [14, 23]), FUNDING_BELOW_ONE, FUNDING_CEIL)
    assert any(FUNDING_BELOW_ONE in label for label in labels)


@pytest.mark.parametrize("curve", CURVES)
def test_funding_wrapped_around_the_field_fails_its_range(curve):
    # q_0 = 13 + 1/10^6 and q_1 = 23 - 1/10^6 (in the field) meet both remainder checks (remainders
    # 654 331 and 37 036) and pay 36 in all, the honest sum: only the quotients' range stops them
    r = get_curve(curve).r
    inverse = pow(10**6, -1, r)
    wrapped = [(13 + inverse) % r, (23 - inverse) % r]
    labels = assert_only_fails_at(funded_cheat(curve, wrapped), FUNDING_RANGE)
    assert {label.split("/")[0] for label in labels} == {"funding 0", "funding 1"}


@pytest.mark.parametrize("curve", CURVES)
def test_funding_for_another_step_fails_the_pnl(curve):
    # the trader settles at a step of its liking; the service's public step is another one
    mine = [0, 0]
    right, pnl = settled(FUNDED, P2, mine)
    cs = Settle(2).synthesize(curve, settle_inputs(FUNDED, right, pnl, P2, curve, funding_steps=STEPS,
                                                   funding_paid=[0, 0]))
    labels = assert_only_fails_at(cs, FUNDING_BELOW_ONE, FUNDING_CEIL, PNL)
    assert any(FUNDING_CEIL in label or FUNDING_BELOW_ONE in label for label in labels)


def test_the_escrow_variant_settles_funding_with_its_inputs_last():
    from zkmargin.edwards import base_mul, embedded_curve

    curve = "bls12381"
    circuit = Settle(2, escrow=True)
    key = base_mul(embedded_curve(curve), 987_654_321)
    _new, pnl, inputs = circuit.transition(FUNDED, EPOCH, P2, curve, funding_steps=STEPS, escrow_key=key)
    assert pnl == 400 - 36
    keys = [entry.key for entry in circuit.public_layout]
    assert keys[-3:] == ["escrow_key_x", "escrow_key_y", "escrow_digest"]
    assert keys.index("funding_steps") == keys.index("prices") + 1
    assert circuit.synthesize(curve, inputs).is_satisfied()


# --- option expiry (docs/protocol.md §10.7) --------------------------------------------------

POSITION_BIT = "the position bit is the settled state's"
BOOK = state(collateral=10_000, sizes=(10, -3), costs=(900, -150))  # market 1: a short option bought back at 50
AT_EXPIRY = [100, 20]  # market 1's intrinsic value against the underlying's closing price


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("expires", [[0, 1], [1, 1], [1, 0]])
def test_an_expired_market_closes_at_its_price(curve, expires):
    circuit = Settle(2)
    new, pnl, inputs = circuit.transition(BOOK, EPOCH, AT_EXPIRY, curve, expires=[bool(e) for e in expires])
    assert pnl == (10 * 100 - 900) + (-3 * 20 + 150)  # realized exactly as marking would: +100 and +90
    assert new.sizes == tuple(0 if e else b for b, e in zip(BOOK.sizes, expires))
    assert new.costs == tuple(0 if e else b * p for b, p, e in zip(BOOK.sizes, AT_EXPIRY, expires))
    assert inputs["public"]["holds_position"] == (expires != [1, 1])
    assert circuit.synthesize(curve, inputs).is_satisfied()


@pytest.mark.parametrize("curve", CURVES)
def test_an_option_expiring_worthless_settles_at_price_zero(curve):
    circuit = Settle(2)
    new, pnl, inputs = circuit.transition(BOOK, EPOCH, [100, 0], curve, expires=[False, True])
    assert pnl == 100 + 150 and new.sizes == (10, 0) and new.costs == (1000, 0)  # the short keeps its premium
    assert circuit.synthesize(curve, inputs).is_satisfied()


def test_holders_of_an_expired_option_settle_to_zero_sum():
    long_side = state(collateral=500, sizes=(0, 3), costs=(0, 150))
    short_side = replace(BOOK, sizes=(0, -3), costs=(0, -150))
    pnls = [Settle(2).transition(book, EPOCH, AT_EXPIRY, "bls12381", expires=[False, True])[1]
            for book in (long_side, short_side)]
    assert pnls == [-90, 90] and sum(pnls) == 0


@pytest.mark.parametrize("curve", CURVES)
def test_keeping_an_expired_position_fails_the_new_commitment(curve):
    right, pnl = settled(BOOK, AT_EXPIRY, expires=[0, 1])
    kept = replace(right, sizes=BOOK.sizes, costs=(1000, -60))  # marked instead of closed
    assert_only_fails_at(synth(BOOK, kept, pnl, AT_EXPIRY, curve, expires=[0, 1]), NEW_OPENS)


@pytest.mark.parametrize("curve", CURVES)
def test_keeping_the_only_expired_position_fails_the_position_bit_too(curve):
    alone = replace(BOOK, sizes=(0, -3), costs=(0, -150))
    right, pnl = settled(alone, AT_EXPIRY, expires=[0, 1])
    # the honest successor, but the bit says it still holds the option: only the bit's check objects
    cs = synth(alone, right, pnl, AT_EXPIRY, curve, expires=[0, 1], holds_position=1)
    assert_only_fails_at(cs, POSITION_BIT)


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("mine", [25, 0, 19])
def test_settling_an_expired_option_at_another_payoff_fails_the_pnl(curve, mine):
    # the trader closes the option at a payoff of its liking; the public settlement price is 20
    cheat, pnl = settled(BOOK, [100, mine], expires=[0, 1])
    assert_only_fails_at(synth(BOOK, cheat, pnl, AT_EXPIRY, curve, expires=[0, 1]), PNL)


@pytest.mark.parametrize("curve", CURVES)
def test_an_expires_flag_that_is_not_a_bit_fails(curve):
    # e = 2 would flip the kept size: b (1 - e) = -b; a witness consistent with it trips the bit check only
    right, pnl = settled(BOOK, AT_EXPIRY)
    flipped = replace(right, sizes=(10, 3), costs=(1000, 60))
    assert_only_fails_at(synth(BOOK, flipped, pnl, AT_EXPIRY, curve, expires=[0, 2]), EXPIRES_BIT)


def test_expires_must_be_bools():
    with pytest.raises(BoundError):
        Settle(2).transition(BOOK, EPOCH, AT_EXPIRY, "bls12381", expires=[0, 1])
    with pytest.raises(BoundError):
        Settle(2).transition(BOOK, EPOCH, AT_EXPIRY, "bls12381", expires=[True])


def test_the_input_file_takes_the_expires_flags():
    from circuits.inputs import state_to_json

    data = {"state": state_to_json(BOOK), "epoch": EPOCH, "prices": [100, 0], "expires": [False, True]}
    prepared = Settle(2).prepare(data, get_curve("bls12381"))
    assert prepared.successor.sizes == (10, 0) and prepared.successor.collateral == BOOK.collateral + 250
    with pytest.raises(BoundError, match="true/false"):
        Settle(2).prepare({**data, "expires": [0, 1]}, get_curve("bls12381"))


@st.composite
def balanced_books(draw):
    """Accounts whose sizes and cost bases cancel per market (as fills make them), one epoch's
    settlement prices (an expired market's may be 0), funding steps and expires flags."""
    accounts = draw(st.integers(2, 5))
    books = [[draw(st.integers(-(1 << 20), 1 << 20)) for _ in range(2)] for _ in range(accounts - 1)]
    costs = [[draw(st.integers(-(1 << 40), 1 << 40)) for _ in range(2)] for _ in range(accounts - 1)]
    books.append([-sum(b[m] for b in books) for m in range(2)])
    costs.append([-sum(k[m] for k in costs) for m in range(2)])
    expires = [draw(st.booleans()) for _ in range(2)]
    prices = [draw(st.integers(0 if e else 1, (1 << 30))) for e in expires]
    steps = [draw(st.integers(-(1 << 40), 1 << 40)) for _ in range(2)]
    states = [state(account=i + 1, collateral=1 << 90, sizes=tuple(b), costs=tuple(k))
              for i, (b, k) in enumerate(zip(books, costs))]
    return states, prices, steps, expires


@settings(max_examples=200, deadline=None)
@given(balanced_books())
def test_a_balanced_book_settles_to_zero_sum_with_expiry_and_funding(book):
    """Every account of a balanced book settles the same epoch: the pnl sums to minus the funding
    remainder R, 0 <= R < the positions funded (so nothing is paid out that was not collected), and
    the settled book is balanced again per market (expired markets: nothing left on either side)."""
    states, prices, steps, expires = book
    settled_states, pnls = [], []
    for s in states:
        new, pnl, _ = Settle(2).transition(s, EPOCH, prices, "bls12381", funding_steps=steps, expires=expires)
        settled_states.append(new)
        pnls.append(pnl)
    remainder = -sum(pnls)
    funded = sum(1 for s in states for m in range(2) if s.sizes[m] * steps[m] != 0)
    assert 0 <= remainder and (remainder < funded or remainder == 0)
    for m in range(2):
        assert sum(n.sizes[m] for n in settled_states) == 0 and sum(n.costs[m] for n in settled_states) == 0
        if expires[m]:
            assert all(n.sizes[m] == 0 and n.costs[m] == 0 for n in settled_states)
