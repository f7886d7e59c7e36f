"""The trader's side of option expiry (docs/protocol.md §10.7): checks before a settle or a fill.

When an epoch closes in portfolio mode the service publishes, per market, the settle statement's
``expires`` flag (``Epoch.settlement_expires``): 1 closes the position at the settlement price (an
option past its expiry, at its intrinsic value). A wrong flag would either extinguish a live
position or keep a dead one, so before proving a settlement the trader checks each flag against
the configured expiry (``GET /markets``) and the epoch's times: the service valued the market at
some instant between the open and the close, so

- a flag set needs an option whose expiry is at or before the close;
- a flag clear needs a future, or an option whose expiry is after the open.

An expiry inside the epoch may go either way (the valuation instant decides); the service's
statement binds the flag it published, and the settlement price it pays is public.

A fill in an option market already expired when the venue posted it is refused before any proof
(``refuse_expired_fill``): the service refuses such a fill itself when the venue names its market
(422 ``market_expired``); a venue that does not name it leaves the check to the trader.
"""

from __future__ import annotations

import math
from datetime import datetime

from circuits.protocol.api import Epoch, Market, SealedFill
from circuits.protocol.risk.expiry import is_expired
from circuits.protocol.risk.instruments import Option
from prover.trader.portfolio import configured_instrument
from zkmargin.errors import ZkMarginError


class ExpiryRefusedError(ZkMarginError):
    """The service's expires flags, or a fill, contradict the configured expiries."""


def _seconds(at: datetime) -> int:
    """A service time as Unix seconds, rounded down: the service values at whole seconds up to it."""
    return math.floor(at.timestamp())


def checked_expiries(epoch: Epoch, markets: list[Market]) -> list[bool] | None:
    """The epoch's expires flags, each checked (module docstring); None from a service that publishes
    none (flat mode), which is accepted only while no configured option has certainly expired."""
    opened = _seconds(epoch.opened_at)
    flags = epoch.settlement_expires
    if flags is None:
        expired = [m.market for m in markets if is_expired(configured_instrument(m), opened)]
        if expired:
            raise ExpiryRefusedError(f"epoch {epoch.epoch_id} publishes no expires flags, but market {expired[0]}'s "
                                     "option expired before it opened: the service must close it (tell the operator)")
        return None
    if len(flags) != len(markets):
        raise ExpiryRefusedError(f"epoch {epoch.epoch_id} has {len(flags)} expires flags for {len(markets)} markets")
    if epoch.closed_at is None:
        raise ExpiryRefusedError(f"epoch {epoch.epoch_id} has expires flags but no closing time")
    closed = _seconds(epoch.closed_at)
    for market, flag in zip(markets, flags):
        _check_flag(epoch.epoch_id, market, flag, opened, closed)
    return list(flags)


def _check_flag(epoch_id: int, market: Market, flag: bool, opened: int, closed: int) -> None:
    instrument = configured_instrument(market)
    if flag and not is_expired(instrument, closed):
        what = "a future" if not isinstance(instrument, Option) else f"an option expiring at {instrument.expiry}"
        raise ExpiryRefusedError(f"epoch {epoch_id} closes market {market.market} ({market.name}) as expired, but it "
                                 f"is {what}, after the close at {closed}: settling would extinguish a live position")
    if not flag and isinstance(instrument, Option) and is_expired(instrument, opened):
        raise ExpiryRefusedError(f"epoch {epoch_id} keeps market {market.market} ({market.name}) open, but its option "
                                 f"expired at {instrument.expiry}, before the epoch opened at {opened}")


def refuse_expired_fill(fill: SealedFill, market: int, markets: list[Market]) -> None:
    """ExpiryRefusedError for a fill in an option market already expired when it was posted."""
    if not 0 <= market < len(markets):
        return  # the fill's own checks name an unknown market
    instrument = configured_instrument(markets[market])
    posted = _seconds(fill.posted_at)
    if isinstance(instrument, Option) and is_expired(instrument, posted):
        raise ExpiryRefusedError(f"fill #{fill.fill_id} trades market {market} ({markets[market].name}), an option "
                                 f"that expired at {instrument.expiry}, before the fill was posted at {posted}: "
                                 "it is not applied (tell the venue)")
