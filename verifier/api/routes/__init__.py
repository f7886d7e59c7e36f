"""One router per resource."""

from verifier.api.routes import (
    accounts,
    attestations,
    deposits,
    epochs,
    fills,
    funding,
    ledger,
    liquidations,
    markets,
    oracles,
    payouts,
    settlements,
    system,
    withdrawals,
)

ROUTERS = [system.router, markets.router, oracles.router, funding.router, epochs.router, accounts.router,
           deposits.router, withdrawals.router, fills.router, attestations.router, settlements.router, payouts.router,
           ledger.router, liquidations.router]
