"""Oracle trust: revoked oracle keys kept as history, one price per oracle, market and instant,
and the circuit-breaker trips an operator confirmed.

- ``oracle_keys.revoked_at`` / ``revoked_reason``: a revoked key (by the operator, or because it
  left ``ZKMARGIN_ORACLE_KEYS``) stays in the table as history; its reports are never accepted or
  counted again. Both are set together or not at all.
- ``oracle_reports`` unique on (oracle, market, timestamp): two different reports of one oracle
  for the same market and instant (equivocation) cannot both be stored, however they race in.
- ``price_snapshots.circuit_breaker_override``: the trips the operator confirmed (JSON), NULL if
  the breaker did not trip.

A database already holding equivocating reports cannot take the unique constraint; the upgrade
refuses it, naming the oracles, instead of deleting evidence of their misbehaviour. The
downgrade likewise refuses while revoked keys exist: revision 0003 would trust them again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# a refusal the service reports as one line at start-up (a stable class: migrations import nothing else)
from verifier.errors import DatabaseConfigurationError

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)


def _refuse_stored_equivocations() -> None:
    rows = op.get_bind().execute(sa.text(
        "SELECT oracle, market, timestamp, count(*) FROM oracle_reports "
        "GROUP BY oracle, market, timestamp HAVING count(*) > 1")).all()
    if rows:
        shown = "; ".join(f"oracle {oracle} market {market} timestamp {stamp} ({n} prices)"
                          for oracle, market, stamp, n in rows[:10])
        raise DatabaseConfigurationError(
            f"oracle_reports holds {len(rows)} equivocation(s), different prices signed by one oracle for one market "
            f"and instant: {shown}. Revoke those oracles (remove them from ZKMARGIN_ORACLE_KEYS), keep the rows "
            "elsewhere as evidence if needed, delete all but one row of each group, then upgrade again")


def upgrade() -> None:
    _refuse_stored_equivocations()
    with op.batch_alter_table("oracle_keys") as batch:
        batch.add_column(sa.Column("revoked_at", UTC_TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("revoked_reason", sa.String(length=200), nullable=True))
        batch.create_check_constraint("revoked_with_reason", "(revoked_at IS NULL) = (revoked_reason IS NULL)")
    with op.batch_alter_table("oracle_reports") as batch:
        batch.create_unique_constraint(op.f("uq_oracle_reports_oracle_market_timestamp"),
                                       ["oracle", "market", "timestamp"])
    with op.batch_alter_table("price_snapshots") as batch:
        batch.add_column(sa.Column("circuit_breaker_override", sa.Text(), nullable=True))


def _refuse_revoked_keys() -> None:
    names = op.get_bind().execute(sa.text(
        "SELECT name FROM oracle_keys WHERE revoked_at IS NOT NULL ORDER BY name")).scalars().all()
    if names:
        raise DatabaseConfigurationError(
            f"{len(names)} oracle key(s) are revoked ({', '.join(names[:10])}); revision 0003 cannot record a "
            "revocation, so a service at 0003 would trust them again. Delete them first: DELETE FROM oracle_reports "
            "WHERE oracle IN (SELECT public_key FROM oracle_keys WHERE revoked_at IS NOT NULL); DELETE FROM "
            "oracle_keys WHERE revoked_at IS NOT NULL; then downgrade again")


def downgrade() -> None:
    _refuse_revoked_keys()
    with op.batch_alter_table("price_snapshots") as batch:
        batch.drop_column("circuit_breaker_override")
    with op.batch_alter_table("oracle_reports") as batch:
        batch.drop_constraint(op.f("uq_oracle_reports_oracle_market_timestamp"), type_="unique")
    with op.batch_alter_table("oracle_keys") as batch:
        batch.drop_constraint(op.f("ck_oracle_keys_revoked_with_reason"), type_="check")
        batch.drop_column("revoked_reason")
        batch.drop_column("revoked_at")
