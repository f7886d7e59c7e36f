"""Portfolio margin: signed implied-volatility reports.

- ``vol_reports``: each oracle's signed implied volatility per underlying market, kept as the
  price reports are (``oracle_reports``): unique digest, one report per oracle, market and
  instant (a second, different one is equivocation).
- ``epoch_risk``: an epoch's risk record in portfolio mode (market inputs, risk arrays, their
  Poseidon digest), fixed when it opens.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)
IDENTITY_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "vol_reports",
        sa.Column("id", IDENTITY_KEY, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("oracle", sa.String(length=64), nullable=False),
        sa.Column("market", sa.Integer(), nullable=False),
        sa.Column("vol", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("received_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["oracle"], ["oracle_keys.public_key"],
                                name=op.f("fk_vol_reports_oracle_oracle_keys")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vol_reports")),
        sa.UniqueConstraint("digest", name=op.f("uq_vol_reports_digest")),
        sa.UniqueConstraint("oracle", "market", "timestamp", name=op.f("uq_vol_reports_oracle_market_timestamp")),
    )
    op.create_index(op.f("ix_vol_reports_market_timestamp"), "vol_reports", ["market", "timestamp"], unique=False)
    op.create_table(
        "epoch_risk",
        sa.Column("epoch_id", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=80), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["epoch_id"], ["epochs.id"], name=op.f("fk_epoch_risk_epoch_id_epochs")),
        sa.PrimaryKeyConstraint("epoch_id", name=op.f("pk_epoch_risk")),
    )


def downgrade() -> None:
    op.drop_table("epoch_risk")
    op.drop_index(op.f("ix_vol_reports_market_timestamp"), table_name="vol_reports")
    op.drop_table("vol_reports")
