"""Close-out in portfolio mode (docs/protocol.md §11 "Portfolio mode"): the rule's least close-out
restores portfolio initial margin, its move one unit smaller would not, the penalty is
ceil(rate R(q) / 10^6), an option valued at 0 cannot be closed, and the flat rule is unchanged."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circuits.protocol.closeout import (
    STEP_SCALE,
    CloseoutError,
    FlatRule,
    PortfolioRule,
    UnclosablePositionError,
    closed_requirement,
    plan_at_step,
    plan_closeout,
    plan_portfolio_at_step,
    plan_portfolio_closeout,
    restores_portfolio_initial_margin,
    risk_marks,
)
from circuits.protocol.risk import Future, MarketInputs, Option, OptionRight, epoch_risk_arrays
from circuits.protocol.risk.scenarios import portfolio_risk
from circuits.state import RATE_SCALE, AccountState

NOW = 1_700_000_000
DAY = 86_400
ALPHA = 1_250_000  # 1.25 x the portfolio requirement
RATE = 200_000  # 20 % of the closed requirement
SALT = 12345
# BTC at 60 000, 60 % volatility, 30 days: a perpetual, two calls and a far put worth 0
INSTRUMENTS = (Future(0, perpetual=True), Option(0, OptionRight.CALL, 40_000, NOW + 30 * DAY),
               Option(0, OptionRight.CALL, 60_000, NOW + 30 * DAY), Option(0, OptionRight.PUT, 20_000, NOW + 30 * DAY))
ARRAYS = epoch_risk_arrays(3, INSTRUMENTS, {0: MarketInputs(60_000, 600_000)}, NOW).arrays
RULE = PortfolioRule(ARRAYS, risk_marks(ARRAYS), ALPHA)
MARKS = RULE.marks


def book(collateral, sizes, costs=None):
    """An account holding ``sizes`` bought at the marks unless ``costs`` says otherwise."""
    costs = tuple(b * m for b, m in zip(sizes, MARKS)) if costs is None else tuple(costs)
    return AccountState(4, 9, 777, collateral, tuple(sizes), costs, 3)


def one_unit_less(account, plan):
    """The same close-out with its final move one unit smaller: one unit less of the one position it
    closed in part, or one millionth less of the same fraction of every position still open."""
    from circuits.protocol.closeout import _moved  # the rule's own move arithmetic

    nothing = (0,) * account.markets
    if len(plan.order) == 1:
        return _moved(account.sizes, nothing, plan.order, plan.order[0], abs(plan.closed[plan.order[0]]) - 1)
    return _moved(account.sizes, nothing, plan.order, None, plan.step - 1)


def _cheapest(account, plan):
    """No other move's least restoring close-out has a smaller penalty."""
    from circuits.protocol.closeout import _least_move, _portfolio_terms

    terms = _portfolio_terms(account, RULE, RATE, SALT, None)
    opened = [i for i, b in enumerate(account.sizes) if b]
    others = [_least_move(terms, opened, move) for move in (*opened, None)]
    return all(other.penalty >= plan.penalty for other in others if other is not None)


def restores_closing(account, closed):
    """Whether closing exactly ``closed`` (penalty included) restores portfolio initial margin."""
    from circuits.protocol.closeout import _portfolio_plan, _portfolio_terms  # the rule's own arithmetic
    terms = _portfolio_terms(account, RULE, RATE, SALT, None)
    return RULE.restores(_portfolio_plan(terms, tuple(closed), (), 0))


def test_the_marks_the_close_out_trades_at_are_the_published_marks():
    assert MARKS == (60_000, 20_025, 4_112, 0)  # the far put is worth less than one unit
    assert MARKS == tuple(a.mark for a in ARRAYS)


def test_a_hedged_book_short_of_initial_margin_loses_its_riskiest_leg_first_and_only_as_much_as_needed():
    account = book(40_000, (10, -10, -5, 0))
    assert portfolio_risk(ARRAYS, account.sizes).initial_requirement(ALPHA) > 40_000  # below initial margin
    plan = plan_portfolio_closeout(account, RULE, RATE, salt=SALT)
    # the naked at-the-money short calls go first; two of them are enough
    assert (plan.closed, plan.order, plan.full, plan.rule) == ((0, 0, -2, 0), (2,), False, "portfolio")
    assert plan.closed_requirement == closed_requirement(RULE, (0, 0, -2, 0))
    assert plan.penalty == -(-plan.closed_requirement * RATE // RATE_SCALE) == 2_936
    assert plan.successor == AccountState(4, 10, SALT, 40_000 - 2_936, (10, -10, -3, 0),
                                          (600_000, -200_250, -12_336, 0), 3)
    assert restores_portfolio_initial_margin(plan, RULE)
    assert not restores_closing(account, one_unit_less(account, plan))  # one short call less does not restore
    assert [f.to_json() for f in plan.defaulter_fills()] == [
        {"account_id": 4, "market": 2, "size_delta": "2", "price": "4112", "fee": "0"}]
    assert plan.to_json()["rule"] == "portfolio" and plan.to_json()["order"] == [2]


def test_an_account_at_initial_margin_loses_nothing():
    plan = plan_portfolio_closeout(book(60_000, (10, -10, -5, 0)), RULE, RATE, salt=SALT)
    assert (plan.closed, plan.penalty, plan.full, plan.order) == ((0, 0, 0, 0), 0, False, ())


def test_a_book_whose_legs_hedge_each_other_is_scaled_down_keeping_the_hedge():
    # no single leg restores it (closing either hedge leg alone raises the requirement): the same
    # fraction of every position does, 600 001 millionths of each, rounded up
    account = book(20_000, (10, -10, -5, 0))
    plan = plan_portfolio_closeout(account, RULE, RATE, salt=SALT)
    assert (plan.closed, plan.order, plan.step, plan.full) == ((7, -7, -4, 0), (0, 1, 2), 600_001, False)
    assert plan.penalty == -(-closed_requirement(RULE, plan.closed) * RATE // RATE_SCALE) == 6_690
    assert plan.successor.sizes == (3, -3, -1, 0) and plan.successor.collateral == 20_000 - 6_690
    assert restores_portfolio_initial_margin(plan, RULE)
    assert not restores_closing(account, one_unit_less(account, plan))  # 600 000 millionths do not


def test_a_naked_leg_is_closed_in_part_before_the_hedge_is_touched():
    # long 10 perpetuals, short 5 calls: 5 perpetuals are naked; closing 2 of them is the cheapest
    account = book(47_203, (10, -5, 0, 0))
    plan = plan_portfolio_closeout(account, RULE, RATE, salt=SALT)
    assert (plan.closed, plan.order, plan.step, plan.full) == ((2, 0, 0, 0), (0,), 0, False)
    assert not restores_closing(account, one_unit_less(account, plan))


def test_closing_everything_when_only_that_restores():
    # short 5 calls and long 1 perpetual, with just enough equity for a flat account
    account = book(3_000, (1, -5, 0, 0))
    plan = plan_portfolio_closeout(account, RULE, RATE, salt=SALT)
    assert plan.full and plan.closed == (1, -5, 0, 0)
    assert plan.penalty == min(-(-closed_requirement(RULE, plan.closed) * RATE // RATE_SCALE), 3_000)
    assert plan.successor == AccountState(4, 10, SALT, 3_000 - plan.penalty, (0,) * 4, (0,) * 4, 3)


def test_negative_equity_closes_everything_and_leaves_the_shortfall():
    # long 10 perpetuals bought at 70 000 against 50 000 of collateral: equity -50 000
    account = book(50_000, (10, 0, 0, 0), (700_000, 0, 0, 0))
    plan = plan_portfolio_closeout(account, RULE, RATE, salt=SALT)
    assert (plan.full, plan.penalty, plan.equity_after, plan.shortfall, plan.realized_pnl) == (
        True, 0, -50_000, 50_000, -100_000)
    assert plan.successor.collateral == 0 and not any(plan.successor.sizes)


def test_a_missed_settlement_closes_everything_at_the_portfolio_penalty():
    account = book(60_000, (10, -10, -5, 0))
    plan = plan_portfolio_at_step(account, RULE, RATE, STEP_SCALE, salt=SALT)
    assert (plan.closed, plan.full, plan.step) == ((10, -10, -5, 0), True, STEP_SCALE)
    assert plan.penalty == -(-closed_requirement(RULE, plan.closed) * RATE // RATE_SCALE)
    assert RULE.plan(account, RATE, salt=SALT, full=True) == plan


def test_an_option_worth_zero_cannot_be_closed():
    account = book(1_000, (0, 0, 0, -3))  # short far puts, below the short charge's initial margin
    with pytest.raises(UnclosablePositionError, match="instrument 3 at price 0") as raised:
        plan_portfolio_closeout(account, RULE, RATE, salt=SALT)
    assert (raised.value.reason, raised.value.market, raised.value.size) == ("unclosable_position", 3, -2)


def test_the_rule_refuses_bad_terms():
    with pytest.raises(CloseoutError, match="3 close-out prices for 4 risk arrays"):
        PortfolioRule(ARRAYS, MARKS[:3], ALPHA)
    with pytest.raises(CloseoutError, match="initial-margin factor"):
        PortfolioRule(ARRAYS, MARKS, 999_999)
    with pytest.raises(CloseoutError, match="3 risk arrays for a state of 4 markets"):
        plan_portfolio_closeout(book(0, (1, 0, 0, 0)), PortfolioRule(ARRAYS[:3], MARKS[:3], ALPHA), RATE, salt=SALT)
    with pytest.raises(CloseoutError, match="penalty rate"):
        plan_portfolio_closeout(book(0, (1, 0, 0, 0)), RULE, RATE_SCALE + 1, salt=SALT)


def test_the_flat_rule_object_is_the_flat_close_out_unchanged():
    account = AccountState(4, 9, 777, 16_000, (100,), (110_000,), 3)
    rule = FlatRule((1_000,), (50_000,), (100_000,))
    plan = rule.plan(account, 500_000, salt=SALT)
    assert plan == plan_closeout(account, [1_000], [50_000], [100_000], 500_000, salt=SALT)
    assert rule.plan(account, 500_000, salt=SALT, full=True) == plan_at_step(
        account, [1_000], [50_000], [100_000], 500_000, STEP_SCALE, salt=SALT)
    assert "rule" not in plan.to_json() and rule.restores(plan)  # the flat document is what it always was


@settings(max_examples=150, deadline=None)
@given(sizes=st.tuples(*(st.integers(-40, 40) for _ in range(3))),
       collateral=st.integers(0, 400_000), drift=st.integers(-2_000, 2_000))
def test_the_plan_restores_initial_margin_and_is_least_in_its_order(sizes, collateral, drift):
    sizes = (*sizes, 0)  # the far put stays out: it could not be closed
    costs = [b * (m + drift) for b, m in zip(sizes, MARKS)]  # entered away from the marks
    account = book(collateral, sizes, costs)
    plan = plan_portfolio_closeout(account, RULE, RATE, salt=SALT)
    assert all(q * b >= 0 and abs(q) <= abs(b) for q, b in zip(plan.closed, sizes))
    assert plan.penalty <= -(-closed_requirement(RULE, plan.closed) * RATE // RATE_SCALE)
    assert plan.equity_before == account.equity(MARKS)
    if plan.equity_before < 0:
        assert plan.full and plan.shortfall == -plan.equity_before
        return
    assert restores_portfolio_initial_margin(plan, RULE)
    if plan.order:  # something was closed: the move one unit smaller does not restore
        assert not restores_closing(account, one_unit_less(account, plan))
        assert all(q == 0 for i, q in enumerate(plan.closed) if i not in plan.order)  # only the move's positions
    else:
        assert not any(plan.closed) and plan.penalty == 0
    if plan.order:
        assert _cheapest(account, plan)
    backstop = {f.market: f.size_delta for f in plan.backstop_fills(99)}
    assert all(backstop[f.market] == -f.size_delta for f in plan.defaulter_fills())  # the fills cancel
