"""Books for the portfolio commands' tests: BTC at 60 000, 60 % volatility, calls 30 days out
(the books of tests/circuits/test_portfolio.py), as the ``input.json`` the commands read."""

from __future__ import annotations

from circuits.protocol.risk import Future, MarketInputs, Option, OptionRight, RiskParameters, epoch_risk_arrays
from circuits.protocol.risk.instruments import instrument_to_dict
from circuits.protocol.risk.scenarios import EpochRiskArrays
from circuits.state import AccountState

NOW = 1_700_000_000
DAY = 86_400
BTC = 60_000 * 10**6
VOL = 600_000
EPOCH = 7
FUTURE = Future(0)
ITM_CALL = Option(0, OptionRight.CALL, 40_000 * 10**6, NOW + 30 * DAY)
ATM_CALL = Option(0, OptionRight.CALL, BTC, NOW + 30 * DAY)


def published(instruments, price_steps: int = 3) -> EpochRiskArrays:
    policy = RiskParameters(price_steps=price_steps)
    return epoch_risk_arrays(EPOCH, instruments, {0: MarketInputs(BTC, VOL)}, NOW, policy)


def book_state(sizes, collateral: int, risk: EpochRiskArrays) -> AccountState:
    """Opened at the marks: the equity at the marks is the collateral."""
    costs = tuple(b * a.mark for b, a in zip(sizes, risk.arrays))
    return AccountState(11, 3, 123456789, collateral, tuple(sizes), costs, EPOCH)


def input_json(state: AccountState, risk: EpochRiskArrays, price_steps: int = 3) -> dict:
    return {
        "state": {"account_id": state.account_id, "nonce": state.nonce, "salt": state.salt,
                  "collateral": str(state.collateral), "sizes": list(state.sizes),
                  "costs": [str(k) for k in state.costs], "epoch": state.epoch},
        "risk": {"epoch": risk.epoch, "parameters": {"price_steps": price_steps},
                 "valued_at": NOW, "markets": [{"market": 0, "price": BTC, "vol": VOL, "rate": 0}],
                 "arrays": [{"instrument": instrument_to_dict(a.instrument), "mark": a.mark,
                             "short_charge": a.short_charge, "pnl": list(a.pnl)} for a in risk.arrays]},
    }
