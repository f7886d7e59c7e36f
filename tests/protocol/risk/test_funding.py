"""Funding: the index moves by price x signed rate, payments round against the payer and the
receiver, and every balanced book settles to exactly zero with the remainder booked."""

from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circuits.protocol.risk import FundingError
from circuits.protocol.risk.funding import (
    FUNDING_INDEX_BITS,
    MAX_FUNDING_RATE,
    FundingIndex,
    FundingSettlement,
    funding_payment,
    settle_funding,
)
from circuits.state import PRICE_BITS, RATE_SCALE, SIZE_BITS

sizes_in_range = st.integers(-(1 << SIZE_BITS), (1 << SIZE_BITS) - 1)
prices = st.integers(1, (1 << PRICE_BITS) - 1)
rates = st.integers(-MAX_FUNDING_RATE, MAX_FUNDING_RATE)


def test_the_index_adds_price_times_rate_each_epoch():
    index = FundingIndex(market=2, epoch=7)
    later = index.advance(price=60_000, rate=100).advance(price=61_000, rate=-40)
    assert later == FundingIndex(2, 9, 60_000 * 100 - 61_000 * 40)


@pytest.mark.parametrize("price, rate, words", [
    (0, 1, "price"), (1 << PRICE_BITS, 1, "price"), (10, MAX_FUNDING_RATE + 1, "rate"),
    (10, -MAX_FUNDING_RATE - 1, "rate"), (10, 1.5, "integer"), (10, True, "integer"),
])
def test_bad_rates_and_prices_are_refused(price, rate, words):
    with pytest.raises(FundingError, match=words):
        FundingIndex(0, 0).advance(price, rate)


def test_the_index_stays_in_bounds():
    near_limit = FundingIndex(0, 0, (1 << FUNDING_INDEX_BITS) - 10)
    with pytest.raises(FundingError, match="2\\^100"):
        near_limit.advance(price=11, rate=1)
    with pytest.raises(FundingError):
        FundingIndex(0, 0, 1 << FUNDING_INDEX_BITS)


def test_payers_round_up_and_receivers_round_down():
    # 3 units over an index step of 1 000 001 (millionths): 3.000003 owed
    assert funding_payment(3, 0, 1_000_001) == 4  # a long pays 4
    assert funding_payment(-3, 0, 1_000_001) == -3  # a short receives 3
    assert funding_payment(3, 1_000_001, 0) == -3  # the rate turned: the long receives 3
    assert funding_payment(-3, 1_000_001, 0) == 4  # and the short pays 4
    assert funding_payment(5, 0, 2 * RATE_SCALE) == 10  # exact amounts are not rounded
    assert funding_payment(0, 0, 1_000_001) == 0


@settings(max_examples=300, deadline=None)
@given(size=sizes_in_range, then=st.integers(-(1 << 90), 1 << 90), now=st.integers(-(1 << 90), 1 << 90))
def test_a_payment_is_the_exact_amount_rounded_up_by_less_than_one(size, then, now):
    payment = funding_payment(size, then, now)
    exact = Fraction(size * (now - then), RATE_SCALE)
    assert exact <= payment < exact + 1


@st.composite
def balanced_books(draw):
    """Any number of longs and shorts whose sizes sum to zero."""
    longs = draw(st.lists(st.integers(1, 1 << 30), min_size=1, max_size=12))
    total = sum(longs)
    cuts = sorted(draw(st.lists(st.integers(1, total - 1), max_size=11, unique=True))) if total > 1 else []
    bounds = [0, *cuts, total]
    shorts = [-(b - a) for a, b in pairwise(bounds)]
    return draw(st.permutations([*longs, *shorts]))


@settings(max_examples=300, deadline=None)
@given(book=balanced_books(), price=prices, rate=rates, start=st.integers(-(1 << 80), 1 << 80))
def test_every_balanced_book_settles_to_exactly_zero(book, price, rate, start):
    before = FundingIndex(0, 5, start)
    after = before.advance(price, rate)
    settlement = settle_funding(book, before.value, after.value)
    assert settlement.longs + settlement.shorts + settlement.remainder == 0
    assert sum(settlement.flows) + settlement.remainder == 0
    assert 0 <= settlement.remainder < len(book)  # funding never creates money
    exact = [Fraction(-b * price * rate, RATE_SCALE) for b in book]
    assert all(flow <= owed for flow, owed in zip(settlement.flows, exact))  # nobody gains by rounding
    if rate > 0:  # longs pay shorts
        assert settlement.longs <= 0 <= settlement.shorts


@settings(max_examples=100, deadline=None)
@given(book=balanced_books(), path=st.lists(st.tuples(prices, rates), min_size=1, max_size=8))
def test_epoch_after_epoch_the_remainders_account_for_everything(book, path):
    index = FundingIndex(1, 0)
    paid_to_accounts = 0
    kept = 0
    for price, rate in path:
        nxt = index.advance(price, rate)
        settlement = settle_funding(book, index.value, nxt.value)
        paid_to_accounts += sum(settlement.flows)
        kept += settlement.remainder
        index = nxt
    assert paid_to_accounts + kept == 0 and 0 <= kept < len(book) * len(path)


def test_an_unbalanced_book_is_refused():
    with pytest.raises(FundingError, match="sum to 1"):
        settle_funding([2, -1], 0, 10)


def test_a_settlement_that_does_not_sum_to_zero_cannot_be_built():
    with pytest.raises(FundingError):
        FundingSettlement(flows=(-4, 3), longs=-4, shorts=3, remainder=0)
    assert FundingSettlement(flows=(-4, 3), longs=-4, shorts=3, remainder=1).remainder == 1
