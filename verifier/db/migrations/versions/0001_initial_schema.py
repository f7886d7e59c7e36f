"""The initial schema: markets, accounts and their commitments, pending items, payouts, epochs,
attestations, settlements, defaults, and the hash-chained double-entry ledger.

Column types are spelled out here (not imported from the models) so that this migration keeps
creating the same schema whatever later code does. Money is NUMERIC(40, 0) on PostgreSQL and
decimal text on SQLite (a NUMERIC-affinity SQLite column would turn values beyond 2^63 into
floats); see verifier/db/types.py.

The ledger's guards, created by raw DDL per dialect:
- entries and postings are append-only: UPDATE and DELETE (and TRUNCATE on PostgreSQL) raise;
- the single ``ledger_head`` row can only advance by one entry whose ``previous_hash`` is the
  old head hash and whose hash is the new one, and which has at least two postings; on
  PostgreSQL the postings must also sum to exactly zero (SQLite cannot sum 97-bit integers
  exactly; there the ledger code checks it in the same transaction, and verify_ledger later).

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXACT_INTEGER = sa.Numeric(40, 0).with_variant(sa.String(41), "sqlite")
FIELD_ELEMENT = sa.String(78)
UTC_TIMESTAMP = sa.DateTime(timezone=True)
IDENTITY_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
GENESIS_HASH = "3847d996f696ce9964777f927702ec17eb8ef1ea562927adcac8192b78a7211d"  # SHA-256("zkm/ledger1/genesis")

APPEND_ONLY_TABLES = ("journal_entries", "ledger_postings")

POSTGRES_GUARDS = [
    """
    CREATE FUNCTION zkm_refuse_ledger_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END $$
    """,
    """
    CREATE FUNCTION zkm_check_ledger_head_advance() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        found_previous text;
        found_hash text;
        posting_count bigint;
        posting_sum numeric;
    BEGIN
        IF NEW.id <> OLD.id OR NEW.sequence <> OLD.sequence + 1 THEN
            RAISE EXCEPTION 'the ledger head advances by exactly one entry (from % to %)', OLD.sequence, NEW.sequence
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        SELECT previous_hash, entry_hash INTO found_previous, found_hash
            FROM journal_entries WHERE sequence = NEW.sequence;
        IF NOT FOUND OR found_previous <> OLD.entry_hash OR found_hash <> NEW.entry_hash THEN
            RAISE EXCEPTION 'journal entry % does not extend the ledger chain', NEW.sequence
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        SELECT count(*), coalesce(sum(p.amount), 0) INTO posting_count, posting_sum
            FROM ledger_postings p JOIN journal_entries e ON e.id = p.entry_id
            WHERE e.sequence = NEW.sequence;
        IF posting_count < 2 OR posting_sum <> 0 THEN
            RAISE EXCEPTION 'journal entry % is unbalanced: % postings summing to %',
                NEW.sequence, posting_count, posting_sum
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    *(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION zkm_refuse_ledger_change()"
        for table in APPEND_ONLY_TABLES
    ),
    *(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION zkm_refuse_ledger_change()"
        for table in (*APPEND_ONLY_TABLES, "ledger_head")
    ),
    "CREATE TRIGGER ledger_head_advance BEFORE UPDATE ON ledger_head "
    "FOR EACH ROW EXECUTE FUNCTION zkm_check_ledger_head_advance()",
    "CREATE TRIGGER ledger_head_no_delete BEFORE DELETE ON ledger_head "
    "FOR EACH ROW EXECUTE FUNCTION zkm_refuse_ledger_change()",
]

SQLITE_GUARDS = [
    *(
        f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: {verb} on {table} refused'); END"
        for table in APPEND_ONLY_TABLES
        for verb in ("UPDATE", "DELETE")
    ),
    """
    CREATE TRIGGER ledger_head_advance BEFORE UPDATE ON ledger_head
    WHEN NEW.id <> OLD.id
      OR NEW.sequence <> OLD.sequence + 1
      OR NOT EXISTS (SELECT 1 FROM journal_entries e
                     WHERE e.sequence = NEW.sequence
                       AND e.previous_hash = OLD.entry_hash
                       AND e.entry_hash = NEW.entry_hash)
      OR (SELECT count(*) FROM ledger_postings p JOIN journal_entries e ON e.id = p.entry_id
          WHERE e.sequence = NEW.sequence) < 2
    BEGIN SELECT RAISE(ABORT, 'the ledger head must advance by one chained entry with postings'); END
    """,
    "CREATE TRIGGER ledger_head_no_delete BEFORE DELETE ON ledger_head "
    "BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: DELETE on ledger_head refused'); END",
]


def _create_ledger_guards() -> None:
    dialect = op.get_bind().dialect.name
    for statement in POSTGRES_GUARDS if dialect == "postgresql" else SQLITE_GUARDS:
        op.execute(statement)


def _drop_ledger_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION zkm_refuse_ledger_change() CASCADE")
        op.execute("DROP FUNCTION zkm_check_ledger_head_advance() CASCADE")
    # SQLite drops a table's triggers with the table.


def upgrade() -> None:
    """Create every table, then the ledger's append-only guards and its genesis head."""
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("genesis_commitment", FIELD_ELEMENT, nullable=False),
        sa.Column("current_commitment", FIELD_ELEMENT, nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("encryption_public_key", sa.LargeBinary(length=32), nullable=True),
        sa.Column("opened_at", UTC_TIMESTAMP, nullable=False),
        sa.CheckConstraint("id >= 0", name=op.f("ck_accounts_id_non_negative")),
        sa.CheckConstraint("sequence >= 0", name=op.f("ck_accounts_sequence_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("current_commitment", name=op.f("uq_accounts_current_commitment")),
        sa.UniqueConstraint("genesis_commitment", name=op.f("uq_accounts_genesis_commitment")),
    )
    op.create_table(
        "epochs",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open", "closed", "finalized", name="epoch_status", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column("opened_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("attestation_deadline", UTC_TIMESTAMP, nullable=True),
        sa.Column("settlement_deadline", UTC_TIMESTAMP, nullable=True),
        sa.Column("closed_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("finalized_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("settled_accounts", sa.Integer(), nullable=True),
        sa.Column("defaulted_accounts", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(status = 'finalized') = (finalized_at IS NOT NULL)", name=op.f("ck_epochs_finalized_at_when_finalized")
        ),
        sa.CheckConstraint("(status = 'open') = (closed_at IS NULL)", name=op.f("ck_epochs_closed_at_when_closed")),
        sa.CheckConstraint("id >= 0", name=op.f("ck_epochs_id_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epochs")),
    )
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_ledger_head_single_row")),
        sa.CheckConstraint("sequence >= 0", name=op.f("ck_ledger_head_sequence_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_head")),
    )
    op.create_table(
        "markets",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("price_scale", sa.BigInteger(), nullable=False),
        sa.Column("maintenance_rate", sa.Integer(), nullable=False),
        sa.Column("initial_rate", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.CheckConstraint("id >= 0 AND id < 64", name=op.f("ck_markets_index_range")),
        sa.CheckConstraint(
            "maintenance_rate >= 0 AND maintenance_rate <= initial_rate AND initial_rate <= 1000000",
            name=op.f("ck_markets_rates_ordered"),
        ),
        sa.CheckConstraint("price_scale > 0", name=op.f("ck_markets_price_scale_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_markets")),
        sa.UniqueConstraint("name", name=op.f("uq_markets_name")),
    )
    op.create_table(
        "account_commitments",
        sa.Column("id", IDENTITY_KEY, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("commitment", FIELD_ELEMENT, nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "genesis",
                "transfer",
                "fill",
                "settle",
                name="statement_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("statement_digest", sa.String(length=64), nullable=True),
        sa.Column("epoch_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.CheckConstraint("(kind = 'genesis') = (sequence = 0)", name=op.f("ck_account_commitments_genesis_first")),
        sa.CheckConstraint(
            "(kind = 'genesis') = (statement_digest IS NULL)", name=op.f("ck_account_commitments_digest_unless_genesis")
        ),
        sa.CheckConstraint("sequence >= 0", name=op.f("ck_account_commitments_sequence_non_negative")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_account_commitments_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(["epoch_id"], ["epochs.id"], name=op.f("fk_account_commitments_epoch_id_epochs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_commitments")),
        sa.UniqueConstraint("account_id", "sequence", name=op.f("uq_account_commitments_account_id_sequence")),
        sa.UniqueConstraint("commitment", name=op.f("uq_account_commitments_commitment")),
        sa.UniqueConstraint("statement_digest", name=op.f("uq_account_commitments_statement_digest")),
    )
    op.create_table(
        "account_defaults",
        sa.Column("id", IDENTITY_KEY, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("epoch_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_account_defaults_account_id_accounts")),
        sa.ForeignKeyConstraint(["epoch_id"], ["epochs.id"], name=op.f("fk_account_defaults_epoch_id_epochs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_defaults")),
        sa.UniqueConstraint("account_id", "epoch_id", name=op.f("uq_account_defaults_account_id_epoch_id")),
    )
    op.create_index(op.f("ix_account_defaults_epoch_id"), "account_defaults", ["epoch_id"], unique=False)
    op.create_table(
        "attestations",
        sa.Column("id", IDENTITY_KEY, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("epoch_id", sa.BigInteger(), nullable=False),
        sa.Column("commitment", FIELD_ELEMENT, nullable=False),
        sa.Column("statement_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_attestations_account_id_accounts")),
        sa.ForeignKeyConstraint(["epoch_id"], ["epochs.id"], name=op.f("fk_attestations_epoch_id_epochs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attestations")),
        sa.UniqueConstraint("statement_digest", name=op.f("uq_attestations_statement_digest")),
    )
    op.create_index(
        op.f("ix_attestations_account_id_epoch_id"), "attestations", ["account_id", "epoch_id"], unique=False
    )
    op.create_table(
        "epoch_prices",
        sa.Column("epoch_id", sa.BigInteger(), nullable=False),
        sa.Column("market_id", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("price >= 1", name=op.f("ck_epoch_prices_price_positive")),
        sa.ForeignKeyConstraint(["epoch_id"], ["epochs.id"], name=op.f("fk_epoch_prices_epoch_id_epochs")),
        sa.ForeignKeyConstraint(["market_id"], ["markets.id"], name=op.f("fk_epoch_prices_market_id_markets")),
        sa.PrimaryKeyConstraint("epoch_id", "market_id", name=op.f("pk_epoch_prices")),
    )
    op.create_table(
        "journal_entries",
        sa.Column("id", IDENTITY_KEY, nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "deposit_credited",
                "deposit_applied",
                "withdrawal",
                "payout",
                "settlement",
                name="entry_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=True),
        sa.Column("epoch_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("previous_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("sequence >= 1", name=op.f("ck_journal_entries_sequence_positive")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_journal_entries_account_id_accounts")),
        sa.ForeignKeyConstraint(["epoch_id"], ["epochs.id"], name=op.f("fk_journal_entries_epoch_id_epochs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_journal_entries_entry_hash")),
        sa.UniqueConstraint("reference", name=op.f("uq_journal_entries_reference")),
        sa.UniqueConstraint("sequence", name=op.f("uq_journal_entries_sequence")),
    )
    op.create_index(op.f("ix_journal_entries_account_id"), "journal_entries", ["account_id"], unique=False)
    op.create_index(op.f("ix_journal_entries_epoch_id"), "journal_entries", ["epoch_id"], unique=False)
    op.create_table(
        "ledger_postings",
        sa.Column("id", IDENTITY_KEY, nullable=False),
        sa.Column("entry_id", IDENTITY_KEY, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("ledger_account", sa.String(length=64), nullable=False),
        sa.Column("amount", EXACT_INTEGER, nullable=False),
        sa.CheckConstraint("position >= 0", name=op.f("ck_ledger_postings_position_non_negative")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_ledger_postings_entry_id_journal_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_postings")),
        sa.UniqueConstraint("entry_id", "position", name=op.f("uq_ledger_postings_entry_id_position")),
    )
    op.create_index(op.f("ix_ledger_postings_ledger_account"), "ledger_postings", ["ledger_account"], unique=False)
    op.create_table(
        "payouts",
        sa.Column("id", IDENTITY_KEY, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", EXACT_INTEGER, nullable=False),
        sa.Column("transition_id", IDENTITY_KEY, nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "paid", name="payout_status", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("payment_reference", sa.String(length=128), nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("paid_at", UTC_TIMESTAMP, nullable=True),
        sa.CheckConstraint("(status = 'paid') = (paid_at IS NOT NULL)", name=op.f("ck_payouts_paid_at_when_paid")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_payouts_account_id_accounts")),
        sa.ForeignKeyConstraint(
            ["transition_id"], ["account_commitments.id"], name=op.f("fk_payouts_transition_id_account_commitments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payouts")),
        sa.UniqueConstraint("payment_reference", name=op.f("uq_payouts_payment_reference")),
        sa.UniqueConstraint("transition_id", name=op.f("uq_payouts_transition_id")),
    )
    op.create_index(op.f("ix_payouts_account_id"), "payouts", ["account_id"], unique=False)
    op.create_table(
        "pending_items",
        sa.Column("id", IDENTITY_KEY, nullable=False),
        sa.Column(
            "kind",
            sa.Enum("deposit", "fill", name="pending_kind", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("amount", EXACT_INTEGER, nullable=True),
        sa.Column("fill_commitment", FIELD_ELEMENT, nullable=True),
        sa.Column("fill_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("deadline", UTC_TIMESTAMP, nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("consumed_by", IDENTITY_KEY, nullable=True),
        sa.Column("consumed_at", UTC_TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "(kind = 'deposit' AND amount IS NOT NULL AND fill_commitment IS NULL)"
            " OR (kind = 'fill' AND amount IS NULL AND fill_commitment IS NOT NULL)",
            name=op.f("ck_pending_items_kind_fields"),
        ),
        sa.CheckConstraint(
            "(consumed_by IS NULL) = (consumed_at IS NULL)", name=op.f("ck_pending_items_consumed_together")
        ),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_pending_items_account_id_accounts")),
        sa.ForeignKeyConstraint(
            ["consumed_by"], ["account_commitments.id"], name=op.f("fk_pending_items_consumed_by_account_commitments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_items")),
        sa.UniqueConstraint("consumed_by", name=op.f("uq_pending_items_consumed_by")),
        sa.UniqueConstraint("fill_commitment", name=op.f("uq_pending_items_fill_commitment")),
        sa.UniqueConstraint("reference", name=op.f("uq_pending_items_reference")),
    )
    op.create_index(
        op.f("ix_pending_items_account_id_consumed_by"), "pending_items", ["account_id", "consumed_by"], unique=False
    )
    op.create_table(
        "settlements",
        sa.Column("id", IDENTITY_KEY, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("epoch_id", sa.BigInteger(), nullable=False),
        sa.Column("pnl", EXACT_INTEGER, nullable=False),
        sa.Column("transition_id", IDENTITY_KEY, nullable=False),
        sa.Column("journal_entry_id", IDENTITY_KEY, nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_settlements_account_id_accounts")),
        sa.ForeignKeyConstraint(["epoch_id"], ["epochs.id"], name=op.f("fk_settlements_epoch_id_epochs")),
        sa.ForeignKeyConstraint(
            ["journal_entry_id"], ["journal_entries.id"], name=op.f("fk_settlements_journal_entry_id_journal_entries")
        ),
        sa.ForeignKeyConstraint(
            ["transition_id"], ["account_commitments.id"], name=op.f("fk_settlements_transition_id_account_commitments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements")),
        sa.UniqueConstraint("account_id", "epoch_id", name=op.f("uq_settlements_account_id_epoch_id")),
        sa.UniqueConstraint("journal_entry_id", name=op.f("uq_settlements_journal_entry_id")),
        sa.UniqueConstraint("transition_id", name=op.f("uq_settlements_transition_id")),
    )
    op.create_index(op.f("ix_settlements_epoch_id"), "settlements", ["epoch_id"], unique=False)

    _create_ledger_guards()
    op.execute(f"INSERT INTO ledger_head (id, sequence, entry_hash) VALUES (1, 0, '{GENESIS_HASH}')")


def downgrade() -> None:
    """Drop everything (development only: this destroys the ledger)."""
    _drop_ledger_guards()
    op.drop_index(op.f("ix_settlements_epoch_id"), table_name="settlements")
    op.drop_table("settlements")
    op.drop_index(op.f("ix_pending_items_account_id_consumed_by"), table_name="pending_items")
    op.drop_table("pending_items")
    op.drop_index(op.f("ix_payouts_account_id"), table_name="payouts")
    op.drop_table("payouts")
    op.drop_index(op.f("ix_ledger_postings_ledger_account"), table_name="ledger_postings")
    op.drop_table("ledger_postings")
    op.drop_index(op.f("ix_journal_entries_epoch_id"), table_name="journal_entries")
    op.drop_index(op.f("ix_journal_entries_account_id"), table_name="journal_entries")
    op.drop_table("journal_entries")
    op.drop_table("epoch_prices")
    op.drop_index(op.f("ix_attestations_account_id_epoch_id"), table_name="attestations")
    op.drop_table("attestations")
    op.drop_index(op.f("ix_account_defaults_epoch_id"), table_name="account_defaults")
    op.drop_table("account_defaults")
    op.drop_table("account_commitments")
    op.drop_table("markets")
    op.drop_table("ledger_head")
    op.drop_table("epochs")
    op.drop_table("accounts")
