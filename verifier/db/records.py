"""Record-keeping the service does around proofs: accounts, their commitment chain, pending
items and epochs (attestations are kept by ``verifier.services.transitions``). Money moves
only through ``verifier.db.ledger``.

Every function takes the caller's session and never commits: the caller groups the writes
that belong together in one ``Database.unit_of_work()``. Refusals raise ``verifier.errors``
classes (``NotFoundError``, ``StaleCommitmentError``, ``DuplicateError``, ``EpochStateError``).

Lock order, to keep concurrent transactions free of deadlocks: account row (the transition's
compare-and-swap), then epoch row (shared by settlements, exclusive for finalization), then the
ledger head (``verifier.db.ledger.append_entry``). Finalization takes only the epoch row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import exists, func, select, text, update
from sqlalchemy.orm import Session

from verifier.db.models import (
    Account,
    AccountCommitment,
    AccountDefault,
    Attestation,
    Epoch,
    EpochPrice,
    EpochStatus,
    Market,
    PendingItem,
    PendingKind,
    StatementKind,
)
from verifier.db.types import require_aware, require_int, utc_now
from verifier.errors import (
    AccountInDefaultError,
    AccountLiquidatingError,
    ConflictError,
    DuplicateError,
    EpochStateError,
    NotFoundError,
    StaleCommitmentError,
    VerifierError,
)

MAX_ID = 1 << 63  # ids are stored as signed 64-bit integers
# PostgreSQL advisory lock key under which account openings take turns for the next id ("zkm-acct")
ACCOUNT_ID_LOCK = int.from_bytes(b"zkm-acct", "big") & (MAX_ID - 1)
DIGEST_HEX = frozenset("0123456789abcdef")


def _check_id(what: str, value: object) -> int:
    number = require_int(value, what)
    if not 0 <= number < MAX_ID:
        raise VerifierError(f"{what} must lie in [0, 2^63), got {number}")
    return number


def _check_digest(digest: str) -> str:
    """Statement digests are SHA-256 in lower-case hex: one spelling per statement, or dedup fails."""
    if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= DIGEST_HEX:
        raise VerifierError("a statement digest must be 64 lower-case hex characters")
    return digest


# --- accounts and their commitments --------------------------------------------------------


def get_account(session: Session, account_id: int) -> Account:
    account = session.get(Account, _check_id("account id", account_id))
    if account is None:
        raise NotFoundError(f"account {account_id} does not exist")
    return account


def next_account_id(session: Session) -> int:
    """The id the next account gets (one more than the largest), reserved until the caller's
    transaction ends: concurrent openings, in any worker or replica, take turns for it.

    On PostgreSQL a transaction-scoped advisory lock (released at commit or rollback) orders
    them; the ``max`` that follows runs after it is granted, so at READ COMMITTED it sees the
    previous holder's committed account. On SQLite every write transaction already holds the
    database's write lock from its start (``BEGIN IMMEDIATE``). Take it before any other lock of
    the transaction (an opening takes no other)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ACCOUNT_ID_LOCK})
    return (session.scalar(select(func.max(Account.id))) or 0) + 1


def open_account(session: Session, account_id: int, genesis_commitment: int,
                 encryption_public_key: bytes | None = None) -> Account:
    """Register an account at its genesis commitment (history sequence 0)."""
    _check_id("account id", account_id)
    if session.get(Account, account_id) is not None:
        raise DuplicateError(f"account {account_id} already exists")
    _refuse_used_commitment(session, genesis_commitment)
    if encryption_public_key is not None and len(encryption_public_key) != 32:
        raise VerifierError("an account's encryption public key is 32 bytes (X25519)")
    account = Account(id=account_id, genesis_commitment=genesis_commitment, current_commitment=genesis_commitment,
                      sequence=0, encryption_public_key=encryption_public_key, opened_at=utc_now())
    session.add(account)
    session.flush()
    session.add(AccountCommitment(account_id=account_id, sequence=0, commitment=genesis_commitment,
                                  kind=StatementKind.GENESIS, statement_digest=None, created_at=utc_now()))
    session.flush()
    return account


def _refuse_used_commitment(session: Session, commitment: int) -> None:
    """A commitment can be entered once: returning to an old state would revive its old proofs."""
    if session.scalar(select(exists().where(AccountCommitment.commitment == commitment))):
        raise DuplicateError("this commitment has already been used")


def _refuse_seen_statement(session: Session, digest: str) -> None:
    seen = session.scalar(select(exists().where(AccountCommitment.statement_digest == digest)))
    if seen or session.scalar(select(exists().where(Attestation.statement_digest == digest))):
        raise DuplicateError("this statement has already been accepted")


def advance_commitment(session: Session, account_id: int, *, expected_commitment: int, new_commitment: int,
                       kind: StatementKind, statement_digest: str, state_epoch: int, epoch_id: int | None = None,
                       holds_position: bool | None = None, escrow: str | None = None,
                       proof: str | None = None, circuit: str | None = None,
                       public_inputs: str | None = None) -> AccountCommitment:
    """Move an account from ``expected_commitment`` to ``new_commitment`` (a verified transition).

    The compare-and-swap ``UPDATE ... WHERE current_commitment = expected`` is what makes
    optimistic concurrency hold on both databases: on PostgreSQL a racing transaction waits on
    the row lock and then finds the commitment changed; on SQLite writers are serialized.
    Exactly one of several transitions from the same commitment wins; the others get
    ``StaleCommitmentError`` and can re-read and retry.

    ``epoch_id`` is the epoch the statement was proven against, ``state_epoch`` the epoch the new
    state records (a public input of the statement), ``holds_position`` what is public about its
    position (None: unchanged); ``escrow`` and ``proof`` the JSON of the escrow the proof sealed (None
    without a guardian set) and of the proof, kept beside the commitment with the statement it proves
(``circuit`` id and ``public_inputs`` JSON), which a guardian re-verifies before it opens the
escrow. An account in default is
    frozen: checked under the row lock the update holds, so a default declared concurrently (which
    takes the same lock) cannot slip by.
    """
    if kind is StatementKind.GENESIS:
        raise VerifierError("the genesis commitment is recorded by open_account")
    _check_id("account id", account_id)
    _refuse_seen_statement(session, _check_digest(statement_digest))
    _refuse_used_commitment(session, new_commitment)
    changes: dict = {"current_commitment": new_commitment, "sequence": Account.sequence + 1,
                     "state_epoch": state_epoch}
    if holds_position is not None:
        changes["holds_position"] = holds_position
    sequence = session.scalar(
        update(Account)
        .where(Account.id == account_id, Account.current_commitment == expected_commitment)
        .values(**changes)
        .returning(Account.sequence)
        .execution_options(synchronize_session="fetch")
    )
    if sequence is None:
        current = get_account(session, account_id)  # NotFoundError if there is no such account
        raise StaleCommitmentError(
            f"account {account_id} is at sequence {current.sequence}: the transition does not start from "
            "its current commitment"
        )
    refuse_if_in_default(session, account_id)
    refuse_if_liquidating(session, account_id)
    transition = AccountCommitment(account_id=account_id, sequence=sequence, commitment=new_commitment, kind=kind,
                                   statement_digest=statement_digest, epoch_id=epoch_id, state_epoch=state_epoch,
                                   escrow=escrow, proof=proof, circuit=circuit, public_inputs=public_inputs,
                                   created_at=utc_now())
    session.add(transition)
    session.flush()
    return transition


def current_escrow(session: Session, account: Account) -> str | None:
    """The escrow JSON kept beside the account's current commitment (None: none was sealed)."""
    return session.scalar(select(AccountCommitment.escrow).where(
        AccountCommitment.account_id == account.id, AccountCommitment.sequence == account.sequence))


def default_of(session: Session, account_id: int) -> AccountDefault | None:
    """The account's default (the first declared), if it is in default."""
    return session.scalar(select(AccountDefault).where(AccountDefault.account_id == account_id)
                          .order_by(AccountDefault.epoch_id).limit(1))


def refuse_if_in_default(session: Session, account_id: int) -> None:
    default = default_of(session, account_id)
    if default is not None:
        raise AccountInDefaultError(
            f"account {account_id} was declared in default in epoch {default.epoch_id} ({default.reason}): it is "
            "frozen for every transition until its default is resolved")


def refuse_if_liquidating(session: Session, account_id: int) -> None:
    """An account a liquidation froze takes no transition or attestation until the close-out."""
    liquidation_id = session.scalar(select(Account.liquidation_id).where(Account.id == account_id))
    if liquidation_id is not None:
        raise AccountLiquidatingError(
            f"account {account_id} is frozen by liquidation {liquidation_id}: no transition or attestation is "
            "accepted until its close-out is applied")


def lock_account(session: Session, account_id: int) -> Account:
    """The account row, locked until the transaction ends (the lock a transition's update takes)."""
    account = session.scalar(select(Account).where(Account.id == _check_id("account id", account_id))
                             .with_for_update().execution_options(populate_existing=True))
    if account is None:
        raise NotFoundError(f"account {account_id} does not exist")
    return account


# --- pending items ------------------------------------------------------------------------


def record_fill(session: Session, *, account_id: int, fill_commitment: int, reference: str, epoch_id: int,
                ciphertext: bytes | None = None, deadline: datetime | None = None) -> PendingItem:
    """A venue fill of epoch ``epoch_id`` awaiting the trader's proof; a retry with the same terms
    returns the same item."""
    get_account(session, account_id)
    get_epoch(session, epoch_id)
    require_aware(deadline, "a fill's deadline")
    existing = session.scalar(select(PendingItem).where(PendingItem.reference == reference))
    if existing is not None:
        if (existing.kind, existing.account_id, existing.fill_commitment) == (PendingKind.FILL, account_id,
                                                                              fill_commitment):
            return existing
        raise DuplicateError(f"reference {reference!r} was already used for another item")
    if session.scalar(select(exists().where(PendingItem.fill_commitment == fill_commitment))):
        raise DuplicateError("this fill commitment has already been recorded")
    item = PendingItem(kind=PendingKind.FILL, account_id=account_id, reference=reference,
                       fill_commitment=fill_commitment, fill_ciphertext=ciphertext, deadline=deadline,
                       epoch_id=epoch_id, created_at=utc_now())
    session.add(item)
    session.flush()
    return item


def lock_pending_item(session: Session, item_id: int) -> PendingItem:
    """Load a pending item for consumption, locked so two transactions cannot both consume it."""
    item = session.scalar(
        select(PendingItem).where(PendingItem.id == item_id).with_for_update()
        .execution_options(populate_existing=True)
    )
    if item is None:
        raise NotFoundError(f"pending item {item_id} does not exist")
    return item


def consume_pending_item(session: Session, item: PendingItem, transition: AccountCommitment,
                         kind: PendingKind) -> PendingItem:
    """Mark ``item`` consumed by ``transition``: once, by the account it was credited to."""
    if item.kind is not kind:
        raise ConflictError(f"pending item {item.id} is a {item.kind.value}, not a {kind.value}")
    if item.account_id != transition.account_id:
        raise ConflictError(f"pending item {item.id} belongs to another account")
    if item.consumed_by is not None:
        raise DuplicateError(f"pending item {item.id} has already been applied")
    item.consumed_by = transition.id
    item.consumed_at = utc_now()
    session.flush()
    return item


def consume_fill(session: Session, *, fill_commitment: int, transition: AccountCommitment) -> PendingItem:
    """Apply a recorded fill with a verified fill transition of the same account."""
    if transition.kind is not StatementKind.FILL:
        raise VerifierError("a fill is consumed by a fill transition")
    item_id = session.scalar(select(PendingItem.id).where(PendingItem.fill_commitment == fill_commitment))
    if item_id is None:
        raise NotFoundError("no fill with this commitment has been recorded")
    return consume_pending_item(session, lock_pending_item(session, item_id), transition, PendingKind.FILL)


def overdue_fills(session: Session, now: datetime) -> list[PendingItem]:
    """Unapplied fills past their deadline: the accounts holding them are in default."""
    return list(session.scalars(
        select(PendingItem).where(PendingItem.kind == PendingKind.FILL, PendingItem.consumed_by.is_(None),
                                  PendingItem.deadline.is_not(None), PendingItem.deadline < now)
        .order_by(PendingItem.id)
    ))


# --- epochs -------------------------------------------------------------------------------


def get_epoch(session: Session, epoch_id: int) -> Epoch:
    epoch = session.get(Epoch, _check_id("epoch id", epoch_id))
    if epoch is None:
        raise NotFoundError(f"epoch {epoch_id} does not exist")
    return epoch


def lock_epoch(session: Session, epoch_id: int, *, shared: bool = False) -> Epoch:
    """The epoch row, locked: shared by settlements (they may run together), exclusive by
    finalization (it must see every settlement). SQLite's write lock already serializes both."""
    epoch = session.scalar(
        select(Epoch).where(Epoch.id == _check_id("epoch id", epoch_id)).with_for_update(read=shared)
        .execution_options(populate_existing=True)
    )
    if epoch is None:
        raise NotFoundError(f"epoch {epoch_id} does not exist")
    return epoch


def open_epoch(session: Session, epoch_id: int, *, attestation_deadline: datetime | None = None,
               settlement_deadline: datetime | None = None) -> Epoch:
    _check_id("epoch id", epoch_id)
    require_aware(attestation_deadline, "the attestation deadline")
    require_aware(settlement_deadline, "the settlement deadline")
    if session.get(Epoch, epoch_id) is not None:
        raise DuplicateError(f"epoch {epoch_id} already exists")
    epoch = Epoch(id=epoch_id, status=EpochStatus.OPEN, opened_at=utc_now(),
                  attestation_deadline=attestation_deadline, settlement_deadline=settlement_deadline)
    session.add(epoch)
    session.flush()
    return epoch


def close_epoch(session: Session, epoch_id: int, prices: Sequence[int]) -> Epoch:
    """Fix the epoch's price snapshot (one price per configured market); it never changes after."""
    epoch = lock_epoch(session, epoch_id)
    if epoch.status is not EpochStatus.OPEN:
        raise EpochStateError(f"epoch {epoch_id} is already {epoch.status.value}")
    market_ids = list(session.scalars(select(Market.id).order_by(Market.id)))
    if market_ids != list(range(len(prices))):
        raise VerifierError(f"{len(prices)} prices for {len(market_ids)} configured markets")
    for market_id, price in zip(market_ids, prices, strict=True):
        if require_int(price, f"price of market {market_id}") < 0:  # 0: an option expiring worthless
            raise VerifierError(f"price of market {market_id} must not be negative")
        session.add(EpochPrice(epoch_id=epoch_id, market_id=market_id, price=price))
    epoch.status = EpochStatus.CLOSED
    epoch.closed_at = utc_now()
    session.flush()
    session.refresh(epoch, ["prices"])
    return epoch
