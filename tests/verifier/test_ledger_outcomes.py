"""An account ends an epoch settled or in default, never both, whatever the timing.

Observed before: a settlement and a default declaration for the same account and epoch could
both commit (each checked the other's table, then inserted, under a shared epoch lock), and
finalization counted the account twice. Both now take the account row's lock first (the one a
transition's compare-and-swap takes), so the second waits for the first and then sees it.
"""

from __future__ import annotations

import hashlib
import threading
import time

import pytest
from sqlalchemy import select

from tests.verifier.test_ledger_settlement import EPOCH, market_and_epoch  # noqa: F401 (the fixture)
from verifier.db.models import AccountDefault, Settlement, StatementKind
from verifier.db.records import advance_commitment, get_account, open_account
from verifier.errors import AccountInDefaultError, DuplicateError
from verifier.services.defaults import mark_default
from verifier.services.settlements import record_settlement

HOLD = 0.3  # how long the first transaction keeps its writes uncommitted


@pytest.fixture
def closed_epoch(market_and_epoch):  # noqa: F811 (the imported fixture)
    return market_and_epoch


def holder(database, account_id: int) -> None:
    """An account whose state holds a position in the closed epoch (it applied a fill there)."""
    with database.unit_of_work() as session:
        open_account(session, account_id, account_id * 1000)
        advance_commitment(session, account_id, expected_commitment=account_id * 1000,
                           new_commitment=account_id * 1000 + 1, kind=StatementKind.FILL,
                           statement_digest=hashlib.sha256(f"fill/{account_id}".encode()).hexdigest(),
                           state_epoch=EPOCH, holds_position=True)


def settle(session, account_id: int):
    current = get_account(session, account_id).current_commitment
    transition = advance_commitment(
        session, account_id, expected_commitment=current, new_commitment=current + 1, kind=StatementKind.SETTLE,
        statement_digest=hashlib.sha256(f"settle/{account_id}".encode()).hexdigest(), epoch_id=EPOCH,
        state_epoch=EPOCH + 1, holds_position=True)
    return record_settlement(session, transition=transition, pnl=7)


def default(session, account_id: int):
    return mark_default(session, account_id=account_id, epoch_id=EPOCH, reason="no settlement")


def race(database, account_id: int, first, second) -> dict[str, BaseException | None]:
    """``first`` writes and holds its transaction open for HOLD seconds; ``second`` starts meanwhile."""
    outcome: dict[str, BaseException | None] = {}
    written = threading.Event()

    def run_first() -> None:
        try:
            with database.unit_of_work() as session:
                first(session, account_id)
                written.set()
                time.sleep(HOLD)
            outcome["first"] = None
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            written.set()
            outcome["first"] = exc

    def run_second() -> None:
        written.wait(10)
        try:
            with database.unit_of_work() as session:
                second(session, account_id)
            outcome["second"] = None
        except BaseException as exc:  # noqa: BLE001
            outcome["second"] = exc

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcome


def outcomes_of(database, account_id: int) -> tuple[int, int]:
    with database.reader() as session:
        settled = len(session.scalars(select(Settlement).where(Settlement.account_id == account_id)).all())
        defaulted = len(session.scalars(select(AccountDefault).where(AccountDefault.account_id == account_id)).all())
    return settled, defaulted


def test_a_default_declared_while_a_settlement_commits_is_refused(closed_epoch):
    holder(closed_epoch, 1)
    outcome = race(closed_epoch, 1, settle, default)
    assert outcome["first"] is None
    assert isinstance(outcome["second"], DuplicateError) and "settled" in str(outcome["second"])
    assert outcomes_of(closed_epoch, 1) == (1, 0)


def test_a_settlement_committing_while_a_default_is_declared_is_refused(closed_epoch):
    holder(closed_epoch, 2)
    outcome = race(closed_epoch, 2, default, settle)
    assert outcome["first"] is None
    assert isinstance(outcome["second"], AccountInDefaultError)
    assert outcomes_of(closed_epoch, 2) == (0, 1)
