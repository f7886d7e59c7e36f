"""Option expiry: the settlement valuation, and settlement prices that may be 0.

- ``epoch_risk.settlement``: the valuation document fixed when a portfolio-mode epoch closes
  (``verifier.services.risk.fix_settlement``): each market's settlement price (an expired option
  at its intrinsic value, a live one at the model's value) and the ``expires`` flags of the
  settle statement; null until the epoch closes.
- ``epoch_prices``: ``price >= 0`` (an option expiring out of the money settles at 0).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _price_check(drop: str, create: str, condition: str) -> None:
    with op.batch_alter_table("epoch_prices") as batch:
        batch.drop_constraint(drop, type_="check")
        batch.create_check_constraint(create, condition)


def upgrade() -> None:
    with op.batch_alter_table("epoch_risk") as batch:
        batch.add_column(sa.Column("settlement", sa.Text(), nullable=True))
    _price_check("price_positive", "price_not_negative", "price >= 0")


def downgrade() -> None:
    _price_check("price_not_negative", "price_positive", "price >= 1")
    with op.batch_alter_table("epoch_risk") as batch:
        batch.drop_column("settlement")
