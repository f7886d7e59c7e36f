"""Liveness and the public configuration: what proofs must be made for."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from verifier.core.bootstrap import Runtime
from verifier.errors import NotFoundError
from zkmargin.threshold.guardians import guardian_set_to_json


def liveness(session: Session) -> dict[str, Any]:
    """One round trip to the database (it answers), and which worker answered."""
    session.execute(text("SELECT 1"))
    return {"status": "ok", "worker": os.getpid()}


def public_config(runtime: Runtime) -> dict[str, Any]:
    return {
        "curve": runtime.curve,
        "markets": [{"market": i, **m.model_dump()} for i, m in enumerate(runtime.markets)],
        "margin_mode": runtime.settings.margin_mode,
        "liquidation_penalty_rate": runtime.settings.liquidation_penalty_rate,
        "portfolio_initial_factor": runtime.settings.portfolio_initial_factor,
        "statements": {name: {"circuit": key.circuit.key_name(), "circuit_id": key.circuit_id,
                              "public_inputs": key.vk.num_public}
                       for name, key in runtime.keys.items()},
        "oracle_quorum": runtime.oracle_quorum,
        "oracle_faults": runtime.oracle_faults,
        "oracle_staleness_seconds": runtime.settings.oracle_staleness_seconds,
        "circuit_breaker": {"max_spread_millionths": runtime.settings.circuit_breaker_max_spread,
                            "max_move_millionths": runtime.settings.circuit_breaker_max_move},
    }


def guardian_set(runtime: Runtime) -> dict[str, Any]:
    """The guardian set this service escrows to, exactly as its guardians wrote it."""
    if runtime.guardians is None:
        raise NotFoundError("this service has no guardian set (ZKMARGIN_GUARDIAN_SET is not configured)")
    return guardian_set_to_json(runtime.guardians)
