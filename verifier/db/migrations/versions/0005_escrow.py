"""Escrow: every transition's commitment is stored with the escrow its proof sealed and the proof.

- ``account_commitments.escrow``: the escrow (``zkmargin.escrow.Escrow`` JSON) whose digest the
  transition's proof bound, NULL for genesis and for a deployment without a guardian set. It is
  what the guardians decrypt when the account is liquidated.
- ``account_commitments.proof``: the accepted proof (snarkjs JSON), so a guardian can re-verify,
  before it helps open a state, that the stored escrow is the one proven for that commitment.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("account_commitments") as batch:
        batch.add_column(sa.Column("escrow", sa.Text(), nullable=True))
        batch.add_column(sa.Column("proof", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("account_commitments") as batch:
        batch.drop_column("proof")
        batch.drop_column("escrow")
