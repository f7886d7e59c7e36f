"""Option markets and the margin mode in the settings (ZKMARGIN_MARKETS, ZKMARGIN_MARGIN_MODE)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from circuits.protocol.risk import Future, Option, OptionRight
from verifier.core.config import Settings

BTC = {"name": "BTC-USD", "maintenance_rate": 50_000, "initial_rate": 100_000}
CALL = {"name": "BTC-60000-C", "maintenance_rate": 50_000, "initial_rate": 100_000,
        "option": {"right": "call", "strike": 60_000, "expiry": 1_767_225_600, "underlying": 0}}


def settings(monkeypatch, tmp_path, markets, mode=None) -> Settings:
    monkeypatch.setenv("ZKMARGIN_MARKETS", json.dumps(markets))
    if mode is not None:
        monkeypatch.setenv("ZKMARGIN_MARGIN_MODE", mode)
    return Settings(home=tmp_path)


def test_flat_is_the_default_and_futures_need_nothing_new(monkeypatch, tmp_path):
    s = settings(monkeypatch, tmp_path, [BTC])
    assert s.margin_mode == "flat" and s.markets[0].option is None
    assert s.markets[0].instrument(0) == Future(0, perpetual=False)


def test_an_option_market_is_the_risk_models_option_on_its_underlying(monkeypatch, tmp_path):
    s = settings(monkeypatch, tmp_path, [BTC, CALL], "portfolio")
    assert [m.instrument(i) for i, m in enumerate(s.markets)] == [
        Future(0, perpetual=False), Option(0, OptionRight.CALL, 60_000, 1_767_225_600)]


def test_options_in_flat_mode_are_refused(monkeypatch, tmp_path):
    with pytest.raises(ValidationError, match="need ZKMARGIN_MARGIN_MODE=portfolio"):
        settings(monkeypatch, tmp_path, [BTC, CALL])


@pytest.mark.parametrize("underlying", [1, 2])
def test_an_option_on_an_option_or_on_no_market_is_refused(monkeypatch, tmp_path, underlying):
    bad = {**CALL, "option": {**CALL["option"], "underlying": underlying}}
    with pytest.raises(ValidationError, match="must be a non-option market"):
        settings(monkeypatch, tmp_path, [BTC, bad], "portfolio")


@pytest.mark.parametrize("change", [{"right": "straddle"}, {"strike": 0}, {"strike": 1 << 48}, {"expiry": 1.5},
                                    {"strike": "60000"}, {"extra": 1}])
def test_option_fields_are_strict(monkeypatch, tmp_path, change):
    bad = {**CALL, "option": {**CALL["option"], **change}}
    with pytest.raises(ValidationError):
        settings(monkeypatch, tmp_path, [BTC, bad], "portfolio")


def test_an_unknown_margin_mode_is_refused(monkeypatch, tmp_path):
    with pytest.raises(ValidationError):
        settings(monkeypatch, tmp_path, [BTC], "span")


def test_a_perpetual_underlies_an_option_but_an_option_is_never_perpetual(monkeypatch, tmp_path):
    perpetual = {**BTC, "kind": "perpetual"}
    s = settings(monkeypatch, tmp_path, [perpetual, CALL], "portfolio")
    assert [m.kind for m in s.markets] == ["perpetual", "future"]
    assert s.markets[0].instrument(0) == Future(0, perpetual=True)  # the risk model sees the configured kind
    with pytest.raises(ValidationError, match="an option pays no funding"):
        settings(monkeypatch, tmp_path, [perpetual, {**CALL, "kind": "perpetual"}], "portfolio")


def test_portfolio_mode_with_a_second_underlying_is_refused(monkeypatch, tmp_path):
    """Every scenario moves every underlying together: long BTC against short ETH would need no margin."""
    eth = {"name": "ETH-USD", "maintenance_rate": 50_000, "initial_rate": 100_000}
    with pytest.raises(ValidationError, match="margins one underlying .* got 2: BTC-USD, ETH-USD"):
        settings(monkeypatch, tmp_path, [BTC, eth, CALL], "portfolio")
    assert len(settings(monkeypatch, tmp_path, [BTC, eth], "flat").markets) == 2  # the flat mode takes any number


def test_portfolio_mode_on_the_default_markets_is_refused_at_start(tmp_path):
    """The embedded default markets are two underlyings: a portfolio service refuses to start on them."""
    from verifier.core.bootstrap import resolve_runtime
    from verifier.errors import MarketConfigError

    with pytest.raises(MarketConfigError, match="margins one underlying"):
        resolve_runtime(Settings(home=tmp_path, margin_mode="portfolio"))
