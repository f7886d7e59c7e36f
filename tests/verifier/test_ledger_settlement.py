"""Money flows and settlement: deposits credited then applied, withdrawals paid out, pnl posted
against the clearing account, and epochs that finalize only at exactly zero — idempotently."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from verifier.db.ledger import (
    CLEARING,
    DEFAULT_FUND,
    EXTERNAL,
    balance,
    trader_collateral,
    trader_deposits,
    trader_payouts,
    verify_ledger,
)
from verifier.db.models import (
    Epoch,
    EpochStatus,
    JournalEntry,
    Market,
    Settlement,
    StatementKind,
)
from verifier.db.records import (
    advance_commitment,
    close_epoch,
    get_account,
    open_account,
    open_epoch,
)
from verifier.errors import (
    ConflictError,
    DuplicateError,
    EpochIncompleteError,
    EpochNotBalancedError,
    EpochStateError,
)
from verifier.services.defaults import mark_default
from verifier.services.deposits import apply_deposit, credit_deposit
from verifier.services.payouts import pay_payout, record_withdrawal
from verifier.services.settlements import finalize_epoch, record_settlement

EPOCH = 3


class Trader:
    """An account and the commitments it walks through (the proofs are checked elsewhere)."""

    def __init__(self, session, account_id: int):
        self.id = account_id
        open_account(session, account_id, account_id * 1_000_000)

    def step(self, session, kind: StatementKind, epoch_id: int | None = None):
        """The next transition, from the current commitment as recorded (a refused step rolled back).

        What is public about the new state, as the statements make it: a fill puts a position in
        epoch EPOCH; a settlement of epoch N moves the state to N + 1 (still holding it)."""
        current = get_account(session, self.id).current_commitment
        state_epoch = epoch_id + 1 if kind is StatementKind.SETTLE else EPOCH
        return advance_commitment(
            session, self.id, expected_commitment=current, new_commitment=current + 1, kind=kind,
            statement_digest=hashlib.sha256(f"{self.id}/{current + 1}".encode()).hexdigest(), epoch_id=epoch_id,
            state_epoch=state_epoch, holds_position=True if kind is StatementKind.FILL else None)

    def settle(self, session, pnl: int, epoch_id: int = EPOCH):
        return record_settlement(session, transition=self.step(session, StatementKind.SETTLE, epoch_id), pnl=pnl)


@pytest.fixture
def market_and_epoch(database):
    """One market, and epoch 3 closed at price 100 (settlement can run)."""
    with database.unit_of_work() as session:
        session.add(Market(id=0, name="BTC-PERP", price_scale=1, maintenance_rate=50_000, initial_rate=100_000))
        session.flush()
        open_epoch(session, EPOCH)
        close_epoch(session, EPOCH, [100])
    return database


@pytest.fixture
def two_traders(market_and_epoch):
    """Accounts 1 and 2, both of which applied a fill (so both must settle)."""
    with market_and_epoch.unit_of_work() as session:
        traders = Trader(session, 1), Trader(session, 2)
        for trader in traders:
            trader.step(session, StatementKind.FILL)
    return market_and_epoch, traders


def entry_count(session) -> int:
    return session.scalar(select(func.count()).select_from(JournalEntry))


# --- deposits and withdrawals -------------------------------------------------------------------


def test_a_deposit_is_credited_then_applied(database):
    with database.unit_of_work() as session:
        trader = Trader(session, 1)
        item = credit_deposit(session, account_id=1, amount=2**95, reference="bank-1")
        assert balance(session, trader_deposits(1)) == 2**95 and balance(session, EXTERNAL) == -(2**95)
        apply_deposit(session, pending_item_id=item.id, transition=trader.step(session, StatementKind.TRANSFER))
        assert balance(session, trader_deposits(1)) == 0 and balance(session, trader_collateral(1)) == 2**95
    with pytest.raises(DuplicateError, match="already been applied"), database.unit_of_work() as session:
        apply_deposit(session, pending_item_id=item.id, transition=trader.step(session, StatementKind.TRANSFER))
    with database.reader() as session:
        assert verify_ledger(session).ok and entry_count(session) == 2


def test_crediting_the_same_deposit_twice_counts_once(database):
    with database.unit_of_work() as session:
        Trader(session, 1)
        first = credit_deposit(session, account_id=1, amount=500, reference="bank-1")
    with database.unit_of_work() as session:  # a retry after a lost response
        assert credit_deposit(session, account_id=1, amount=500, reference="bank-1").id == first.id
    with pytest.raises(DuplicateError), database.unit_of_work() as session:
        credit_deposit(session, account_id=1, amount=501, reference="bank-1")
    with database.reader() as session:
        assert balance(session, trader_deposits(1)) == 500 and entry_count(session) == 1


def test_a_deposit_applies_only_to_its_own_account(database):
    with database.unit_of_work() as session:
        Trader(session, 1)
        other = Trader(session, 2)
        item = credit_deposit(session, account_id=1, amount=5, reference="bank-1")
    with pytest.raises(ConflictError, match="another account"), database.unit_of_work() as session:
        apply_deposit(session, pending_item_id=item.id, transition=other.step(session, StatementKind.TRANSFER))


def test_a_withdrawal_is_owed_then_paid_once(database):
    with database.unit_of_work() as session:
        trader = Trader(session, 1)
        item = credit_deposit(session, account_id=1, amount=1000, reference="bank-1")
        apply_deposit(session, pending_item_id=item.id, transition=trader.step(session, StatementKind.TRANSFER))
        payout = record_withdrawal(session, transition=trader.step(session, StatementKind.TRANSFER), amount=400)
        assert balance(session, trader_payouts(1)) == 400 and balance(session, trader_collateral(1)) == 600
    with database.unit_of_work() as session:
        pay_payout(session, payout_id=payout.id, payment_reference="wire-9")
        pay_payout(session, payout_id=payout.id, payment_reference="wire-9")  # repeated: a no-op
    with pytest.raises(DuplicateError), database.unit_of_work() as session:
        pay_payout(session, payout_id=payout.id, payment_reference="wire-10")
    with database.reader() as session:
        assert balance(session, trader_payouts(1)) == 0 and balance(session, EXTERNAL) == -600
        assert verify_ledger(session).ok and entry_count(session) == 4


# --- settlement and finalization -----------------------------------------------------------------


def test_an_epoch_finalizes_when_pnl_sums_to_zero(two_traders):
    database, (a, b) = two_traders
    with database.unit_of_work() as session:
        a.settle(session, 2**95)
        b.settle(session, -(2**95))
    with database.unit_of_work() as session:
        result = finalize_epoch(session, EPOCH)
    assert (result.epoch_id, result.settled_accounts, result.defaulted_accounts, result.total_pnl) == (EPOCH, 2, 0, 0)
    with database.reader() as session:
        assert session.get(Epoch, EPOCH).status is EpochStatus.FINALIZED
        assert balance(session, CLEARING, epoch_id=EPOCH) == 0
        assert balance(session, trader_collateral(1)) == 2**95 and balance(session, trader_collateral(2)) == -(2**95)
        assert verify_ledger(session).ok


def test_finalizing_twice_returns_the_same_result(two_traders):
    database, (a, b) = two_traders
    with database.unit_of_work() as session:
        a.settle(session, 7)
        b.settle(session, -7)
    with database.unit_of_work() as session:
        first = finalize_epoch(session, EPOCH)
    with database.unit_of_work() as session:
        assert finalize_epoch(session, EPOCH) == first
    with database.reader() as session:
        assert entry_count(session) == 2


def test_a_non_zero_sum_refuses_and_changes_nothing(two_traders):
    database, (a, b) = two_traders
    with database.unit_of_work() as session:
        a.settle(session, 10)
        b.settle(session, -9)
    with pytest.raises(EpochNotBalancedError, match="sums to 1, not 0") as refused, \
            database.unit_of_work() as session:
        finalize_epoch(session, EPOCH)
    assert refused.value.total == 1
    with database.reader() as session:
        assert session.get(Epoch, EPOCH).status is EpochStatus.CLOSED


def test_an_account_that_must_settle_blocks_finalization_until_it_does_or_defaults(two_traders):
    database, (a, b) = two_traders
    with database.unit_of_work() as session:
        Trader(session, 3)  # never traded: its pnl is necessarily zero, it need not settle
        a.settle(session, 0)
    with pytest.raises(EpochIncompleteError, match="1 account") as refused, database.unit_of_work() as session:
        finalize_epoch(session, EPOCH)
    assert refused.value.missing == [2]
    with database.unit_of_work() as session:
        mark_default(session, account_id=2, epoch_id=EPOCH, reason="no settlement by the deadline")
        result = finalize_epoch(session, EPOCH)
    assert (result.settled_accounts, result.defaulted_accounts) == (1, 1)


def test_a_defaulter_s_unsettled_pnl_is_allocated_to_the_default_fund(two_traders):
    database, (a, b) = two_traders
    with database.unit_of_work() as session:
        a.settle(session, 250)  # the winner settled; the loser (b) never does
    with pytest.raises(EpochIncompleteError), database.unit_of_work() as session:
        finalize_epoch(session, EPOCH)
    with database.unit_of_work() as session:
        mark_default(session, account_id=b.id, epoch_id=EPOCH, reason="no settlement by the deadline")
        result = finalize_epoch(session, EPOCH)
    assert (result.settled_accounts, result.defaulted_accounts, result.default_allocation) == (1, 1, 250)
    with database.reader() as session:
        assert balance(session, trader_collateral(a.id)) == 250  # the winner is paid in full
        assert balance(session, CLEARING, epoch_id=EPOCH) == 0
        assert balance(session, DEFAULT_FUND) == -250  # the loss the default resources cover
        assert verify_ledger(session).ok
    with database.unit_of_work() as session:
        again = finalize_epoch(session, EPOCH)
    assert again == result  # idempotent, and nothing is allocated twice
    with database.reader() as session:
        assert balance(session, DEFAULT_FUND) == -250


def test_without_a_default_an_unbalanced_epoch_still_refuses_to_finalize(two_traders):
    database, (a, b) = two_traders
    with database.unit_of_work() as session:
        a.settle(session, 250)
        b.settle(session, -249)
    with pytest.raises(EpochNotBalancedError), database.unit_of_work() as session:
        finalize_epoch(session, EPOCH)


def test_a_zero_pnl_settles_without_moving_money(two_traders):
    database, (a, b) = two_traders
    with database.unit_of_work() as session:
        a.settle(session, 0)
        b.settle(session, 0)
        finalize_epoch(session, EPOCH)
    with database.reader() as session:
        assert entry_count(session) == 0
        assert session.scalars(select(Settlement.journal_entry_id)).all() == [None, None]


def test_an_account_settles_once_per_epoch(two_traders):
    database, (a, _) = two_traders
    with database.unit_of_work() as session:
        a.settle(session, 5)
    with pytest.raises(DuplicateError, match="already settled"), database.unit_of_work() as session:
        a.settle(session, 5)
    with pytest.raises(DuplicateError, match="already settled"), database.unit_of_work() as session:
        mark_default(session, account_id=a.id, epoch_id=EPOCH, reason="late")


def test_settlement_needs_a_closed_unfinalized_epoch(two_traders):
    database, (a, b) = two_traders
    with database.unit_of_work() as session:
        open_epoch(session, EPOCH + 1)
    with pytest.raises(EpochStateError, match="still open"), database.unit_of_work() as session:
        a.settle(session, 1, epoch_id=EPOCH + 1)
    with pytest.raises(EpochStateError, match="still open"), database.unit_of_work() as session:
        finalize_epoch(session, EPOCH + 1)
    with database.unit_of_work() as session:
        a.settle(session, 1)
        b.settle(session, -1)
        finalize_epoch(session, EPOCH)
    with pytest.raises(EpochStateError, match="already finalized"), database.unit_of_work() as session:
        Trader(session, 9).settle(session, 0)


def test_the_clearing_account_nets_to_zero_per_epoch(two_traders):
    database, (a, b) = two_traders
    with database.unit_of_work() as session:
        open_epoch(session, EPOCH + 1)
        close_epoch(session, EPOCH + 1, [120])
        a.settle(session, 30)
        b.settle(session, -30)
        a.settle(session, -(2**90), epoch_id=EPOCH + 1)
        b.settle(session, 2**90, epoch_id=EPOCH + 1)
        finalize_epoch(session, EPOCH)
        finalize_epoch(session, EPOCH + 1)
    with database.reader() as session:
        assert balance(session, CLEARING, epoch_id=EPOCH) == 0
        assert balance(session, CLEARING, epoch_id=EPOCH + 1) == 0
        assert balance(session, trader_collateral(1)) == 30 - 2**90
        assert verify_ledger(session).ok


# --- the funding remainder -----------------------------------------------------------------------

def set_funding_rate(session, rate: int) -> None:
    """What the close fixes for a perpetual (``verifier.services.funding``): here set directly."""
    session.get(Epoch, EPOCH).prices[0].funding_rate = rate


def test_the_funding_remainder_goes_to_the_default_fund_and_clearing_nets_to_zero(two_traders):
    database, (a, b) = two_traders
    remainder = 1
    with database.unit_of_work() as session:
        set_funding_rate(session, 1_234)  # the step moved: R < 2 accounts x 1 market
        a.settle(session, 50 - remainder)
        b.settle(session, -50)
    with database.unit_of_work() as session:
        result = finalize_epoch(session, EPOCH)
    assert (result.total_pnl, result.funding_remainder, result.default_allocation) == (0, remainder, 0)
    with database.reader() as session:
        assert balance(session, CLEARING, epoch_id=EPOCH) == 0
        assert balance(session, DEFAULT_FUND) == remainder
        assert verify_ledger(session).ok
    with database.unit_of_work() as session:
        assert finalize_epoch(session, EPOCH) == result  # idempotent, the remainder read back


@pytest.mark.parametrize("rate,total", [(0, -1), (1_234, -2), (1_234, 1)])
def test_a_sum_beyond_what_rounding_funding_can_leave_still_refuses(two_traders, rate, total):
    # without a step that moved, R is 0; with one market moved and 2 accounts, R < 2; R is never negative
    database, (a, b) = two_traders
    with database.unit_of_work() as session:
        set_funding_rate(session, rate)
        a.settle(session, 50 + total)
        b.settle(session, -50)
    with pytest.raises(EpochNotBalancedError), database.unit_of_work() as session:
        finalize_epoch(session, EPOCH)
