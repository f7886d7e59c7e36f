"""The risk model and the funding arithmetic both applications share (issue 13's foundation).

- ``instruments``: futures/perpetuals and European options, their validation and JSON codec;
- ``black_scholes``: option values and Greeks (numpy floats inside, integers published);
- ``scenarios``: the SPAN-style scenario set, per-instrument risk arrays, a portfolio's scenario
  P&L and requirement in exact integers, and the canonical encoding of an epoch's arrays;
- ``funding``: per-market cumulative funding indices and zero-sum funding settlements.

Floating point never leaves ``black_scholes`` and ``scenarios``' option valuation: every value
another module or a circuit reads is an integer with a documented rounding direction.
"""

from circuits.protocol.risk.errors import (
    ExpiredOptionError,
    FundingError,
    InstrumentError,
    RiskArrayError,
    RiskModelError,
)

__all__ = ["ExpiredOptionError", "FundingError", "InstrumentError", "RiskArrayError", "RiskModelError"]
