"""The epoch's record in the signed ledger.

- ``journal_entries.kind`` gains ``epoch_record``: an epoch's open or close document
  (``circuits.protocol.epoch_record``), a record without postings like ``liquidation_request``;
  the ledger-head guards (SQLite trigger ``ledger_head_advance``, PostgreSQL function
  ``zkm_check_ledger_head_advance``) let exactly these two kinds through without postings.
- ``epoch_records``: each document's canonical JSON, its hash and the journal entry carrying it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS_BEFORE = ("deposit_credited", "deposit_applied", "withdrawal", "payout", "settlement",
                "liquidation_request", "liquidation")
RECORDS_BEFORE = ("liquidation_request",)
EPOCH_RECORD = "epoch_record"


def _in(kinds: Sequence[str]) -> str:
    return "(" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def _postgres_head_guard(record_kinds: Sequence[str]) -> str:
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
        IF (posting_count < 2 AND NOT (posting_count = 0 AND entry_kind IN {_in(record_kinds)}))
                OR posting_sum <> 0 THEN
            RAISE EXCEPTION 'journal entry % is unbalanced: % postings summing to %',
                NEW.sequence, posting_count, posting_sum
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END $$
    """


def _sqlite_head_guard(record_kinds: Sequence[str]) -> str:
    return f"""
    CREATE TRIGGER ledger_head_advance BEFORE UPDATE ON ledger_head
    WHEN NEW.id <> OLD.id
      OR NEW.sequence <> OLD.sequence + 1
      OR NOT EXISTS (SELECT 1 FROM journal_entries e
                     WHERE e.sequence = NEW.sequence
                       AND e.previous_hash = OLD.entry_hash
                       AND e.entry_hash = NEW.entry_hash)
      OR ((SELECT count(*) FROM ledger_postings p JOIN journal_entries e ON e.id = p.entry_id
          WHERE e.sequence = NEW.sequence) < 2
          AND NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.sequence = NEW.sequence
                          AND e.kind IN {_in(record_kinds)} AND NOT EXISTS (SELECT 1 FROM ledger_postings p
                          WHERE p.entry_id = e.id)))
    BEGIN SELECT RAISE(ABORT, 'the ledger head must advance by one chained entry with postings'); END
    """


SQLITE_JOURNAL_GUARDS = [
    f"CREATE TRIGGER journal_entries_no_{verb.lower()} BEFORE {verb} ON journal_entries "
    f"BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: {verb} on journal_entries refused'); END"
    for verb in ("UPDATE", "DELETE")
]


def _set_entry_kinds(kinds: Sequence[str], record_kinds: Sequence[str]) -> None:
    """The journal's kinds and the head guard; SQLite rebuilds the table, so its guards are made again."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("DROP TRIGGER IF EXISTS ledger_head_advance")
    with op.batch_alter_table("journal_entries") as batch:
        batch.drop_constraint("entry_kind", type_="check")
        batch.create_check_constraint("entry_kind", "kind IN " + _in(kinds))
    if sqlite:
        for statement in SQLITE_JOURNAL_GUARDS:
            op.execute(f"DROP TRIGGER IF EXISTS {statement.split()[2]}")
            op.execute(statement)
        op.execute(_sqlite_head_guard(record_kinds))
    else:
        op.execute(_postgres_head_guard(record_kinds))


def upgrade() -> None:
    _set_entry_kinds((*KINDS_BEFORE, EPOCH_RECORD), (*RECORDS_BEFORE, EPOCH_RECORD))
    op.create_table(
        "epoch_records",
        sa.Column("epoch_id", sa.BigInteger(), nullable=False),
        sa.Column("phase", sa.String(length=8), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint("phase IN ('open', 'close')", name=op.f("ck_epoch_records_phase_known")),
        sa.ForeignKeyConstraint(["epoch_id"], ["epochs.id"], name=op.f("fk_epoch_records_epoch_id_epochs")),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"],
                                name=op.f("fk_epoch_records_entry_id_journal_entries")),
        sa.PrimaryKeyConstraint("epoch_id", "phase", name=op.f("pk_epoch_records")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_epoch_records_entry_id")),
    )


def downgrade() -> None:
    """Refused while the journal holds epoch records: they cannot be removed from an append-only chain."""
    recorded = op.get_bind().execute(sa.text(f"SELECT count(*) FROM journal_entries WHERE kind = '{EPOCH_RECORD}'"))
    if recorded.scalar():
        raise RuntimeError("cannot downgrade below 0009: the journal holds epoch_record entries (append-only)")
    op.drop_table("epoch_records")
    _set_entry_kinds(KINDS_BEFORE, RECORDS_BEFORE)
