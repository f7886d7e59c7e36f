"""Instruments validate their terms and round-trip through a strict JSON codec."""

import pytest

from circuits.protocol.risk import InstrumentError
from circuits.protocol.risk.instruments import (
    Future,
    Option,
    OptionRight,
    instrument_from_json,
    instrument_to_json,
)

EXPIRY = 1_767_225_600  # 2026-01-01T00:00:00Z


@pytest.mark.parametrize("instrument", [
    Future(0),
    Future(63, perpetual=False),
    Option(1, OptionRight.CALL, 60_000, EXPIRY),
    Option(0, OptionRight.PUT, (1 << 48) - 1, 0),
])
def test_json_round_trip(instrument):
    text = instrument_to_json(instrument)
    assert instrument_from_json(text) == instrument
    assert instrument_from_json(text.encode()) == instrument


def test_canonical_json_spelling():
    assert instrument_to_json(Option(2, OptionRight.PUT, 1500, EXPIRY)) == (
        '{"kind":"option","market":2,"right":"put","strike":1500,"expiry":1767225600}')
    assert instrument_to_json(Future(0)) == '{"kind":"future","market":0,"perpetual":true}'


@pytest.mark.parametrize("text, words", [
    ('{"kind":"option","market":0,"right":"call","strike":1.0,"expiry":1}', "floats"),
    ('{"kind":"option","market":0,"right":"call","strike":true,"expiry":1}', "integer"),
    ('{"kind":"option","market":0,"right":"call","strike":"5","expiry":1}', "integer"),
    ('{"kind":"option","market":0,"right":"call","strike":0,"expiry":1}', "outside"),
    ('{"kind":"option","market":0,"right":"call","strike":281474976710656,"expiry":1}', "outside"),
    ('{"kind":"option","market":0,"right":"call","strike":5,"expiry":-1}', "outside"),
    ('{"kind":"option","market":64,"right":"call","strike":5,"expiry":1}', "outside"),
    ('{"kind":"option","market":0,"right":"CALL","strike":5,"expiry":1}', "'call' or 'put'"),
    ('{"kind":"option","market":0,"right":"call","strike":5}', "missing"),
    ('{"kind":"option","market":0,"right":"call","strike":5,"expiry":1,"x":1}', "unknown"),
    ('{"kind":"option","market":0,"market":1,"right":"call","strike":5,"expiry":1}', "duplicate"),
    ('{"kind":"future","market":0,"perpetual":1}', "true or false"),
    ('{"kind":"swap","market":0}', "kind"),
    ('[1]', "JSON object"),
    ('{"kind":"future","market":NaN,"perpetual":true}', "not a JSON value"),
    ('{"kind":', "not valid JSON"),
])
def test_malformed_instruments_are_refused(text, words):
    with pytest.raises(InstrumentError, match=words):
        instrument_from_json(text)


def test_constructors_validate_too():
    with pytest.raises(InstrumentError):
        Option(0, OptionRight.CALL, 0, EXPIRY)
    with pytest.raises(InstrumentError):
        Option(0, "call", 10, EXPIRY)  # type: ignore[arg-type]
    with pytest.raises(InstrumentError):
        Future(-1)


def test_intrinsic_value_is_exact():
    call = Option(0, OptionRight.CALL, 1000, EXPIRY)
    put = Option(0, OptionRight.PUT, 1000, EXPIRY)
    assert [call.intrinsic_value(p) for p in (999, 1000, 1001)] == [0, 0, 1]
    assert [put.intrinsic_value(p) for p in (999, 1000, 1001)] == [1, 0, 0]
    with pytest.raises(InstrumentError):
        call.intrinsic_value(0)
