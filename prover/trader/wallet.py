"""The trader's private document: the account's secrets, its current state, and the one
submission in flight.

Stored by ``prover.statefile`` (atomic, 0600, backups, optional passphrase). Integers are
decimal strings: salts and commitments exceed what JSON readers hold exactly.

A transition is two-phase. The new state and the exact request (proof included) are saved as
``pending`` *before* the request is sent; the new state becomes ``state`` only when the service
has accepted it. After a crash or a lost answer, ``reconcile`` compares the service's current
commitment with both: it promotes the pending state if the service took it, resends the same
request if not, and never proves or applies anything twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from circuits.inputs import state_from_json, state_to_json
from circuits.state import STATE_VERSION, AccountState
from zkmargin.errors import MalformedInputError, ZkMarginError

DOCUMENT_KIND = "zkmargin-trader"
DOCUMENT_VERSION = 2  # 2: the state records its epoch (state version 2)


class WalletFormatError(ZkMarginError):
    """The state file decrypted and parsed, but its content is not a trader document we know."""


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Submission:
    """A proven request, and what it changes if the service accepts it."""

    kind: str  # deposit | withdrawal | fill | settlement | attestation
    path: str
    body: dict[str, Any]
    epoch_id: int
    old_commitment: int
    new_state: AccountState | None = None  # None: an attestation changes no state
    new_commitment: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)  # public facts for the trader's log
    created_at: str = field(default_factory=now_text)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["old_commitment"] = str(self.old_commitment)
        data["new_commitment"] = None if self.new_commitment is None else str(self.new_commitment)
        data["new_state"] = None if self.new_state is None else state_to_json(self.new_state)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Submission:
        return cls(kind=data["kind"], path=data["path"], body=data["body"], epoch_id=int(data["epoch_id"]),
                   old_commitment=int(data["old_commitment"]),
                   new_state=None if data["new_state"] is None else state_from_json(data["new_state"]),
                   new_commitment=None if data["new_commitment"] is None else int(data["new_commitment"]),
                   summary=dict(data.get("summary") or {}), created_at=data["created_at"])


@dataclass
class Wallet:
    service: str
    curve: str
    markets: int
    account_id: int
    account_token: str
    delivery_key: str  # X25519 private key (hex): venues seal fills to its public half
    state: AccountState
    pending: Submission | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # accepted transitions, oldest first
    attested_epochs: list[int] = field(default_factory=list)
    settled_epochs: list[int] = field(default_factory=list)
    created_at: str = field(default_factory=now_text)

    def commitment(self) -> int:
        return self.state.commitment(self.curve)

    def promote(self, submission: Submission, answer: dict[str, Any] | None = None) -> None:
        """The service accepted ``submission``: its new state is now the current one."""
        if submission.new_state is not None:
            self.state = submission.new_state
            transition = (answer or {}).get("transition") or {}
            self.history.append({"kind": submission.kind, "epoch_id": submission.epoch_id,
                                 "sequence": transition.get("sequence"), "commitment": str(submission.new_commitment),
                                 "accepted_at": now_text(), **submission.summary})
        if submission.kind == "settlement" and submission.epoch_id not in self.settled_epochs:
            self.settled_epochs.append(submission.epoch_id)
        if submission.kind == "attestation" and submission.epoch_id not in self.attested_epochs:
            self.attested_epochs.append(submission.epoch_id)
        self.pending = None

    def to_document(self) -> dict[str, Any]:
        return {"kind": DOCUMENT_KIND, "version": DOCUMENT_VERSION, "service": self.service, "curve": self.curve,
                "markets": self.markets, "account_id": self.account_id, "account_token": self.account_token,
                "delivery_key": self.delivery_key, "state": state_to_json(self.state),
                "pending": None if self.pending is None else self.pending.to_json(),
                "history": self.history, "attested_epochs": self.attested_epochs,
                "settled_epochs": self.settled_epochs, "created_at": self.created_at}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Wallet:
        if not isinstance(document, dict) or document.get("kind") != DOCUMENT_KIND:
            raise WalletFormatError("the state file does not hold a zkmargin trader account")
        if document.get("version") == 1:
            raise WalletFormatError(
                f"the state file was written by an earlier zkmargin (state version 1): under state version "
                f"{STATE_VERSION} its commitments no longer open, so it cannot be carried over; settle and withdraw "
                "with the zkmargin version that wrote it")
        if document.get("version") != DOCUMENT_VERSION:
            raise WalletFormatError(f"the state file has version {document.get('version')!r}; this zkmargin "
                                    f"reads version {DOCUMENT_VERSION}")
        try:
            wallet = cls(service=str(document["service"]), curve=str(document["curve"]),
                         markets=int(document["markets"]), account_id=int(document["account_id"]),
                         account_token=str(document["account_token"]), delivery_key=str(document["delivery_key"]),
                         state=state_from_json(document["state"]),
                         pending=None if document.get("pending") is None else Submission.from_json(document["pending"]),
                         history=list(document.get("history") or []),
                         attested_epochs=[int(e) for e in document.get("attested_epochs") or []],
                         settled_epochs=[int(e) for e in document.get("settled_epochs") or []],
                         created_at=str(document.get("created_at", "")))
            wallet.state.validate(wallet.curve)
        except (KeyError, TypeError, ValueError, MalformedInputError) as exc:
            raise WalletFormatError(f"the state file's trader document is incomplete or invalid: {exc}") from None
        if wallet.state.account_id != wallet.account_id or wallet.state.markets != wallet.markets:
            raise WalletFormatError("the state file's account id or market count contradicts its state")
        return wallet
