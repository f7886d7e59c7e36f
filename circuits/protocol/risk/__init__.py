"""The risk model and the funding arithmetic both applications share (issue 13's foundation).

- ``instruments``: futures/perpetuals and European options, their validation and JSON codec;
- ``black_scholes``: option values and Greeks (numpy floats inside, integers published);
- ``scenarios``: the SPAN-style scenario set, per-instrument risk arrays, a portfolio's scenario
  P&L and requirement in exact integers, and the canonical encoding of an epoch's arrays;
- ``expiry``: when an option expires, its intrinsic value and the settlement values at a close;
- ``funding``: per-market cumulative funding indices and zero-sum funding settlements.

Floating point never leaves ``black_scholes`` and ``scenarios``' option valuation: every value
another module or a circuit reads is an integer with a documented rounding direction.
"""

from circuits.protocol.risk.black_scholes import (
    PublishedGreeks,
    option_greeks,
    option_value,
)
from circuits.protocol.risk.errors import (
    ExpiredOptionError,
    FundingError,
    InstrumentError,
    RiskArrayError,
    RiskModelError,
)
from circuits.protocol.risk.expiry import (
    SettlementValue,
    intrinsic_value,
    is_expired,
    settlement_values,
)
from circuits.protocol.risk.funding import (
    FundingIndex,
    FundingSettlement,
    funding_payment,
    settle_funding,
)
from circuits.protocol.risk.instruments import (
    Future,
    Instrument,
    Option,
    OptionRight,
    instrument_from_json,
    instrument_to_json,
)
from circuits.protocol.risk.scenarios import (
    EpochRiskArrays,
    MarketInputs,
    PortfolioRisk,
    RiskArray,
    RiskParameters,
    Scenario,
    epoch_risk_arrays,
    portfolio_risk,
)

__all__ = [
    "EpochRiskArrays", "ExpiredOptionError", "FundingError", "FundingIndex", "FundingSettlement",
    "Future", "Instrument", "InstrumentError", "MarketInputs", "Option", "OptionRight",
    "PortfolioRisk", "PublishedGreeks", "RiskArray", "RiskArrayError", "RiskModelError",
    "RiskParameters", "Scenario", "SettlementValue", "epoch_risk_arrays", "intrinsic_value", "is_expired",
    "settlement_values", "funding_payment", "instrument_from_json",
    "instrument_to_json", "option_greeks", "option_value", "portfolio_risk", "settle_funding",
]
