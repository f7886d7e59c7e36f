"""Clearing-cycle state: the epoch every committed state carries (state version 2), whether an
account may hold a position, the epoch each fill belongs to, and the position bit of each
settlement.

- ``accounts.state_epoch`` / ``account_commitments.state_epoch``: the epoch recorded inside the
  committed state. It is a public input of every transition (fill, transfer: the epoch proven
  against; settle: the settled epoch + 1), so the service knows it for every commitment.
- ``accounts.holds_position``: false at genesis, true after a fill, after a settlement the bit
  the settle proof made public. Accounts without a position at a close are not asked to settle.
- ``pending_items.epoch_id``: the epoch open when the venue posted a fill. A fill is applied
  against its own epoch, before that epoch is settled.
- ``settlements.holds_position``: the settle proof's public bit.

State version 2 changes every commitment (domain tag ``zkm/st2``): a database that already holds
accounts committed under version 1 cannot be carried over (their owners' states no longer open
the stored commitments), so the upgrade refuses it with instructions instead of stranding them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# a refusal the service reports as one line at start-up (a stable class: migrations import nothing else)
from verifier.errors import DatabaseConfigurationError

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _refuse_version_one_accounts() -> None:
    count = op.get_bind().execute(sa.text("SELECT count(*) FROM accounts")).scalar()
    if count:
        raise DatabaseConfigurationError(
            f"this database holds {count} accounts committed under state version 1; zkmargin's state "
            "version 2 commits to the state's epoch, so those commitments cannot be carried over. Let every "
            "account settle and withdraw under the old version, then start this version on a new database"
        )


def upgrade() -> None:
    _refuse_version_one_accounts()
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("state_epoch", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("holds_position", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_check_constraint("state_epoch_non_negative", "state_epoch >= 0")
    with op.batch_alter_table("account_commitments") as batch:
        batch.add_column(sa.Column("state_epoch", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("pending_items") as batch:
        batch.add_column(sa.Column("epoch_id", sa.BigInteger(), nullable=True))
        batch.create_foreign_key(op.f("fk_pending_items_epoch_id_epochs"), "epochs", ["epoch_id"], ["id"])
        batch.create_check_constraint("fill_has_epoch", "kind = 'deposit' OR epoch_id IS NOT NULL")
    op.create_index(op.f("ix_pending_items_epoch_id"), "pending_items", ["epoch_id"], unique=False)
    with op.batch_alter_table("settlements") as batch:
        batch.add_column(sa.Column("holds_position", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("settlements") as batch:
        batch.drop_column("holds_position")
    op.drop_index(op.f("ix_pending_items_epoch_id"), table_name="pending_items")
    with op.batch_alter_table("pending_items") as batch:
        batch.drop_constraint(op.f("ck_pending_items_fill_has_epoch"), type_="check")
        batch.drop_constraint(op.f("fk_pending_items_epoch_id_epochs"), type_="foreignkey")
        batch.drop_column("epoch_id")
    with op.batch_alter_table("account_commitments") as batch:
        batch.drop_column("state_epoch")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_constraint(op.f("ck_accounts_state_epoch_non_negative"), type_="check")
        batch.drop_column("holds_position")
        batch.drop_column("state_epoch")
