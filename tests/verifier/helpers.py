"""Accepting records through the service's own acceptance paths, for tests that set up a
database without proofs (the statement digest stands in for a verified proof)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from verifier.services.statements import Statement
from verifier.services.transitions import Plan, keep_attestation


def attestation_plan(account_id: int, epoch_id: int, commitment: int, digest: str) -> Plan:
    """What planning a margin attestation of ``commitment`` in ``epoch_id`` yields, proof verified."""
    return Plan(Statement("margin", [account_id, commitment, epoch_id], digest), None, account_id, commitment,
                epoch_id=epoch_id)


def accept_attestation(session: Session, *, account_id: int, epoch_id: int, commitment: int,
                       statement_digest: str) -> dict[str, Any]:
    """Keep a margin attestation as the service does once its proof verified (``keep_attestation``)."""
    return keep_attestation(session, attestation_plan(account_id, epoch_id, commitment, statement_digest))
