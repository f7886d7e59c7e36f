"""Liquidation: requests, guardians' shares, the frozen account, the public successor commitment.

- ``liquidations``: the operator's signed request (canonical JSON, digest, signature), the pinned
  commitment, and once opened and closed the revealed state, the close-out and the successor.
- ``liquidation_shares``: each guardian's decryption share, kept once its DLEQ proof verified.
- ``accounts.liquidation_id``: the open liquidation that froze the account.
- ``account_commitments.circuit`` and ``.public_inputs``: the statement the stored proof is for,
  which a request pins (the guardians re-verify the proof against it).
- ``account_commitments.kind`` gains ``liquidation`` (the successor the service wrote, no proof);
  ``journal_entries.kind`` gains ``liquidation_request`` (a record of the signed request, the
  one entry kind without postings: the ledger-head guards let exactly it through) and
  ``liquidation`` (a close-out's money).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)
IDENTITY_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

STATEMENT_KINDS = ("genesis", "transfer", "fill", "settle")
ENTRY_KINDS = ("deposit_credited", "deposit_applied", "withdrawal", "payout", "settlement")
RECORD_KIND = "liquidation_request"


def _kinds_check(kinds: Sequence[str]) -> str:
    return "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def _postgres_head_guard(allow_record: bool) -> str:
    record = f" AND NOT (posting_count = 0 AND entry_kind = '{RECORD_KIND}')" if allow_record else ""
    return f"""
    CREATE OR REPLACE FUNCTION zkm_check_ledger_head_advance() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        found_previous text;
        found_hash text;
        entry_kind text;
        posting_count bigint;
        posting_sum numeric;
    BEGIN
        IF NEW.id <> OLD.id OR NEW.sequence <> OLD.sequence + 1 THEN
            RAISE EXCEPTION 'the ledger head advances by exactly one entry (from % to %)', OLD.sequence, NEW.sequence
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        SELECT previous_hash, entry_hash, kind INTO found_previous, found_hash, entry_kind
            FROM journal_entries WHERE sequence = NEW.sequence;
        IF NOT FOUND OR found_previous <> OLD.entry_hash OR found_hash <> NEW.entry_hash THEN
            RAISE EXCEPTION 'journal entry % does not extend the ledger chain', NEW.sequence
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        SELECT count(*), coalesce(sum(p.amount), 0) INTO posting_count, posting_sum
            FROM ledger_postings p JOIN journal_entries e ON e.id = p.entry_id
            WHERE e.sequence = NEW.sequence;
        IF (posting_count < 2{record}) OR posting_sum <> 0 THEN
            RAISE EXCEPTION 'journal entry % is unbalanced: % postings summing to %',
                NEW.sequence, posting_count, posting_sum
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END $$
    """


def _sqlite_head_guard(allow_record: bool) -> str:
    record = (f" AND NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.sequence = NEW.sequence "
              f"AND e.kind = '{RECORD_KIND}' AND NOT EXISTS (SELECT 1 FROM ledger_postings p "
              f"WHERE p.entry_id = e.id))") if allow_record else ""
    return f"""
    CREATE TRIGGER ledger_head_advance BEFORE UPDATE ON ledger_head
    WHEN NEW.id <> OLD.id
      OR NEW.sequence <> OLD.sequence + 1
      OR NOT EXISTS (SELECT 1 FROM journal_entries e
                     WHERE e.sequence = NEW.sequence
                       AND e.previous_hash = OLD.entry_hash
                       AND e.entry_hash = NEW.entry_hash)
      OR ((SELECT count(*) FROM ledger_postings p JOIN journal_entries e ON e.id = p.entry_id
          WHERE e.sequence = NEW.sequence) < 2{record})
    BEGIN SELECT RAISE(ABORT, 'the ledger head must advance by one chained entry with postings'); END
    """


SQLITE_JOURNAL_GUARDS = [
    f"CREATE TRIGGER journal_entries_no_{verb.lower()} BEFORE {verb} ON journal_entries "
    f"BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: {verb} on journal_entries refused'); END"
    for verb in ("UPDATE", "DELETE")
]


def _set_kinds(table: str, constraint: str, kinds: Sequence[str]) -> None:
    with op.batch_alter_table(table) as batch:
        batch.drop_constraint(constraint, type_="check")
        batch.create_check_constraint(constraint, _kinds_check(kinds))


def _set_entry_kinds(kinds: Sequence[str], allow_record: bool) -> None:
    """The journal's kinds and the head guard; SQLite rebuilds the table, so its guards are made again."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("DROP TRIGGER IF EXISTS ledger_head_advance")
    _set_kinds("journal_entries", "entry_kind", kinds)
    if sqlite:
        for statement in SQLITE_JOURNAL_GUARDS:
            op.execute(f"DROP TRIGGER IF EXISTS {statement.split()[2]}")
            op.execute(statement)
        op.execute(_sqlite_head_guard(allow_record))
    else:
        op.execute(_postgres_head_guard(allow_record))


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("liquidation_id", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("account_commitments") as batch:
        batch.add_column(sa.Column("circuit", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("public_inputs", sa.Text(), nullable=True))
    _set_kinds("account_commitments", "statement_kind", (*STATEMENT_KINDS, "liquidation"))
    _set_entry_kinds((*ENTRY_KINDS, RECORD_KIND, "liquidation"), allow_record=True)
    op.create_table(
        "liquidations",
        sa.Column("id", IDENTITY_KEY, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("epoch_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("status", sa.Enum("requested", "opened", "closed", "failed", name="liquidation_status",
                                    native_enum=False, create_constraint=True, length=32), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("commitment_id", IDENTITY_KEY, nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("revealed_state", sa.Text(), nullable=True),
        sa.Column("closeout", sa.Text(), nullable=True),
        sa.Column("successor_state", sa.Text(), nullable=True),
        sa.Column("closed_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("failure", sa.String(length=500), nullable=True),
        sa.CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)",
                           name=op.f("ck_liquidations_closed_at_when_closed")),
        sa.CheckConstraint("(status = 'failed') = (failure IS NOT NULL)",
                           name=op.f("ck_liquidations_failure_when_failed")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_liquidations_account_id_accounts")),
        sa.ForeignKeyConstraint(["epoch_id"], ["epochs.id"], name=op.f("fk_liquidations_epoch_id_epochs")),
        sa.ForeignKeyConstraint(["commitment_id"], ["account_commitments.id"],
                                name=op.f("fk_liquidations_commitment_id_account_commitments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_liquidations")),
        sa.UniqueConstraint("request_digest", name=op.f("uq_liquidations_request_digest")),
    )
    op.create_index(op.f("ix_liquidations_account_id"), "liquidations", ["account_id"], unique=False)
    op.create_table(
        "liquidation_shares",
        sa.Column("id", IDENTITY_KEY, nullable=False),
        sa.Column("liquidation_id", IDENTITY_KEY, nullable=False),
        sa.Column("guardian", sa.Integer(), nullable=False),
        sa.Column("share", sa.Text(), nullable=False),
        sa.Column("accepted_at", UTC_TIMESTAMP, nullable=False),
        sa.CheckConstraint("guardian >= 1", name=op.f("ck_liquidation_shares_guardian_positive")),
        sa.ForeignKeyConstraint(["liquidation_id"], ["liquidations.id"],
                                name=op.f("fk_liquidation_shares_liquidation_id_liquidations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_liquidation_shares")),
        sa.UniqueConstraint("liquidation_id", "guardian", name=op.f("uq_liquidation_shares_liquidation_id_guardian")),
    )


def downgrade() -> None:
    op.drop_table("liquidation_shares")
    op.drop_index(op.f("ix_liquidations_account_id"), table_name="liquidations")
    op.drop_table("liquidations")
    _set_entry_kinds(ENTRY_KINDS, allow_record=False)
    _set_kinds("account_commitments", "statement_kind", STATEMENT_KINDS)
    with op.batch_alter_table("account_commitments") as batch:
        batch.drop_column("public_inputs")
        batch.drop_column("circuit")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("liquidation_id")
