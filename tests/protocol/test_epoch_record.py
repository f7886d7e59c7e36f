"""The epoch record's canonical encoding (circuits/protocol/epoch_record.py): sorted keys, no
spaces, integers as decimal strings, floats refused, a domain-separated SHA-256 per document kind,
and journal references that name the epoch, the phase and the document's hash."""

from __future__ import annotations

import hashlib
import json

import pytest

from circuits.protocol.epoch_record import (
    EPOCH_RECORD_DOMAIN,
    EpochRecordError,
    canonical_bytes,
    close_document,
    open_document,
    parse_document,
    parse_reference,
    record_reference,
    record_sha256,
    risk_record_sha256,
)

SNAPSHOT = "ab" * 32
RISK = {"epoch": 4, "digest": "987654321", "arrays": [{"instrument": {"kind": "future", "market": 0,
                                                                      "perpetual": True}, "pnl": [-5, 5]}]}


def test_the_open_document_in_flat_and_portfolio_mode():
    flat = open_document(4, [100, 2**60], SNAPSHOT)
    assert flat == {"domain": "zkmargin/epoch-record/v1", "phase": "open", "epoch": "4", "mode": "flat",
                    "mark_prices": ["100", str(2**60)], "mark_snapshot_sha256": SNAPSHOT,
                    "risk_record_sha256": None, "risk_digest": None}
    portfolio = open_document(4, [100, 2**60], SNAPSHOT, RISK)
    assert (portfolio["mode"], portfolio["risk_digest"]) == ("portfolio", "987654321")
    assert portfolio["risk_record_sha256"] == risk_record_sha256(RISK)


def test_canonical_bytes_sort_keys_and_drop_spaces():
    document = close_document(4, [110], SNAPSHOT, [-250], [-27_500])
    encoded = canonical_bytes(document)
    assert encoded.startswith(b'{"domain":"zkmargin/epoch-record/v1","epoch":"4","funding_rates":["-250"],')
    assert b" " not in encoded and json.loads(encoded) == document
    assert canonical_bytes(dict(reversed(list(document.items())))) == encoded  # the key order does not matter


def test_hashes_are_domain_separated_sha256_of_the_canonical_bytes():
    document = open_document(4, [100], SNAPSHOT)
    assert record_sha256(document) == hashlib.sha256(
        EPOCH_RECORD_DOMAIN.encode() + b"\x00" + canonical_bytes(document)).hexdigest()
    risk_bytes = b"zkmargin/risk-record/v1\x00" + canonical_bytes(RISK)
    assert risk_record_sha256(RISK) == hashlib.sha256(risk_bytes).hexdigest()
    # the same bytes under the two domains are two different hashes: a risk record never reads as an epoch document
    assert risk_record_sha256(document) != record_sha256(document)


def test_every_field_changes_the_hash():
    base = close_document(4, [110, 220], SNAPSHOT, [1, 0], [110, 0], None)
    changed = [close_document(5, [110, 220], SNAPSHOT, [1, 0], [110, 0], None),
               close_document(4, [111, 220], SNAPSHOT, [1, 0], [110, 0], None),
               close_document(4, [110, 220], "cd" * 32, [1, 0], [110, 0], None),
               close_document(4, [110, 220], SNAPSHOT, [2, 0], [110, 0], None),
               close_document(4, [110, 220], SNAPSHOT, [1, 0], [111, 0], None),
               close_document(4, [110, 220], SNAPSHOT, [1, 0], [110, 0], "ef" * 32)]
    assert len({record_sha256(d) for d in [base, *changed]}) == 7


def test_the_settlement_valuation_is_optional():
    assert close_document(4, [110], SNAPSHOT, [0], [0])["settlement_valuation_sha256"] is None
    assert close_document(4, [110], SNAPSHOT, [0], [0], "ef" * 32)["settlement_valuation_sha256"] == "ef" * 32


@pytest.mark.parametrize(("build", "named"), [
    (lambda: open_document(4, [100.0], SNAPSHOT), r"mark_prices\[0\] must be an integer"),
    (lambda: open_document(4, [True], SNAPSHOT), r"mark_prices\[0\] must be an integer"),
    (lambda: open_document(-1, [100], SNAPSHOT), "non-negative integer"),
    (lambda: open_document(4, [100], "AB" * 32), "64 lower-case hex"),
    (lambda: open_document(4, [100], SNAPSHOT, {**RISK, "digest": 987654321}), "no decimal digest"),
    (lambda: open_document(4, [100], SNAPSHOT, {**RISK, "vol": 0.6}), r"document.vol: 0.6 is not allowed"),
    (lambda: close_document(4, [110, 120], SNAPSHOT, [0], [0, 0]), "one of each per market"),
    (lambda: close_document(4, [110], SNAPSHOT, [0], [0], "xyz"), "settlement_valuation_sha256 must be"),
    (lambda: canonical_bytes({"price": 1.5}), r"document.price: 1.5 is not allowed in a record"),
    (lambda: canonical_bytes({"nested": [{"rate": 1e6}]}), r"document.nested\[0\].rate"),
    (lambda: canonical_bytes({1: "a"}), "keys are strings"),
])
def test_floats_and_malformed_fields_are_refused(build, named):
    with pytest.raises(EpochRecordError, match=named):
        build()


def test_references_name_epoch_phase_and_hash_and_parse_back():
    sha = record_sha256(open_document(4, [100], SNAPSHOT))
    reference = record_reference(4, "open", sha)
    assert reference == f"epoch/4/open/{sha}" and parse_reference(reference) == (4, "open", sha)
    for bad in ("epoch/04/open/" + sha, "epoch/4/opened/" + sha, "epoch/4/open/" + sha[:-1], f"liquidation/4/{sha}"):
        with pytest.raises(EpochRecordError, match="not an epoch record reference"):
            parse_reference(bad)
    with pytest.raises(EpochRecordError, match="the phase is one of"):
        record_reference(4, "finalize", sha)


def test_a_stored_document_parses_back_and_other_json_is_refused():
    document = close_document(4, [110], SNAPSHOT, [0], [0])
    assert parse_document(canonical_bytes(document).decode()) == document
    for bad, named in (("{", "not JSON"), ('{"domain": "zkm/other"}', "names the domain"),
                       (json.dumps({**document, "phase": "finalize"}), "names its phase"),
                       (json.dumps({**document, "epoch": 4}), "names its phase"),
                       (json.dumps({**document, "extra": 0.5}), "is not allowed")):
        with pytest.raises(EpochRecordError, match=named):
            parse_document(bad)
