"""The epoch's record in the signed ledger: what an epoch opened and closed on, as canonical JSON.

Each epoch puts two documents into the hash-chained journal (docs/protocol.md §10.6, "The epoch's
record"): the **open** document when it opens and the **close** document when it closes, each as
an ``epoch_record`` entry (no postings) whose reference ``epoch/<E>/<phase>/<sha256>`` carries the
document's hash. ``ledger verify`` rebuilds both documents from the database's rows (the price
snapshots, the settlement prices and funding rates, the risk record) and compares: a changed
price or risk record no longer hashes to what the journal holds.

The open document::

    {"domain": "zkmargin/epoch-record/v1", "phase": "open", "epoch": "E", "mode": "flat"|"portfolio",
     "mark_prices": ["P_0", ...], "mark_snapshot_sha256": "<hex>",
     "risk_record_sha256": "<hex>"|null, "risk_digest": "<decimal>"|null}

``risk_record_sha256`` and ``risk_digest`` are set exactly in portfolio mode: the risk record's
hash (below) and its Poseidon digest (``EpochRiskArrays.digest``, the portfolio circuit's last
public input). The close document::

    {"domain": ..., "phase": "close", "epoch": "E", "settlement_prices": [...],
     "settlement_snapshot_sha256": "<hex>", "funding_rates": [...], "funding_steps": [...],
     "settlement_valuation_sha256": "<hex>"|null}

``settlement_valuation_sha256`` names an option settlement valuation document when the epoch
closed with one (null otherwise).

Encoding
--------
Every integer of an epoch document (the epoch, prices, funding rates and steps) is a canonical
decimal string (no sign for non-negative values, no leading zeros): exact for any size in every
JSON reader, as the ledger's amounts are. Hashes are lower-case hex. The canonical bytes are the
JSON with sorted keys, no spaces, ASCII only; a float anywhere in it is refused. A
document's hash is ``SHA-256("zkmargin/epoch-record/v1" || 0x00 || canonical bytes)``.

The risk record (``GET /epochs/{id}/risk``) keeps its published form (integers as JSON numbers);
its hash is ``SHA-256("zkmargin/risk-record/v1" || 0x00 || canonical bytes)`` of that JSON, so a
trader recomputes it from what it fetched.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from zkmargin.errors import MalformedInputError

EPOCH_RECORD_DOMAIN = "zkmargin/epoch-record/v1"
RISK_RECORD_DOMAIN = "zkmargin/risk-record/v1"
SETTLEMENT_VALUATION_DOMAIN = "zkmargin/settlement-valuation/v1"
PHASES = ("open", "close")
MODES = ("flat", "portfolio")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_DECIMAL = re.compile(r"0|-?[1-9][0-9]*")
_REFERENCE = re.compile(r"epoch/(0|[1-9][0-9]*)/(open|close)/([0-9a-f]{64})")


class EpochRecordError(MalformedInputError):
    """An epoch record document is not well formed (a float, a bad hash, an unknown phase)."""

    reason = "malformed"


# --- canonical bytes and hashes -------------------------------------------------------------


def _refuse_floats(value: Any, where: str) -> None:
    """Money and prices are integers: a float anywhere is refused (booleans are flags, e.g. ``perpetual``)."""
    if isinstance(value, float):
        raise EpochRecordError(f"{where}: {value!r} is not allowed in a record (integers only)")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EpochRecordError(f"{where}: keys are strings, got {key!r}")
            _refuse_floats(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _refuse_floats(item, f"{where}[{i}]")
    elif value is not None and not isinstance(value, int | str):  # bool is an int
        raise EpochRecordError(f"{where}: {type(value).__name__} is not a JSON value of a record")


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """Sorted keys, no spaces, ASCII; ``EpochRecordError`` for a float anywhere."""
    _refuse_floats(document, "document")
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _domain_hash(domain: str, document: Mapping[str, Any]) -> str:
    return hashlib.sha256(domain.encode() + b"\x00" + canonical_bytes(document)).hexdigest()


def record_sha256(document: Mapping[str, Any]) -> str:
    """An epoch document's hash under ``zkmargin/epoch-record/v1``: what the journal entry carries."""
    return _domain_hash(EPOCH_RECORD_DOMAIN, document)


def risk_record_sha256(risk_record: Mapping[str, Any]) -> str:
    """The risk record's hash (its own domain), over the record as published at /epochs/{id}/risk
    when the epoch opened: without ``settlement``, the valuation the close adds (hashed in the close
    document, ``settlement_valuation_sha256``)."""
    return _domain_hash(RISK_RECORD_DOMAIN, {k: v for k, v in risk_record.items() if k != "settlement"})


def settlement_valuation_sha256(valuation: Mapping[str, Any]) -> str:
    """The hash (its own domain) of an option settlement valuation document (docs/protocol.md §10.7)."""
    return _domain_hash(SETTLEMENT_VALUATION_DOMAIN, valuation)


# --- the documents --------------------------------------------------------------------------


def _decimals(values: Sequence[int], what: str) -> list[str]:
    out = []
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int):
            raise EpochRecordError(f"{what}[{i}] must be an integer, got {value!r}")
        out.append(str(value))
    return out


def _hash_or_none(value: str | None, what: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not _SHA256_HEX.fullmatch(value)):
        raise EpochRecordError(f"{what} must be 64 lower-case hex digits, got {value!r}")
    return value


def _epoch(epoch: int) -> str:
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise EpochRecordError(f"the epoch must be a non-negative integer, got {epoch!r}")
    return str(epoch)


def open_document(epoch: int, mark_prices: Sequence[int], mark_snapshot_sha256: str,
                  risk_record: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the epoch opened on: its mark prices and snapshot, and in portfolio mode (``risk_record``
    given) the risk record's hash and Poseidon digest."""
    if risk_record is not None and not isinstance(risk_record.get("digest"), str):
        raise EpochRecordError("the risk record carries no decimal digest")
    return {
        "domain": EPOCH_RECORD_DOMAIN,
        "phase": "open",
        "epoch": _epoch(epoch),
        "mode": "portfolio" if risk_record is not None else "flat",
        "mark_prices": _decimals(mark_prices, "mark_prices"),
        "mark_snapshot_sha256": _hash_or_none(mark_snapshot_sha256, "mark_snapshot_sha256"),
        "risk_record_sha256": risk_record_sha256(risk_record) if risk_record is not None else None,
        "risk_digest": risk_record["digest"] if risk_record is not None else None,
    }


def close_document(epoch: int, settlement_prices: Sequence[int], settlement_snapshot_sha256: str,
                   funding_rates: Sequence[int], funding_steps: Sequence[int],
                   settlement_valuation_sha256: str | None = None) -> dict[str, Any]:
    """What the epoch closed on: settlement prices and snapshot, funding rates and index steps, and
    the option settlement valuation's hash when there is one."""
    if not len(settlement_prices) == len(funding_rates) == len(funding_steps):
        raise EpochRecordError(f"{len(settlement_prices)} settlement prices, {len(funding_rates)} funding rates "
                               f"and {len(funding_steps)} funding steps: one of each per market")
    return {
        "domain": EPOCH_RECORD_DOMAIN,
        "phase": "close",
        "epoch": _epoch(epoch),
        "settlement_prices": _decimals(settlement_prices, "settlement_prices"),
        "settlement_snapshot_sha256": _hash_or_none(settlement_snapshot_sha256, "settlement_snapshot_sha256"),
        "funding_rates": _decimals(funding_rates, "funding_rates"),
        "funding_steps": _decimals(funding_steps, "funding_steps"),
        "settlement_valuation_sha256": _hash_or_none(settlement_valuation_sha256, "settlement_valuation_sha256"),
    }


# --- journal references ---------------------------------------------------------------------


def record_reference(epoch: int, phase: str, sha256: str) -> str:
    """The journal entry's reference: ``epoch/<E>/<phase>/<sha256>`` (unique, names the document)."""
    if phase not in PHASES:
        raise EpochRecordError(f"the phase is one of {PHASES}, got {phase!r}")
    return f"epoch/{_epoch(epoch)}/{phase}/{_hash_or_none(sha256, 'the record hash')}"


def parse_reference(reference: str) -> tuple[int, str, str]:
    """``(epoch, phase, sha256)`` of an ``epoch_record`` entry's reference; ``EpochRecordError`` otherwise."""
    match = _REFERENCE.fullmatch(reference) if isinstance(reference, str) else None
    if match is None:
        raise EpochRecordError(f"{reference!r} is not an epoch record reference (epoch/<E>/open|close/<sha256>)")
    return int(match.group(1)), match.group(2), match.group(3)


def parse_document(text: str) -> dict[str, Any]:
    """A stored or fetched document: JSON with the record's domain and a known phase, no floats."""
    try:
        document = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise EpochRecordError(f"an epoch record is not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("domain") != EPOCH_RECORD_DOMAIN:
        raise EpochRecordError(f"an epoch record names the domain {EPOCH_RECORD_DOMAIN!r}")
    if document.get("phase") not in PHASES or not isinstance(document.get("epoch"), str) \
            or not _DECIMAL.fullmatch(document["epoch"]):
        raise EpochRecordError("an epoch record names its phase (open | close) and epoch (a decimal string)")
    canonical_bytes(document)  # refuses floats
    return document


__all__ = [
    "EPOCH_RECORD_DOMAIN", "MODES", "PHASES", "RISK_RECORD_DOMAIN", "EpochRecordError", "canonical_bytes",
    "close_document", "open_document", "parse_document", "parse_reference", "record_reference", "record_sha256",
    "risk_record_sha256",
]
