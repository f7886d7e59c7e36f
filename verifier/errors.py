"""The verifier's refusals, all in zkmargin's one error family.

Library code (persistence, ledger) raises these; the HTTP layer and the CLI translate them at
the edge. The intermediate classes say how a caller should react, so the translation is one
table: ``NotFoundError`` -> 404, ``ConflictError`` -> 409 (retry after re-reading the state),
``LedgerIntegrityError`` -> an operator alarm, never a client's fault.
"""

from __future__ import annotations

from circuits.protocol.errors import OracleError
from zkmargin.errors import ZkMarginError


def first_line(exc: BaseException) -> str:
    """An error as one line for a client or a terminal: its message's first line, else its class name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class VerifierError(ZkMarginError):
    """Base class of every error the verifier service and its ledger raise on purpose."""


class DatabaseConfigurationError(VerifierError, ValueError):
    """The database URL names no database we support, or the schema is not the one we expect."""


class NotFoundError(VerifierError, LookupError):
    """A record (account, epoch, pending item, payout) that does not exist."""


class ConflictError(VerifierError):
    """The request is well formed but contradicts the current records."""


class StaleCommitmentError(ConflictError):
    """A transition did not start from the account's current commitment (it lost a race)."""


class DuplicateError(ConflictError):
    """Something that may happen only once already happened: a statement, a reference, a settlement."""


class EpochStateError(ConflictError):
    """The epoch is not in the state the operation needs (open, closed, finalized)."""


class EpochNotBalancedError(EpochStateError):
    """An epoch cannot finalize: the settled pnl does not sum to exactly zero."""

    def __init__(self, epoch_id: int, total: int):
        super().__init__(
            f"epoch {epoch_id} cannot finalize: settled pnl sums to {total}, not 0"
        )
        self.epoch_id = epoch_id
        self.total = total


class EpochIncompleteError(EpochStateError):
    """An epoch cannot finalize: some accounts that must settle have neither settled nor defaulted."""

    def __init__(self, epoch_id: int, missing: list[int]):
        shown = ", ".join(str(a) for a in missing[:10]) + (" ..." if len(missing) > 10 else "")
        super().__init__(
            f"epoch {epoch_id} cannot finalize: {len(missing)} account(s) have neither settled "
            f"nor been marked in default: {shown}"
        )
        self.epoch_id = epoch_id
        self.missing = missing


class LedgerError(VerifierError):
    """A ledger operation was refused."""


class UnbalancedEntryError(LedgerError, ValueError):
    """A journal entry whose postings do not sum to exactly zero (or are malformed)."""


class LedgerIntegrityError(LedgerError):
    """The stored ledger contradicts itself: a broken hash chain or an unbalanced stored entry."""


# --- oracle prices (verifier/oracle.py) ------------------------------------------------------
# Each class has a short ``reason`` label, used to count refusals (for example the reports a
# price snapshot excluded) without parsing messages. The base class and the refusals a report's
# signer meets too (its format, its price's range) are the protocol's: circuits.protocol.errors.

class OracleConfigError(OracleError, ValueError):
    """The oracle configuration is inconsistent (duplicate key or name, impossible quorum)."""

    reason = "configuration"


class InvalidOracleKeyError(OracleConfigError):
    """An oracle public key that must never be trusted: not a canonical Ed25519 encoding, not a
    point of the curve, or of small order (anyone could forge its signatures)."""

    reason = "invalid key"


class UnknownOracleError(OracleError):
    """The report's public key is not a registered oracle."""

    reason = "unknown oracle"


class RevokedOracleError(OracleError):
    """The report's oracle was revoked (by the operator, or by leaving the configuration): none of
    its reports is accepted or counted, those it signed before the revocation included."""

    reason = "revoked oracle"


class BadSignatureError(OracleError):
    """The signature does not verify under the oracle's key for the report's exact content."""

    reason = "bad signature"


class UnknownMarketError(OracleError):
    """The report prices a market the configuration does not have."""

    reason = "unknown market"


class StaleReportError(OracleError):
    """The report is older than the staleness window."""

    reason = "stale"


class FutureReportError(OracleError):
    """The report's timestamp is further in the future than the clock-skew allowance."""

    reason = "from the future"


class EquivocationError(OracleError):
    """One oracle signed different prices for the same market and timestamp."""

    reason = "equivocation"


class QuorumError(OracleError):
    """Some market has fewer valid fresh reports from distinct oracles than the quorum."""

    reason = "no quorum"

    def __init__(self, message: str, shortfalls: dict[int, int] | None = None):
        super().__init__(message)
        #: market -> number of distinct oracles with a valid fresh report
        self.shortfalls = dict(shortfalls or {})


class CircuitBreakerError(OracleError):
    """An epoch would open or close at prices the circuit breaker holds back: the fresh reports of
    a market spread too far around their median, or the median moved too far from the previous
    snapshot's. The operator may confirm the prices explicitly."""

    reason = "circuit breaker"

    def __init__(self, message: str, trips: list | None = None):
        super().__init__(message)
        #: ``verifier.oracle.BreakerTrip`` per market and check that tripped
        self.trips = list(trips or [])


# --- the clearing cycle's order (state version 2) ---------------------------------------------


class GuardianConfigError(VerifierError, ValueError):
    """ZKMARGIN_GUARDIAN_SET names no readable, valid guardian set for this deployment's curve."""


class MarketConfigError(VerifierError, ValueError):
    """ZKMARGIN_MARKETS and ZKMARGIN_MARGIN_MODE together describe a deployment the service cannot margin."""


class AccountInDefaultError(ConflictError):
    """The account was declared in default: it is frozen for every transition until resolved."""


class OutOfOrderError(ConflictError):
    """A step the clearing cycle does not allow yet; the message says what must happen first."""


# --- liquidation ----------------------------------------------------------------------------


class OperatorKeyError(VerifierError, ValueError):
    """The operator's signing key file is missing (when named), unreadable or inconsistent."""


class NotLiquidatableError(ConflictError):
    """A liquidation request the rules do not allow; ``rule`` names the unmet one."""

    def __init__(self, rule: str, message: str):
        super().__init__(f"{rule}: {message}")
        self.rule = rule


class BadShareError(VerifierError):
    """A guardian's decryption share is malformed or its DLEQ proof does not verify (HTTP 422)."""

    def __init__(self, guardian: int | None, message: str):
        super().__init__(message)
        self.guardian = guardian


class OpeningMismatchError(ConflictError):
    """The combined shares decrypted to a state that does not open the pinned commitment."""


class AccountLiquidatingError(ConflictError):
    """The account is frozen by an open liquidation: no transition or attestation until it closes."""
