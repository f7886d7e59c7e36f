"""The trader's expiry checks (prover/trader/expiry.py): the service's expires flags against the
configured expiries and the epoch's times, and fills in an option market already expired."""

from datetime import UTC, datetime

import pytest

from circuits.protocol.api import Epoch, Market, OptionSpec, SealedFill
from prover.trader.expiry import ExpiryRefusedError, checked_expiries, refuse_expired_fill

OPENED = 1_800_000_000
CLOSED = OPENED + 3_600
FUTURE = Market(market=0, name="BTC-PERP", price_scale=1, maintenance_rate=50_000, initial_rate=100_000,
                kind="perpetual")


def option(market: int, expiry: int) -> Market:
    return Market(market=market, name=f"BTC-C-{market}", price_scale=1, maintenance_rate=0, initial_rate=0,
                  option=OptionSpec(right="call", strike=60_000, expiry=expiry, underlying=0))


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def epoch(expires: list[bool] | None, closed: float | None = CLOSED + 0.5) -> Epoch:
    return Epoch(epoch_id=4, status="closed", opened_at=at(OPENED + 0.25),
                 closed_at=None if closed is None else at(closed),
                 finalized_at=None, attestation_deadline=None, settlement_deadline=None, mark_prices=[60_000] * 3,
                 mark_snapshot_digest=None, settlement_prices=[61_000, 1_000, 0], settlement_snapshot_digest=None,
                 settled_accounts=0, defaulted_accounts=0, circuit_breaker_overrides={}, settlement_expires=expires)


MARKETS = [FUTURE, option(1, CLOSED), option(2, CLOSED + 86_400)]


def test_flags_that_match_the_expiries_are_taken():
    assert checked_expiries(epoch([False, True, False]), MARKETS) == [False, True, False]


def test_an_expiry_inside_the_epoch_may_go_either_way():
    inside = [FUTURE, option(1, OPENED + 60), option(2, CLOSED + 86_400)]
    assert checked_expiries(epoch([False, True, False]), inside) == [False, True, False]
    assert checked_expiries(epoch([False, False, False]), inside) == [False, False, False]


@pytest.mark.parametrize("flags,words", [
    ([True, True, False], "is a future"),  # a future never expires
    ([False, True, True], "an option expiring at"),  # a live option would be extinguished
])
def test_a_flag_set_on_a_live_market_is_refused(flags, words):
    with pytest.raises(ExpiryRefusedError, match=words):
        checked_expiries(epoch(flags), MARKETS)


def test_a_flag_clear_on_an_option_expired_before_the_open_is_refused():
    dead = [FUTURE, option(1, OPENED - 1), option(2, CLOSED + 86_400)]
    with pytest.raises(ExpiryRefusedError, match="before the epoch opened"):
        checked_expiries(epoch([False, False, False]), dead)


def test_a_service_without_flags():
    assert checked_expiries(epoch(None), MARKETS) is None  # nothing expired before the open
    with pytest.raises(ExpiryRefusedError, match="publishes no expires flags"):
        checked_expiries(epoch(None), [FUTURE, option(1, OPENED - 10)])


def test_flags_of_another_shape_or_without_a_close_are_refused():
    with pytest.raises(ExpiryRefusedError, match="2 expires flags for 3 markets"):
        checked_expiries(epoch([False, True]), MARKETS)
    with pytest.raises(ExpiryRefusedError, match="no closing time"):
        checked_expiries(epoch([False, True, False], closed=None), MARKETS)


def fill(posted: float) -> SealedFill:
    return SealedFill(fill_id=9, account_id=1, reference="v-9", fill_commitment="5", epoch_id=4, deadline=None,
                      posted_at=at(posted), applied=False, applied_at=None, ciphertext="00")


def test_a_fill_in_an_expired_option_is_refused():
    with pytest.raises(ExpiryRefusedError, match="fill #9 trades market 1"):
        refuse_expired_fill(fill(CLOSED), 1, MARKETS)


def test_fills_in_live_markets_pass():
    for market, posted in ((0, CLOSED + 10**6), (1, CLOSED - 1), (2, CLOSED), (7, CLOSED)):
        assert refuse_expired_fill(fill(posted), market, MARKETS) is None
