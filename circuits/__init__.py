"""The statements zkmargin proves, by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from circuits.base import Circuit, Inputs
from circuits.examples import Chain, Mult
from circuits.fill import ApplyFill
from circuits.margin import Margin
from circuits.portfolio import PortfolioMargin
from circuits.portfolio_transitions import PortfolioFill, PortfolioTransfer
from circuits.settle import Settle
from circuits.transfer import Transfer
from zkmargin.errors import ZkMarginError

CIRCUITS: dict[str, Callable[..., Circuit]] = {
    "mult": Mult,
    "chain": Chain,
    "margin": Margin,
    "transfer": Transfer,
    "fill": ApplyFill,
    "settle": Settle,
    "portfolio": PortfolioMargin,
    "portfolio-transfer": PortfolioTransfer,
    "portfolio-fill": PortfolioFill,
}


def get_circuit(name: str, **params: Any) -> Circuit:
    """Instantiate a registered circuit; ``params`` that are None are left at their defaults."""
    factory = CIRCUITS.get(name)
    if factory is None:
        raise ZkMarginError(f"unknown circuit {name!r}; known circuits: {', '.join(sorted(CIRCUITS))}")
    given = {k: v for k, v in params.items() if v is not None}
    try:
        return factory(**given)
    except TypeError:
        raise ZkMarginError(f"circuit {name!r} does not take the parameters {sorted(given)}") from None


__all__ = ["CIRCUITS", "Circuit", "Inputs", "get_circuit"]
