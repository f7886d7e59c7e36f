"""The HTTP service's own records: account credentials, registered oracle keys, received oracle
reports and epoch price snapshots (mark prices at opening, settlement prices at closing).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)
IDENTITY_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "account_credentials",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_account_credentials_account_id_accounts")),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_credentials")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_account_credentials_token_hash")),
    )
    op.create_table(
        "oracle_keys",
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("public_key", name=op.f("pk_oracle_keys")),
        sa.UniqueConstraint("name", name=op.f("uq_oracle_keys_name")),
    )
    op.create_table(
        "oracle_reports",
        sa.Column("id", IDENTITY_KEY, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("oracle", sa.String(length=64), nullable=False),
        sa.Column("market", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("received_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["oracle"], ["oracle_keys.public_key"],
                                name=op.f("fk_oracle_reports_oracle_oracle_keys")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oracle_reports")),
        sa.UniqueConstraint("digest", name=op.f("uq_oracle_reports_digest")),
    )
    op.create_index(op.f("ix_oracle_reports_market_timestamp"), "oracle_reports", ["market", "timestamp"], unique=False)
    op.create_table(
        "price_snapshots",
        sa.Column("epoch_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "phase",
            sa.Enum("mark", "settlement", name="snapshot_phase", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("taken_at", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["epoch_id"], ["epochs.id"], name=op.f("fk_price_snapshots_epoch_id_epochs")),
        sa.PrimaryKeyConstraint("epoch_id", "phase", name=op.f("pk_price_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("price_snapshots")
    op.drop_index(op.f("ix_oracle_reports_market_timestamp"), table_name="oracle_reports")
    op.drop_table("oracle_reports")
    op.drop_table("oracle_keys")
    op.drop_table("account_credentials")
