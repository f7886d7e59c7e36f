"""A trader's account: every operation of the trader CLI, as a library.

``TraderAccount.open(...)`` creates the private state and registers its genesis commitment;
``TraderAccount.load(...)`` reopens it. Each proving operation builds the witness from the
private state and the service's public records (prices, rates, the item it consumes), refuses
locally what no proof could exist for (saying by how much), proves, saves the submission as
pending, sends it, and only then makes the new state current (see ``prover.trader.wallet``).

Only commitments, proofs and public amounts leave the machine; the state's salt, sizes, cost
bases and collateral never do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from circuits.protocol.api import AccountView, Epoch, Market, SealedFill
from circuits.protocol.closeout import risk_marks
from circuits.protocol.fill_delivery import TraderKeyPair, open_fill
from circuits.protocol.keystore import keys_dir_in, statement_circuit
from circuits.protocol.liquidation import KNOWN_STATE_CIRCUIT
from circuits.state import RATE_SCALE, AccountState, BoundError, fresh_salt
from prover import statefile
from prover.trader.client import ServiceClient, ServiceRefusedError
from prover.trader.epoch_record import check_epoch_record
from prover.trader.expiry import checked_expiries, refuse_expired_fill
from prover.trader.keys import TraderKeys
from prover.trader.liquidation import PortfolioTerms, Rates, check_successor, explanation
from prover.trader.portfolio import PORTFOLIO_MODE, CheckedRisk, check_risk_record, portfolio_report
from prover.trader.wallet import Submission, Wallet, now_text
from zkmargin.backends import get_backend
from zkmargin.edwards import Point, embedded_curve
from zkmargin.errors import ZkMarginError
from zkmargin.formats.snarkjs import proof_to_json
from zkmargin.groth16 import prove, verify
from zkmargin.groth16.prover import PhaseTimer
from zkmargin.threshold.guardians import guardian_set_from_json

# Every step a proving command reports, in order (the MSMs finish in any order).
# a state the service wrote, liquidated again and again before the CLI ran: far more than any real chain
MAX_LIQUIDATION_CHAIN = 64
PROOF_STEPS = ("witness", "check witness", "constraint evaluation", "ntt",
               "msm A (G1)", "msm B (G1)", "msm B (G2)", "msm C (G1)", "msm H (G1)", "assemble", "submit")
Progress = Callable[[str, bool], None]  # (step, finished)


class TraderError(ZkMarginError):
    """A failure the trader can act on, explained in one line."""


class UnhealthyError(TraderError):
    """No proof can exist: the account would be (or is) below its margin requirement."""


class StateDivergedError(TraderError):
    """The service's commitment is neither the state file's nor its pending one."""


@dataclass
class Outcome:
    """What one operation did: a one-line summary, and the data ``--json`` prints."""

    summary: str
    data: dict[str, Any] = field(default_factory=dict)


def _ignore(step: str, finished: bool) -> None:
    pass


class _ReportingTimer(PhaseTimer):
    """A PhaseTimer that reports each phase's start and end (the MSMs end on their own threads)."""

    def __init__(self, progress: Progress):
        super().__init__(on_phase=lambda name: progress(name, False))
        self._progress = progress

    def record(self, name: str, seconds: float) -> None:
        super().record(name, seconds)
        self._progress(name, True)


def _prices(prices: list[int] | None) -> list[int]:
    """An epoch's mark or settlement prices, which the service fixes when it opens or closes it."""
    if prices is None:
        raise TraderError("the service sent an epoch without the prices it should have fixed")
    return prices


def _funding_steps(epoch: Epoch) -> list[int] | None:
    """The closed epoch's published funding-index steps (rate * price; None from a service without
    funding: every market a future). The service checks the proof against its own steps."""
    return None if epoch.funding_steps is None else [int(step) for step in epoch.funding_steps]


def _epoch_of(fill: SealedFill) -> int:
    """The epoch a fill was posted in (the service records one for every fill)."""
    if fill.epoch_id is None:
        raise TraderError(f"the service sent fill #{fill.fill_id} without its epoch")
    return fill.epoch_id


def ratio_text(numerator: int, denominator: int) -> str:
    """numerator/denominator with two decimals, by integer arithmetic (no floats near money)."""
    if denominator == 0:
        return "n/a"
    hundredths = numerator * 100 // denominator
    sign = "-" if hundredths < 0 else ""
    return f"{sign}{abs(hundredths) // 100}.{abs(hundredths) % 100:02d}"


class TraderAccount:
    """One account's state file, its service, and its proving keys."""

    def __init__(self, path: Path, wallet: Wallet, passphrase: str | None, client: ServiceClient,
                 progress: Progress = _ignore):
        self.path = path
        self.wallet = wallet
        self.passphrase = passphrase
        self.client = client
        self.progress = progress
        self.backend = get_backend(wallet.curve)
        self.keys = TraderKeys(keys_dir_in(path.parent), client, wallet.curve, wallet.markets, self.backend)
        self._markets: list[Market] | None = None
        self._margin_mode: str | None = None
        self._escrow_key: tuple[Point | None] | None = None  # (the guardians' key or None), once fetched

    # --- opening and loading ---------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, service: str, passphrase: str | None = None, *, progress: Progress = _ignore,
             transport=None, insecure: bool = False) -> TraderAccount:
        """Register a new account at ``service`` and create its state file at ``path``.

        The genesis salt is revealed (the empty state hides nothing); every later state has a
        fresh private one. The state file is created only once the service answered: a crash
        in between leaves at most an empty, unused account at the service.
        """
        if path.exists():
            raise statefile.StateFileExistsError(path)  # names the path once; the CLI's --state picks another
        client = ServiceClient(service, transport=transport, insecure=insecure)
        config = client.config()
        curve, markets = config.curve, len(config.markets)
        delivery = TraderKeyPair.generate()
        salt = fresh_salt(curve)
        opened = client.open_account(salt, delivery.public_hex)
        genesis = AccountState.genesis(opened.account_id, markets, salt=salt)
        if int(opened.genesis_commitment) != genesis.commitment(curve):
            raise StateDivergedError("the service computed another genesis commitment than ours: "
                                     "it runs another circuit version")
        wallet = Wallet(service=client.url, curve=curve, markets=markets, account_id=genesis.account_id,
                        account_token=opened.account_token, delivery_key=delivery.private_hex, state=genesis)
        statefile.create(path, wallet.to_document(), passphrase)
        client.close()
        return cls(path, wallet, passphrase, ServiceClient(service, opened.account_token, transport=transport,
                                                           insecure=insecure), progress)

    @classmethod
    def load(cls, path: Path, passphrase: str | None = None, *, service: str | None = None,
             progress: Progress = _ignore, transport=None, insecure: bool = False) -> TraderAccount:
        wallet = Wallet.from_document(statefile.load(path, passphrase))
        # the token is bound to the service the account was opened at: never sent to another
        client = ServiceClient(service or wallet.service, wallet.account_token, token_service=wallet.service,
                               transport=transport, insecure=insecure)
        return cls(path, wallet, passphrase, client, progress)

    @staticmethod
    @contextmanager
    def locked(path: Path) -> Iterator[None]:
        """One command at a time per state file."""
        with statefile.locked(path):
            yield

    def save(self) -> None:
        statefile.save(self.path, self.wallet.to_document(), self.passphrase)

    def close(self) -> None:
        self.client.close()

    # --- the service's public records -----------------------------------------------------

    def markets(self) -> list[Market]:
        if self._markets is None:
            self._markets = self.client.markets()
        return self._markets

    def rates(self, kind: str) -> list[int]:
        return [m.initial_rate if kind == "initial" else m.maintenance_rate for m in self.markets()]

    def escrow_key(self) -> Point | None:
        """The guardians' group key every new state is escrowed to, or None when the service has no
        guardian set. Checked whole with the set's own validation, and on this account's curve."""
        if self._escrow_key is None:
            document = self.client.guardians()
            key = None if document is None else self._checked_group_key(document)
            self._escrow_key = (key,)
            self.keys.escrow = key is not None
        return self._escrow_key[0]

    def _checked_group_key(self, document: dict[str, Any]) -> Point:
        try:
            guardians = guardian_set_from_json(document, source="the service's guardian set")
        except ZkMarginError as exc:
            raise TraderError(f"{exc}: no escrow can be sealed to it (tell the operator)") from None
        expected = embedded_curve(self.wallet.curve)
        if guardians.curve != expected:
            raise TraderError(f"the service's guardian set is on {guardians.curve.name}, but escrows of "
                              f"{self.wallet.curve} proofs are on {expected.name} (tell the operator)")
        return guardians.group_key

    def margin_mode(self) -> str:
        """``flat`` or ``portfolio`` (``GET /config``): which statement a margin attestation is."""
        if self._margin_mode is None:
            self._margin_mode = self.client.config().margin_mode
            self.keys.portfolio = self._margin_mode == PORTFOLIO_MODE
        return self._margin_mode

    def circuit(self, statement: str) -> Any:
        """The statement this service verifies: a transition's escrow variant when it has guardians;
        in portfolio mode margin, transfer and fill are their portfolio variants."""
        escrowed = statement != "margin" and self.escrow_key() is not None
        return statement_circuit(statement, self.wallet.markets, escrowed, self.margin_mode() == PORTFOLIO_MODE)

    def initial_factor(self) -> int:
        """Portfolio mode's initial-margin factor (millionths, ``GET /config``), which the service
        puts in the public inputs of every withdrawal and fill."""
        factor = self.client.config().portfolio_initial_factor
        if factor is None:
            raise TraderError("the service margins by portfolio but publishes no initial-margin factor: it runs "
                              "another version (tell the operator)")
        return factor

    def _transfer(self, amount: int, epoch: Epoch) -> tuple[AccountState, dict[str, Any]]:
        """A deposit (amount > 0) or a debit's successor and proving inputs in the open epoch: at the
        flat initial rates, or in portfolio mode over the epoch's risk record at the initial factor."""
        circuit = self.circuit("transfer")
        if self.margin_mode() == PORTFOLIO_MODE:
            new, inputs = circuit.transition(self.wallet.state, amount, self.epoch_risk(epoch).arrays,
                                             self.initial_factor(), self.wallet.curve, escrow_key=self.escrow_key())
        else:
            new, inputs = circuit.transition(self.wallet.state, amount, epoch.epoch_id, _prices(epoch.mark_prices),
                                             self.rates("initial"), self.wallet.curve, escrow_key=self.escrow_key())
        return new, inputs

    def epoch_risk(self, epoch: Epoch) -> CheckedRisk:
        """The epoch's risk record, checked against this deployment (``prover.trader.portfolio``) and
        against the epoch's journaled open document (``prover.trader.epoch_record``)."""
        try:
            record, served = self.client.epoch_risk_with_json(epoch.epoch_id)
        except ServiceRefusedError as exc:
            if exc.status == 404:
                raise TraderError(f"epoch {epoch.epoch_id} has no risk record (it opened before the service "
                                  "margined by portfolio): wait for the next epoch") from None
            raise
        checked = check_risk_record(record, epoch.epoch_id, epoch.mark_prices, self.markets(), self.wallet.curve)
        check_epoch_record(self.client.epoch_record(epoch.epoch_id), served, epoch.epoch_id, epoch.mark_prices)
        return checked

    def open_epoch(self) -> Epoch:
        try:
            return self.client.current_epoch()
        except ServiceRefusedError as exc:
            if exc.code == "no_open_epoch":
                raise TraderError("no epoch is open at the service: wait until the operator opens one") from None
            raise

    # --- reconciliation -------------------------------------------------------------------

    def reconcile(self) -> Outcome | None:
        """Bring the state file in line with the service before anything else.

        A pending submission the service accepted (the answer was lost) is promoted; one it
        never received is sent again, byte for byte; one it refuses now is dropped (the old
        state stays current). Returns what happened, or None when there was nothing to do.
        """
        wallet = self.wallet
        view = self.client.account(wallet.account_id)
        service_commitment = int(view.current_commitment)
        pending = wallet.pending
        if pending is not None and pending.new_commitment == service_commitment:
            wallet.promote(pending)
            self.save()
            return Outcome(f"recovered: the service had accepted the interrupted {pending.kind}; "
                           "the state file is up to date now", {"recovered": pending.kind})
        if service_commitment != wallet.commitment():
            adopted = self._adopt_liquidation_successor(view, service_commitment)
            if adopted is not None:
                return adopted
            raise StateDivergedError(
                f"the service's current commitment for account {wallet.account_id} is neither this state file's "
                f"nor its pending one: {self._matching_backup_advice(service_commitment)}")
        if pending is None:
            return None
        try:
            answer = self._send(pending)
        except ServiceRefusedError as exc:
            wallet.pending = None
            self.save()
            return Outcome(f"dropped the interrupted {pending.kind}: the service refuses it now ({exc.detail}); "
                           "the previous state is still current", {"dropped": pending.kind, "reason": exc.detail})
        return Outcome(f"resent the interrupted {pending.kind}: accepted", {"resent": pending.kind, "answer": answer})

    def _adopt_liquidation_successor(self, view: AccountView, service_commitment: int) -> Outcome | None:
        """The service closed this account out and wrote its next state: check it against the close-out
        rules (``prover.trader.liquidation``) and adopt it, keeping the old file beside it. None when
        the divergence is not a liquidation's. A state the service wrote may itself have been closed
        out again before this CLI saw it: each close-out of the chain is checked and adopted in turn."""
        summary = view.liquidation
        if summary is None or summary.status != "closed" or summary.successor_state is None:
            return None
        chain = self._liquidation_chain(summary.id, summary.successor_state, service_commitment)
        if chain is None:
            return None  # the account moved on since: not this liquidation's successor
        outcomes = [self._adopt_checked_successor(record, successor, commitment, view.sequence)
                    for record, successor, commitment in chain]
        data = outcomes[-1].data
        if len(outcomes) > 1:
            data = {**data, "earlier": [o.data["adopted_liquidation_successor"] for o in outcomes[:-1]]}
        return Outcome("\n".join(o.summary for o in outcomes), data)

    def _liquidation_chain(self, latest_id: int, successor: Any,
                           service_commitment: int) -> list[tuple[dict[str, Any], Any, int]] | None:
        """The close-outs from this state file's commitment to the service's current one, oldest first,
        each with the successor it wrote and that successor's commitment. A liquidation of a state the
        service wrote names the one that wrote it (``closeout/<id>``), and its revealed state is that
        one's successor."""
        record = self.client.liquidation(latest_id).model_dump(mode="json")
        if str((record.get("closeout") or {}).get("successor_commitment")) != str(service_commitment):
            return None
        ours = {str(state.commitment(self.wallet.curve)) for state in self._states_before_liquidation()}
        chain = [(record, successor, service_commitment)]
        while str(record["request"]["commitment"]) not in ours and len(chain) < MAX_LIQUIDATION_CHAIN:
            circuit = str(record["request"].get("circuit", ""))
            if not circuit.startswith(KNOWN_STATE_CIRCUIT) or record.get("revealed_state") is None:
                break  # check_successor refuses it, naming the commitment that is not ours
            earlier = self.client.liquidation(int(circuit.removeprefix(KNOWN_STATE_CIRCUIT))).model_dump(mode="json")
            chain.append((earlier, record["revealed_state"], int(record["request"]["commitment"])))
            record = earlier
        return chain[::-1]

    def _states_before_liquidation(self) -> list[AccountState]:
        """The state file's state and its pending one: the liquidation pinned one of them."""
        wallet = self.wallet
        return [wallet.state] + ([wallet.pending.new_state] if wallet.pending and wallet.pending.new_state else [])

    def _adopt_checked_successor(self, record: dict[str, Any], successor: Any, commitment: int,
                                 sequence: int) -> Outcome:
        wallet = self.wallet
        old_states = self._states_before_liquidation()
        prices = [vector for epoch_id in sorted({s.epoch for s in old_states})
                  for epoch in [self.client.epoch(epoch_id)]
                  for vector in (epoch.mark_prices, epoch.settlement_prices) if vector]
        checked = check_successor(
            liquidation=record, successor_json=successor, old_states=old_states,
            current_commitment=commitment, epoch_prices=prices,
            rates=Rates(tuple(self.rates("maintenance")), tuple(self.rates("initial"))), curve=wallet.curve,
            penalty_rate=self.client.config().liquidation_penalty_rate,
            portfolio=self._closeout_portfolio_terms(record, old_states))
        backup = self._keep_before_liquidation(checked.liquidation_id)
        plan = checked.plan
        facts = {"liquidation_id": checked.liquidation_id, "reason": checked.reason, "full": plan.full,
                 "step": plan.step, "closed": [str(q) for q in plan.closed], "prices": [str(p) for p in plan.prices],
                 "penalty": str(plan.penalty), "realized_pnl": str(plan.realized_pnl),
                 "collateral_before": str(checked.old.collateral), "collateral": str(checked.successor.collateral)}
        wallet.state, wallet.pending = checked.successor, None
        if plan.full and checked.old.epoch not in wallet.settled_epochs:
            wallet.settled_epochs.append(checked.old.epoch)  # the service booked its pnl as the settlement
        wallet.history.append({"kind": "liquidation", "epoch_id": checked.old.epoch, "sequence": sequence,
                               "commitment": str(commitment), "accepted_at": now_text(), **facts})
        self.save()
        return Outcome(explanation(checked, self.market_name, str(backup)),
                       {"adopted_liquidation_successor": {**facts, "previous_state_file": str(backup)}})

    def _closeout_portfolio_terms(self, record: dict[str, Any],
                                  old_states: list[AccountState]) -> PortfolioTerms | None:
        """In portfolio mode, what the close-out of the pinned state is recomputed from: its epoch's
        checked risk record, the prices it may trade at (the record's marks, the settlement prices once
        the epoch closed) and the published initial-margin factor (docs/protocol.md §11)."""
        if self.margin_mode() != PORTFOLIO_MODE:
            return None
        pinned = str((record.get("request") or {}).get("commitment"))
        old = next((s for s in old_states if str(s.commitment(self.wallet.curve)) == pinned), old_states[0])
        epoch = self.client.epoch(old.epoch)
        arrays = self.epoch_risk(epoch).arrays.arrays
        prices = (risk_marks(arrays),) + ((tuple(epoch.settlement_prices),) if epoch.settlement_prices else ())
        return PortfolioTerms(arrays, prices, self.client.config().portfolio_initial_factor)

    def _keep_before_liquidation(self, liquidation_id: int) -> Path:
        """The state file as it was, kept beside it (0600, same passphrase) before the successor replaces
        it. A copy left by an adoption a crash interrupted is the same document: it is kept as it is."""
        kept = self.path.with_name(f"{self.path.name}.before-liquidation-{liquidation_id}")
        if not kept.exists():
            statefile.create(kept, self.wallet.to_document(), self.passphrase)
        return kept

    def _matching_backup_advice(self, service_commitment: int) -> str:
        """Which kept version the service's commitment belongs to, if any (newest first)."""
        for backup in statefile.list_backups(self.path, self.passphrase):
            if not backup.loads:
                continue
            try:
                older = Wallet.from_document(statefile.load(backup.path, self.passphrase))
            except ZkMarginError:
                continue
            if older.account_id != self.wallet.account_id:
                continue
            pending = older.pending.new_commitment if older.pending else None
            if service_commitment in (older.commitment(), pending):
                return (f"backup #{backup.number} matches the service: run `zkmargin account restore "
                        f"--backup {backup.number}`")
        return "no kept version matches either; this file belongs to another service or account"

    # --- proving and submitting -----------------------------------------------------------

    def _prove(self, statement: str, inputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
        circuit = self.circuit(statement)  # learns first whether the keys are the escrow variants
        pk = self.keys.proving_key(statement, on_download=lambda s: self.progress(f"downloading the {s} key", False))
        timer = _ReportingTimer(self.progress)
        with timer.phase("witness"):
            cs = circuit.synthesize(self.wallet.curve, inputs)
        start = time.perf_counter()
        proof = prove(pk, cs, self.backend, timer=timer)
        timer.seconds["prove"] = time.perf_counter() - start
        # a few milliseconds: a key that does not match its verification key fails here, not at the service
        if not verify(pk.vk, cs.public_values(), proof, self.backend):
            raise TraderError(f"the {statement} proof does not verify under the service's verification key: "
                              "the proving key is inconsistent (tell the operator)")
        return proof_to_json(proof, self.backend), timer.seconds

    def _send(self, submission: Submission) -> dict[str, Any]:
        """Send a saved submission; promote it on acceptance (an already accepted one counts)."""
        self.progress("submit", False)
        try:
            answer = self.client.post(submission.path, submission.body)
        except ServiceRefusedError as exc:
            if exc.code != "already_accepted":
                raise
            answer = exc.body.get("accepted") or {}
        self.progress("submit", True)
        self.wallet.promote(submission, answer)
        self.save()
        return answer

    def _submit(self, submission: Submission) -> dict[str, Any]:
        """Save the submission as pending (durably), then send it. A refusal drops it."""
        self.wallet.pending = submission
        self.save()
        try:
            return self._send(submission)
        except ServiceRefusedError:
            self.wallet.pending = None
            self.save()
            raise

    def _transition(self, kind: str, statement: str, path: str, epoch_id: int, new_state: AccountState,
                    inputs: dict[str, Any], extra_body: dict[str, Any], summary: dict[str, Any]) -> Outcome:
        proof, seconds = self._prove(statement, inputs)
        inputs.pop("escrow_scalar", None)  # nothing new to keep secret: the escrow is for the guardians
        escrow = inputs.get("escrow")
        if escrow is not None:
            extra_body = {**extra_body, "escrow": escrow.to_json()}
        new_commitment = new_state.commitment(self.wallet.curve)
        submission = Submission(kind=kind, path=path, epoch_id=epoch_id, old_commitment=self.wallet.commitment(),
                                new_state=new_state, new_commitment=new_commitment, summary=summary,
                                body={"epoch_id": epoch_id, **extra_body, "new_commitment": str(new_commitment),
                                      "proof": proof})
        start = time.perf_counter()
        answer = self._submit(submission)
        round_trip = time.perf_counter() - start
        sequence = (answer.get("transition") or {}).get("sequence")
        return Outcome(f"{kind} accepted (sequence {sequence}): proved in {seconds['prove']:.2f} s, "
                       f"verified and recorded by the service in {round_trip * 1000:.0f} ms",
                       {"kind": kind, **summary, "epoch_id": epoch_id, "sequence": sequence,
                        "prove_seconds": round(seconds["prove"], 4), "round_trip_seconds": round(round_trip, 4),
                        "phases": {k: round(v, 4) for k, v in seconds.items()}})

    def _refuse_unhealthy(self, exc: BoundError, what: str) -> UnhealthyError:
        return UnhealthyError(f"{what}: {exc}")

    # --- the operations -------------------------------------------------------------------

    def deposit(self, amount: int | None = None, deposit_id: int | None = None) -> list[Outcome]:
        """Prove credited deposits into the state: the one given, or every one pending."""
        view = self.client.account(self.wallet.account_id)
        pending = view.pending_deposits
        if deposit_id is not None:
            chosen = [d for d in pending if d.deposit_id == deposit_id]
        elif amount is not None:
            chosen = [d for d in pending if int(d.amount) == amount][:1]
        else:
            chosen = pending
        if not chosen:
            listing = ", ".join(f"#{d.deposit_id}: {d.amount}" for d in pending) or "none"
            which = (f"credited deposit of {amount}" if amount is not None
                     else f"credited deposit #{deposit_id}" if deposit_id is not None else "credited deposit")
            raise TraderError(f"no {which} is waiting to be applied (pending: {listing}); "
                              "the operator credits a deposit once the funds arrive")
        # a deposit passes a pending levy (it may be what makes the levy payable): levies after it
        outcomes = self.catch_up(before_epoch=self.open_epoch().epoch_id, levies_first=False)
        for item in chosen:
            epoch = self.open_epoch()
            value = int(item.amount)
            try:
                new, inputs = self._transfer(value, epoch)
            except BoundError as exc:
                raise self._refuse_unhealthy(exc, f"deposit #{item.deposit_id}") from None
            outcomes.append(self._transition(
                "deposit", "transfer", f"/accounts/{self.wallet.account_id}/deposits/{item.deposit_id}/apply",
                epoch.epoch_id, new, inputs, {}, {"deposit_id": item.deposit_id, "amount": str(value)}))
        return outcomes + self.pay_levies()

    def withdraw(self, amount: int) -> list[Outcome]:
        if amount <= 0:
            raise TraderError("the amount to withdraw must be positive")
        outcomes = self.catch_up(before_epoch=self.open_epoch().epoch_id)
        if amount > self.wallet.state.collateral:
            raise UnhealthyError(f"cannot withdraw {amount}: the collateral is {self.wallet.state.collateral}")
        epoch = self.open_epoch()
        try:
            new, inputs = self._transfer(-amount, epoch)
        except BoundError as exc:
            raise self._refuse_unhealthy(exc, f"cannot withdraw {amount}") from None
        outcomes.append(self._transition("withdrawal", "transfer", f"/accounts/{self.wallet.account_id}/withdrawals",
                                         epoch.epoch_id, new, inputs, {"amount": str(amount)},
                                         {"amount": str(amount)}))
        return outcomes

    def pay_levies(self) -> list[Outcome]:
        """Pay every levy the account owes (a socialized loss of a liquidation, docs/protocol.md §12):
        each is a transfer proof debiting its amount, in the open epoch, and comes before anything
        else the account does, so every command that moves the state pays them first."""
        outcomes = []
        for levy in self.client.account(self.wallet.account_id).pending_levies:
            epoch, amount = self.open_epoch(), int(levy.amount)
            try:
                new, inputs = self._transfer(-amount, epoch)
            except BoundError as exc:
                raise self._refuse_unhealthy(exc, f"cannot pay levy #{levy.levy_id} of {amount} ({levy.reference}); "
                                                  "deposit first, or the account will be liquidated at its deadline"
                                             ) from None
            outcomes.append(self._transition(
                "levy", "transfer", f"/accounts/{self.wallet.account_id}/levies/{levy.levy_id}/apply",
                epoch.epoch_id, new, inputs, {}, {"levy_id": levy.levy_id, "amount": str(amount)}))
        return outcomes

    def apply_fills(self) -> list[Outcome]:
        """Apply every pending fill, settling a closed epoch first where the clearing order needs it."""
        return self.catch_up()

    def catch_up(self, settle_through: int | None = None, *, before_epoch: int | None = None,
                 levies_first: bool = True) -> list[Outcome]:
        """Bring the state forward in the clearing cycle's order, one proof a step.

        A fill belongs to the epoch it was posted in: it is applied against that epoch, to a state
        in it. A state holding a position settles each closed epoch before it acts in the next.
        So, repeatedly: apply the fills of the state's epoch (a flat state may jump ahead to the
        oldest fill's epoch); otherwise settle the state's epoch if it is closed and the state
        holds a position in it. Stops when nothing is left to do, or past ``settle_through``.
        ``before_epoch``: only what must precede a step in that epoch (its own fills may follow:
        a deposit that makes room for a fill comes first).
        """
        if before_epoch is not None:
            settle_through = before_epoch - 1 if settle_through is None else min(settle_through, before_epoch - 1)
        outcomes: list[Outcome] = self.pay_levies() if levies_first else []
        while True:
            state = self.wallet.state
            fills = sorted((f for f in self.client.fills(self.wallet.account_id, pending=True)
                            if before_epoch is None or _epoch_of(f) < before_epoch),
                           key=lambda f: (_epoch_of(f), f.fill_id))
            if fills and _epoch_of(fills[0]) < state.epoch:
                raise TraderError(
                    f"fill #{fills[0].fill_id} of epoch {fills[0].epoch_id} can no longer be applied: this "
                    f"account has settled that epoch already (its state is in epoch {state.epoch}); the operator "
                    "treats an unapplied fill as a default")
            if fills and (fills[0].epoch_id == state.epoch or state.is_flat):
                outcomes.append(self._apply_fill(fills[0]))
                continue
            if state.is_flat or (settle_through is not None and state.epoch > settle_through):
                return outcomes
            epoch = self._epoch_or_none(state.epoch)
            if epoch is None or epoch.status != "closed":
                return outcomes
            outcomes.append(self._settle_one(epoch))

    def _epoch_or_none(self, epoch_id: int) -> Epoch | None:
        try:
            return self.client.epoch(epoch_id)
        except ServiceRefusedError as exc:
            if exc.status == 404:
                return None
            raise

    def _apply_fill(self, record: SealedFill) -> Outcome:
        fill = open_fill(bytes.fromhex(record.ciphertext or ""), self.wallet.delivery_key,
                         int(record.fill_commitment), self.wallet.curve, markets=self.wallet.markets)
        refuse_expired_fill(record, fill.market, self.markets())
        epoch_id = _epoch_of(record)
        epoch = self.client.epoch(epoch_id)  # the fill's epoch, open or closed: its mark prices (risk record)
        try:
            if self.margin_mode() == PORTFOLIO_MODE:
                new, inputs = self.circuit("fill").transition(
                    self.wallet.state, fill, self.epoch_risk(epoch).arrays, self.initial_factor(), self.wallet.curve,
                    escrow_key=self.escrow_key())
            else:
                new, inputs = self.circuit("fill").transition(
                    self.wallet.state, fill, epoch_id, _prices(epoch.mark_prices), self.rates("initial"),
                    self.rates("maintenance"), self.wallet.curve, escrow_key=self.escrow_key())
        except BoundError as exc:
            raise self._refuse_unhealthy(exc, f"fill #{record.fill_id} cannot be applied") from None
        side = "buy" if fill.size_delta > 0 else "sell"
        return self._transition(
            "fill", "fill", f"/accounts/{self.wallet.account_id}/fills/{record.fill_id}/apply",
            epoch_id, new, inputs, {},
            {"fill_id": record.fill_id, "market": self.market_name(fill.market), "side": side})

    def attest(self, epoch_id: int | None = None) -> Outcome:
        """Prove maintenance margin at the (open) epoch's mark prices; in portfolio mode, against the
        epoch's risk record (every scenario covered)."""
        epoch = self.open_epoch() if epoch_id is None else self.client.epoch(epoch_id)
        if epoch.status != "open":
            raise TraderError(f"epoch {epoch.epoch_id} is {epoch.status}: attestations are for the open epoch")
        inputs = self._attestation_inputs(epoch)
        proof, seconds = self._prove("margin", inputs)
        submission = Submission(kind="attestation", path=f"/accounts/{self.wallet.account_id}/attestations",
                                epoch_id=epoch.epoch_id, old_commitment=self.wallet.commitment(),
                                body={"epoch_id": epoch.epoch_id, "proof": proof})
        start = time.perf_counter()
        self._send(submission)
        round_trip = time.perf_counter() - start
        mode = self.margin_mode()
        return Outcome(f"{'portfolio ' if mode == PORTFOLIO_MODE else ''}margin attested for epoch {epoch.epoch_id}: "
                       f"proved in {seconds['prove']:.2f} s, verified by the service in {round_trip * 1000:.0f} ms",
                       {"kind": "attestation", "margin_mode": mode, "epoch_id": epoch.epoch_id,
                        "prove_seconds": round(seconds["prove"], 4), "round_trip_seconds": round(round_trip, 4),
                        "phases": {k: round(v, 4) for k, v in seconds.items()}})

    def _attestation_inputs(self, epoch: Epoch) -> dict[str, Any]:
        """The margin statement's inputs, or ``UnhealthyError`` (naming the shortfall, and in portfolio
        mode the failing scenario) when no proof can exist."""
        state, circuit = self.wallet.state, self.circuit("margin")
        try:
            if self.margin_mode() == PORTFOLIO_MODE:
                risk = self.epoch_risk(epoch)
                inputs: dict[str, Any] = circuit.assignment(state, risk.arrays, self.wallet.curve)
                return inputs
            return circuit.assignment(state, epoch.epoch_id, _prices(epoch.mark_prices), self.rates("maintenance"),
                                      self.wallet.curve)
        except BoundError as exc:
            kind = "portfolio margin" if self.margin_mode() == PORTFOLIO_MODE else "margin"
            raise self._refuse_unhealthy(exc, f"no {kind} attestation can exist for epoch {epoch.epoch_id}") from None

    def settle(self, epoch_id: int | None = None) -> list[Outcome]:
        """Settle the closed epochs the state holds positions in, oldest first, applying their fills
        first (or up to ``epoch_id``); the pnl is public, the positions are not."""
        if epoch_id is not None:
            epoch = self.client.epoch(epoch_id)
            if epoch.status != "closed":
                raise TraderError(f"epoch {epoch_id} is {epoch.status}: only a closed epoch (settlement prices "
                                  "fixed) can be settled")
            if self.wallet.state.epoch > epoch_id:
                raise TraderError(f"epoch {epoch_id} needs no settlement from this account: its state is in epoch "
                                  f"{self.wallet.state.epoch} already")
        return self.catch_up(settle_through=epoch_id)

    def _settle_one(self, epoch: Epoch) -> Outcome:
        eid = epoch.epoch_id
        try:
            new, pnl, inputs = self.circuit("settle").transition(
                self.wallet.state, eid, _prices(epoch.settlement_prices), self.wallet.curve,
                funding_steps=_funding_steps(epoch), expires=checked_expiries(epoch, self.markets()),
                escrow_key=self.escrow_key())
        except BoundError as exc:
            raise self._refuse_unhealthy(exc, f"epoch {eid} cannot be settled") from None
        return self._transition("settlement", "settle", f"/accounts/{self.wallet.account_id}/settlements", eid, new,
                                inputs, {"pnl": str(pnl), "holds_position": new.holds_position}, {"pnl": str(pnl)})

    # --- status -------------------------------------------------------------------------

    def market_name(self, index: int) -> str:
        markets = self.markets()
        return markets[index].name if index < len(markets) else f"market {index}"

    def status(self) -> dict[str, Any]:
        """Positions, equity and margin ratio at the open epoch's prices (computed here), and the
        service's view of the account."""
        state = self.wallet.state
        view = self.client.account(self.wallet.account_id)
        try:
            epoch = self.client.current_epoch()
        except ServiceRefusedError:
            epoch = None
        result: dict[str, Any] = {
            "account_id": state.account_id, "service": self.wallet.service, "collateral": str(state.collateral),
            "positions": [{"market": self.market_name(m), "size": str(b), "cost_basis": str(k)}
                          for m, (b, k) in enumerate(zip(state.sizes, state.costs)) if b or k],
            "nonce": state.nonce, "state_epoch": state.epoch,
            "in_sync": int(view.current_commitment) == self.wallet.commitment(),
            "pending_submission": None if self.wallet.pending is None else self.wallet.pending.kind,
            "service_view": {"sequence": view.sequence,
                             "in_default": view.in_default and view.in_default.model_dump(mode="json"),
                             "pending_deposits": [d.model_dump(mode="json") for d in view.pending_deposits],
                             "pending_fills": [f.fill_id for f in view.pending_fills],
                             "ledger_balances": view.balances.model_dump(mode="json")},
        }
        result["liquidation"] = self._liquidation_status(view)
        if epoch is not None and epoch.mark_prices:
            prices = epoch.mark_prices
            equity = state.equity(prices)
            maintenance = state.requirement(prices, self.rates("maintenance"))
            initial = state.requirement(prices, self.rates("initial"))
            result["epoch"] = {"epoch_id": epoch.epoch_id, "mark_prices": prices}
            result["equity"] = str(equity)
            # requirements carry RATE_SCALE; round up to whole collateral units
            result["maintenance_requirement"] = str(-(-maintenance // RATE_SCALE))
            result["initial_requirement"] = str(-(-initial // RATE_SCALE))
            result["margin_ratio"] = ratio_text(equity * RATE_SCALE, maintenance) if maintenance else None
            result["excess_over_maintenance"] = str((equity * RATE_SCALE - maintenance) // RATE_SCALE)
            result["health"] = self.client.health(state.account_id, epoch.epoch_id).model_dump(mode="json")
        result["margin_mode"] = self.margin_mode()
        if epoch is not None and self.margin_mode() == PORTFOLIO_MODE:
            result["portfolio"] = self._portfolio_status(state, epoch)
        return result

    def _portfolio_status(self, state: AccountState, epoch: Epoch) -> dict[str, Any]:
        """The portfolio figures at the open epoch's risk record (``circuits.protocol.risk.book``),
        or why there are none (an epoch that opened without a record)."""
        try:
            risk = self.epoch_risk(epoch)
        except TraderError as exc:
            return {"unavailable": str(exc)}
        return portfolio_report(state, risk).to_json()

    def _liquidation_status(self, view: AccountView) -> dict[str, Any] | None:
        """The account's latest liquidation: frozen while it collects shares, its record once closed,
        why it failed; None when it never was liquidated."""
        summary = view.liquidation
        if summary is None:
            return None
        record = self.client.liquidation(summary.id)
        status: dict[str, Any] = {"id": summary.id, "status": summary.status, "reason": summary.reason,
                                  "epoch_id": summary.epoch_id, "requested_at": summary.requested_at.isoformat(),
                                  "frozen": summary.status in ("requested", "opened"),
                                  "shares": len(record.shares), "threshold": record.threshold}
        if summary.status == "failed":
            status["failure"] = record.failure
        if summary.status == "closed" and record.closeout is not None:
            closeout = record.closeout
            status["closed_at"] = summary.closed_at.isoformat() if summary.closed_at else None
            status["closeout"] = {key: closeout.get(key) for key in (
                "full", "step", "closed", "prices", "penalty", "realized_pnl", "shortfall", "successor_commitment")}
            status["adopted"] = str(closeout.get("successor_commitment")) == str(self.wallet.commitment()) or any(
                entry.get("kind") == "liquidation" and entry.get("liquidation_id") == summary.id
                for entry in self.wallet.history)
        return status
