"""Perpetual funding: signed funding-rate reports and each epoch's fixed rate per market.

- ``funding_reports``: signed funding-rate reports (``circuits.protocol.funding_report``), unique
  on the digest and on (oracle, market, epoch): one rate per oracle, market and epoch.
- ``epoch_prices.funding_rate``: the quorum median fixed when the epoch closes (0 for a future and
  for every epoch closed before this revision); the funding-index step is rate * price.

The funding remainder finalization books (``funding-remainder/<epoch>``) is a ``settlement``
entry, so the journal's kinds do not change.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)
IDENTITY_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("epoch_prices") as batch:
        batch.add_column(sa.Column("funding_rate", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "funding_reports",
        sa.Column("id", IDENTITY_KEY, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("oracle", sa.String(length=64), nullable=False),
        sa.Column("market", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("rate", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("received_at", UTC_TIMESTAMP, nullable=False),
        sa.CheckConstraint("rate >= -1000000 AND rate <= 1000000", name=op.f("ck_funding_reports_rate_range")),
        sa.ForeignKeyConstraint(["oracle"], ["oracle_keys.public_key"],
                                name=op.f("fk_funding_reports_oracle_oracle_keys")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_reports")),
        sa.UniqueConstraint("digest", name=op.f("uq_funding_reports_digest")),
        sa.UniqueConstraint("oracle", "market", "epoch", name=op.f("uq_funding_reports_oracle_market_epoch")),
    )


def downgrade() -> None:
    op.drop_table("funding_reports")
    with op.batch_alter_table("epoch_prices") as batch:
        batch.drop_column("funding_rate")
