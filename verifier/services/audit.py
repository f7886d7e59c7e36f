"""The operator's view of the settlement ledger: the chain's verification and account balances."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from verifier.db.ledger import balance, verify_ledger


def ledger_verification(session: Session) -> dict[str, Any]:
    """``verify_ledger`` on the caller's snapshot, as the API shows it."""
    report = verify_ledger(session)
    return {"ok": report.ok, "entries_checked": report.entries_checked, "head_sequence": report.head_sequence,
            "head_hash": report.head_hash, "broken_sequence": report.broken_sequence, "problem": report.problem,
            "verdict": report.verdict(), "epochs_recorded": report.epochs_recorded,
            "epochs_unrecorded": report.epochs_unrecorded}


def ledger_balance(session: Session, ledger_account: str) -> dict[str, Any]:
    return {"ledger_account": ledger_account, "balance": str(balance(session, ledger_account))}
