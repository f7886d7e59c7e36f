"""Close-out: partial plans restore initial margin with the least same-fraction step, full ones
come only when needed, the two sides' fills cancel, the penalty stays in its bounds, and a
shortfall is allocated exactly and pro rata."""

from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from circuits.protocol.closeout import (
    STEP_SCALE,
    CloseoutError,
    CloseoutPlan,
    allocate_shortfall,
    plan_at_step,
    plan_closeout,
    restores_initial_margin,
)
from circuits.state import RATE_SCALE, AccountState, BoundError

MM, IM = 50_000, 100_000  # 5 %, 10 %
SALT = 12345


def state(collateral, sizes, costs, account_id=4, nonce=9, epoch=3):
    return AccountState(account_id, nonce, 777, collateral, tuple(sizes), tuple(costs), epoch)


def test_a_partial_close_out_takes_the_least_that_restores_initial_margin():
    # long 100 at a mark of 1 000, bought at 1 100: equity 16 000 - 10 000 = 6 000, initial requirement 10 000
    account = state(16_000, [100], [110_000])
    plan = plan_closeout(account, [1_000], [MM], [IM], 500_000, salt=SALT)
    # closing q costs a penalty of ceil(25 q) and releases 100 q of requirement: 6 000 - 25 q >= 100 (100 - q)
    assert (plan.closed, plan.penalty, plan.full, plan.step) == ((54,), 1_350, False, 530_001)
    assert plan.successor == AccountState(4, 10, SALT, 14_650, (46,), (56_000,), 3)
    assert (plan.equity_before, plan.equity_after, plan.shortfall, plan.realized_pnl) == (6_000, 4_650, 0, 0)
    one_step_less = plan_at_step(account, [1_000], [MM], [IM], 500_000, plan.step - 1, salt=SALT)
    assert one_step_less.closed == (53,) and not restores_initial_margin(one_step_less, [IM])
    assert [f.to_json() for f in plan.defaulter_fills()] == [
        {"account_id": 4, "market": 0, "size_delta": "-54", "price": "1000", "fee": "0"}]
    assert [(f.account_id, f.size_delta) for f in plan.backstop_fills(99)] == [(99, 54)]


def test_a_full_close_out_with_equity_left_makes_a_flat_successor_holding_it():
    # long 10 at 100, bought for 1 995: equity 1 007 + 1 000 - 1 995 = 12; only closing all 10 restores it
    account = state(1_007, [10], [1_995])
    plan = plan_closeout(account, [100], [MM], [IM], 100_000, salt=SALT)
    assert (plan.closed, plan.full, plan.step, plan.penalty) == ((10,), True, 900_001, 5)
    assert (plan.equity_after, plan.realized_pnl, plan.shortfall) == (7, -995, 0)
    assert plan.successor == AccountState(4, 10, SALT, 7, (0,), (0,), 3)
    assert plan.loss_from_collateral == 995
    assert plan.waterfall(insurance_balance=0, winners={}).to_json() == {
        "shortfall": "0", "from_collateral": "995", "from_insurance": "0", "socialized": {}}


def test_a_full_close_out_with_negative_equity_leaves_a_shortfall_for_the_waterfall():
    # pnl (1 000 - 1 500) + (-1 000 + 900) = -600 against a collateral of 400
    account = state(400, [10, -5], [1_500, -900])
    plan = plan_closeout(account, [100, 200], [MM, MM], [IM, IM], 500_000, salt=SALT)
    assert (plan.closed, plan.full, plan.penalty) == ((10, -5), True, 0)
    assert (plan.equity_before, plan.equity_after, plan.realized_pnl, plan.shortfall) == (-200, -200, -600, 200)
    assert plan.successor == AccountState(4, 10, SALT, 0, (0, 0), (0, 0), 3)
    assert [(f.market, f.size_delta, f.price) for f in plan.defaulter_fills()] == [(0, -10, 100), (1, 5, 200)]
    assert [(f.market, f.size_delta, f.price) for f in plan.backstop_fills(1)] == [(0, 10, 100), (1, -5, 200)]
    waterfall = plan.waterfall(insurance_balance=50, winners={7: 100, 3: 50})
    assert (waterfall.from_collateral, waterfall.from_insurance) == (400, 50)
    assert dict(waterfall.socialized) == {3: 50, 7: 100}
    assert plan.to_json()["successor"]["collateral"] == "0" and plan.to_json()["shortfall"] == "200"


def test_an_account_already_at_initial_margin_loses_nothing():
    account = state(20_000, [100, 0], [100_000, 0])
    plan = plan_closeout(account, [1_000, 5], [MM, MM], [IM, IM], 500_000, salt=SALT)
    assert (plan.closed, plan.penalty, plan.full, plan.step) == ((0, 0), 0, False, 0)
    assert plan.defaulter_fills() == [] and plan.successor.collateral == 20_000


def test_a_partial_penalty_is_paid_from_collateral_only():
    # equity is all unrealized profit: nothing in collateral pays a penalty while positions stay open
    account = state(0, [100], [50_000])
    plan = plan_closeout(account, [1_000], [MM], [600_000], 1_000_000, salt=SALT)
    assert not plan.full and plan.penalty == 0 and plan.successor.collateral == 0
    assert restores_initial_margin(plan, [600_000])


def test_the_last_units_round_up_to_the_whole_position():
    account = state(0, [1, -1], [1_000, -1_100])  # equity 100 - 0: closing any step closes everything
    plan = plan_closeout(account, [1_000, 1_000], [MM, MM], [IM, IM], 500_000, salt=SALT)
    assert (plan.closed, plan.full, plan.step) == ((1, -1), True, 1)


@pytest.mark.parametrize("change, words", [
    ({"prices": [1_000, 1]}, "1 markets|2 mark prices"),
    ({"prices": [0]}, "mark price of market 0"),
    ({"prices": [1.5]}, "integer"),
    ({"maintenance_rates": [IM + 1]}, "exceeds the initial rate"),
    ({"initial_rates": [RATE_SCALE + 1]}, "above 1000000"),
    ({"penalty_rate": RATE_SCALE + 1}, "penalty rate"),
    ({"penalty_rate": -1}, "penalty rate"),
    ({"salt": -1}, "salt"),
])
def test_bad_close_out_terms_are_refused(change, words):
    terms = {"prices": [1_000], "maintenance_rates": [MM], "initial_rates": [IM], "penalty_rate": 0, "salt": SALT}
    terms.update(change)
    salt = terms.pop("salt")
    with pytest.raises((CloseoutError, BoundError), match=words):
        plan_closeout(state(16_000, [100], [110_000]), **terms, salt=salt)


def test_the_defaulter_cannot_be_its_own_backstop():
    plan = plan_closeout(state(400, [10], [1_500]), [100], [MM], [IM], 0, salt=SALT)
    with pytest.raises(CloseoutError, match="own backstop"):
        plan.backstop_fills(4)


def test_allocation_ties_go_to_the_lower_account_id():
    waterfall = allocate_shortfall(2, 0, {9: 1, 7: 1, 3: 1})
    assert dict(waterfall.socialized) == {3: 1, 7: 1}
    assert allocate_shortfall(5, 0, {2: 6, 1: 2}).socialized == {2: 4, 1: 1}  # 3.75 and 1.25: largest remainder


@pytest.mark.parametrize("shortfall, insurance, winners, words", [
    (10, 4, {}, "no account won"),
    (10, 4, {1: 5}, "more than the winners' pnl of 5"),
    (10, 0, {1: 0}, "winning pnl of account 1"),
    (10, 0, {1: -3}, "winning pnl of account 1"),
    (-1, 0, {1: 1}, "shortfall"),
    (1, -1, {1: 1}, "insurance"),
    (1, 0, {1: 1.0}, "integer"),
])
def test_bad_allocations_are_refused(shortfall, insurance, winners, words):
    with pytest.raises((CloseoutError, BoundError), match=words):
        allocate_shortfall(shortfall, insurance, winners)


def test_the_insurance_fund_alone_may_carry_a_shortfall_without_winners():
    waterfall = allocate_shortfall(10, 25, {})
    assert (waterfall.from_insurance, dict(waterfall.socialized)) == (10, {})


# --- properties ----------------------------------------------------------------------------

sizes = st.integers(-(1 << 30), 1 << 30)
prices = st.integers(1, 1 << 40)
rate_pairs = st.tuples(st.integers(0, RATE_SCALE), st.integers(0, RATE_SCALE)).map(sorted)


@st.composite
def liquidations(draw):
    """Books whose equity lands anywhere from below zero to above the initial requirement."""
    markets = draw(st.integers(1, 4))
    held = [draw(sizes) for _ in range(markets)]
    marks = [draw(prices) for _ in range(markets)]
    moves = [draw(st.integers(-100_000, 100_000)) for _ in range(markets)]  # entry vs mark, millionths
    costs = [b * max(1, p * (RATE_SCALE + move) // RATE_SCALE) for b, p, move in zip(held, marks, moves)]
    rates = [draw(rate_pairs) for _ in range(markets)]
    pnl = sum(b * p - k for b, p, k in zip(held, marks, costs))
    initial = sum(abs(b) * p * im for b, p, (_, im) in zip(held, marks, rates)) // RATE_SCALE
    equity = draw(st.integers(-initial // 2 - 10, initial + initial // 4 + 10))
    account = state(max(0, equity - pnl), held, costs)
    penalty_rate = draw(st.integers(0, RATE_SCALE))
    return account, marks, [mm for mm, _ in rates], [im for _, im in rates], penalty_rate


def _step_before(terms, plan):
    account, marks, mms, ims, penalty_rate = terms
    return plan_at_step(account, marks, mms, ims, penalty_rate, plan.step - 1, salt=SALT)


@settings(max_examples=150, deadline=None)
@given(liquidations())
def test_partial_plans_restore_initial_margin_with_the_least_step(terms):
    account, marks, mms, ims, penalty_rate = terms
    plan = plan_closeout(account, marks, mms, ims, penalty_rate, salt=SALT)
    assume(not plan.full)
    assert restores_initial_margin(plan, ims)
    assert plan.successor.health_difference(marks, ims) >= 0
    if plan.step:
        assert not restores_initial_margin(_step_before(terms, plan), ims)
    else:
        assert plan.closed == (0,) * account.markets and plan.penalty == 0


@settings(max_examples=150, deadline=None)
@given(liquidations())
def test_a_full_close_out_comes_only_when_no_partial_step_restores(terms):
    account, marks, mms, ims, penalty_rate = terms
    plan = plan_closeout(account, marks, mms, ims, penalty_rate, salt=SALT)
    assume(plan.full)
    assert plan.successor.is_flat and plan.successor.collateral == max(0, plan.equity_after)
    assert plan.closed == account.sizes
    if plan.equity_before < 0:  # no step restores: a penalty only lowers the equity further
        assert plan.shortfall == -plan.equity_before and plan.penalty == 0 and plan.step == STEP_SCALE
        assert not restores_initial_margin(plan, ims)
        assert not restores_initial_margin(_step_before(terms, plan), ims)
    else:
        assert plan.shortfall == 0 and restores_initial_margin(plan, ims)
        if plan.step:  # the step before closes something less than everything, and does not restore
            before = _step_before(terms, plan)
            assert not before.full and not restores_initial_margin(before, ims)


def _check_fills_cancel(plan: CloseoutPlan, account: AccountState) -> None:
    defaulter = {f.market: f for f in plan.defaulter_fills()}
    backstop = {f.market: f for f in plan.backstop_fills(account.account_id + 1)}
    assert defaulter.keys() == backstop.keys() == {m for m, q in enumerate(plan.closed) if q}
    for m, fill in defaulter.items():
        assert fill.size_delta + backstop[m].size_delta == 0
        assert fill.size_delta * fill.price + backstop[m].size_delta * backstop[m].price == 0  # cost bases
        assert fill.fee == backstop[m].fee == 0 and fill.price == plan.prices[m]


@settings(max_examples=150, deadline=None)
@given(liquidations())
def test_fills_cancel_the_penalty_is_bounded_and_the_successor_follows(terms):
    account, marks, mms, ims, penalty_rate = terms
    plan = plan_closeout(account, marks, mms, ims, penalty_rate, salt=SALT)
    for b, q in zip(account.sizes, plan.closed):
        assert abs(q) <= abs(b) and q * b >= 0
    _check_fills_cancel(plan, account)
    exact = Fraction(sum(abs(q) * p * mm for q, p, mm in zip(plan.closed, marks, mms)) * penalty_rate,
                     RATE_SCALE * RATE_SCALE)
    cap = max(0, plan.equity_before if plan.full else min(plan.equity_before, account.collateral))
    assert plan.penalty == min(-(-exact.numerator // exact.denominator), cap)
    assert 0 <= plan.penalty and plan.penalty < exact + 1
    assert plan.equity_after == plan.equity_before - plan.penalty
    successor = plan.successor
    assert (successor.account_id, successor.nonce, successor.salt, successor.epoch) == (
        account.account_id, account.nonce + 1, SALT, account.epoch)
    assert successor.validate() is successor
    if not plan.full:  # the fill statement's arithmetic exactly
        assert successor.sizes == tuple(b - q for b, q in zip(account.sizes, plan.closed))
        assert successor.costs == tuple(k - q * p for k, q, p in zip(account.costs, plan.closed, marks))
        assert successor.equity(marks) == plan.equity_after
    assert 0 <= plan.step <= STEP_SCALE


winner_books = st.dictionaries(st.integers(0, 1 << 20), st.integers(1, 1 << 70), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(winner_books, st.integers(0, 1 << 72), st.data())
def test_allocation_sums_exactly_and_is_pro_rata_within_one_unit(winners, insurance, data):
    total = sum(winners.values())
    shortfall = data.draw(st.integers(0, total + insurance))
    waterfall = allocate_shortfall(shortfall, insurance, winners, from_collateral=7)
    assert waterfall.from_insurance == min(shortfall, insurance) and waterfall.from_collateral == 7
    rest = shortfall - waterfall.from_insurance
    assert sum(waterfall.socialized.values()) == rest
    for account, pnl in winners.items():
        levy = waterfall.socialized.get(account, 0)
        assert abs(Fraction(levy) - Fraction(rest * pnl, total)) < 1
        assert 0 <= levy <= pnl
