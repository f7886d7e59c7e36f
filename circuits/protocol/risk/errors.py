"""Refusals of the risk model and the funding arithmetic.

Each class carries a short ``reason`` label, as the protocol's other refusals do
(``circuits.protocol.errors``), so the edges can count and translate them without parsing
messages.
"""

from __future__ import annotations

from zkmargin.errors import MalformedInputError, ZkMarginError


class RiskModelError(ZkMarginError):
    """An input the risk model cannot value (a bad price, volatility, expiry or scenario set)."""

    reason = "refused"


class InstrumentError(RiskModelError, MalformedInputError):
    """An instrument's terms are not well formed (bad strike, market, expiry or JSON)."""

    reason = "malformed instrument"


class ExpiredOptionError(RiskModelError):
    """An option was valued at or after its expiry: it settles at intrinsic value instead."""

    reason = "expired"


class RiskArrayError(RiskModelError):
    """Risk arrays and a portfolio do not fit together (lengths, bounds, instrument count)."""

    reason = "risk arrays"


class FundingError(ZkMarginError):
    """A funding rate, index or settlement is outside what the protocol accepts."""

    reason = "funding"
