"""Refusals of the protocol's messages, raised on both sides: by the party that builds a message
and by the one that reads it.

Each class has a short ``reason`` label, used to count refusals (for example the reports a
price snapshot excluded) without parsing messages. The service translates them at its edge
(HTTP status and code), the trader's CLI at its own (exit code).
"""

from __future__ import annotations

from zkmargin.errors import MalformedInputError, ZkMarginError

# --- oracle prices (circuits/protocol/oracle_report.py; the service's checks subclass these) ---

class OracleError(ZkMarginError):
    """A price report or snapshot was refused."""

    reason = "refused"


class OracleFormatError(OracleError, MalformedInputError):
    """A report or snapshot is not well formed (JSON, field types, key or signature lengths)."""

    reason = "malformed"


class PriceRangeError(OracleError):
    """The signed price is outside [1, 2^48), the range the circuits accept."""

    reason = "price out of range"


# --- fill delivery (circuits/protocol/fill_delivery.py) --------------------------------------

class FillDeliveryError(ZkMarginError):
    """An encrypted fill could not be sealed or opened."""

    reason = "refused"


class FillFormatError(FillDeliveryError, MalformedInputError):
    """A key, ciphertext or decrypted opening is not well formed."""

    reason = "malformed"


class FillDecryptionError(FillDeliveryError):
    """Authenticated decryption failed: wrong key, altered bytes, or another fill's commitment."""

    reason = "cannot decrypt"


class FillCommitmentMismatchError(FillDeliveryError):
    """The decrypted opening does not open the fill commitment it was delivered under."""

    reason = "commitment mismatch"


# --- liquidation requests (circuits/protocol/liquidation.py) ---------------------------------

class LiquidationError(ZkMarginError):
    """A liquidation request could not be built, read or accepted."""

    reason = "refused"


class LiquidationFormatError(LiquidationError, MalformedInputError):
    """A request, signature or key is not well formed (JSON, field types, lengths)."""

    reason = "malformed"


class LiquidationRefused(LiquidationError):
    """The request does not meet a liquidation rule; ``rule`` names which one."""

    reason = "not liquidatable"

    def __init__(self, rule: str, message: str):
        super().__init__(f"{rule}: {message}")
        self.rule = rule
