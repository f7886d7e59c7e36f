"""The trader's check that an epoch's risk record is the one the service journaled.

In portfolio mode the trader proves against the risk arrays ``GET /epochs/{id}/risk`` serves. The
service also puts each epoch's **open document** (``circuits.protocol.epoch_record``) into its
hash-chained journal, naming the risk record's hash; ``GET /epochs/{id}/record`` serves it with
its hash and journal entry. Before the record is used, ``check_epoch_record`` requires:

- the open document hashes to the hash served, and the journal entry's reference
  (``epoch/<E>/open/<sha256>``) names that hash;
- it is the open document of this epoch, in portfolio mode, at the epoch's mark prices;
- its ``risk_record_sha256`` is the hash of the risk record exactly as fetched (recomputed here)
  and its ``risk_digest`` the record's Poseidon digest.

So the arrays a trader proves against are the ones the operator's ledger commits to: a record
served to one trader and not journaled, or changed after the epoch opened, is refused. (The
chain itself is the operator's to verify, ``zkmargin ledger verify``; the trader checks the
service's answers agree with it.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from circuits.protocol.api import EpochRecordView
from circuits.protocol.epoch_record import EpochRecordError, record_reference, record_sha256, risk_record_sha256
from prover.trader.portfolio import RiskRecordRefusedError


class EpochRecordRefusedError(RiskRecordRefusedError):
    """The risk record is not the one the service's journal records for the epoch."""


def _refuse(epoch_id: int, why: str) -> EpochRecordRefusedError:
    return EpochRecordRefusedError(f"the service's risk record of epoch {epoch_id} is refused: {why} "
                                   "(nothing was proven; tell the operator)")


def check_epoch_record(view: EpochRecordView, risk_json: Mapping[str, Any], epoch_id: int,
                       mark_prices: list[int] | None) -> None:
    """The risk record ``risk_json`` (as fetched) is the one the epoch's journaled open document names;
    ``EpochRecordRefusedError`` naming the first check that fails."""
    journaled = view.open
    if view.epoch_id != epoch_id or journaled is None:
        raise _refuse(epoch_id, "the service's journal holds no record of the epoch's opening")
    document = journaled.document
    try:
        sha256 = record_sha256(document)
        reference = record_reference(epoch_id, "open", sha256)
        risk_sha256 = risk_record_sha256(risk_json)
    except EpochRecordError as exc:
        raise _refuse(epoch_id, f"its journaled record does not encode ({exc})") from None
    if sha256 != journaled.sha256 or journaled.reference != reference:
        raise _refuse(epoch_id, f"the journaled open document hashes to {sha256}, not to the hash its journal "
                                f"entry names ({journaled.reference})")
    if (document.get("phase"), document.get("epoch"), document.get("mode")) != ("open", str(epoch_id), "portfolio"):
        raise _refuse(epoch_id, "the journaled document is not this epoch's opening in portfolio mode")
    if mark_prices is None or document.get("mark_prices") != [str(p) for p in mark_prices]:
        raise _refuse(epoch_id, "the journaled open document names other mark prices than the epoch's")
    if document.get("risk_record_sha256") != risk_sha256:
        raise _refuse(epoch_id, f"it hashes to {risk_sha256}, but the journal records "
                                f"{document.get('risk_record_sha256')} (not the record the epoch opened with)")
    if document.get("risk_digest") != risk_json.get("digest"):
        raise _refuse(epoch_id, "its digest is not the risk digest the journal records")
