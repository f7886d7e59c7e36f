"""The demo's liquidation chapters: BTC falls again and Bob, below maintenance, cannot attest; after
the grace period the operator requests his liquidation, guardians 1 and 3 check the request on
their own and return decryption shares, the service opens Bob's state (his alone) and closes it
out to the backstop with a penalty to the insurance fund; the backstop applies its fill, epoch 2
closes, and it finalizes at zero.

Everything goes through the real code paths: the operator's HTTP requests, the guardians' own
client and checks (``demo.guardians``), the traders' library. The epoch's attestation deadline
and the grace period are seconds here (an hour each by default), so the story does not wait.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from circuits.inputs import state_from_json
from circuits.state import RATE_SCALE, AccountState
from demo.desk import BTC, Cast, Story, margin_line, money, signed
from demo.guardians import post_share
from prover.trader.account import UnhealthyError

DROP_PRICES = [26_000, 2_000]  # BTC falls again: Bob's equity no longer covers his maintenance margin
SECOND_CLOSE_PRICES = [26_400, 2_000]
GRACE_SECONDS = 2  # the cure window after a missed attestation deadline (the service's and the guardians')
BACKSTOP_DEPOSIT = 20_000  # what the backstop desk brings to take over positions
ATTESTATION_WINDOW_SECONDS = 3  # epoch 2's attestation deadline: seconds after it opens (an hour by default)
SHARING_GUARDIANS = (1, 3)  # guardian 2 is not needed: any 2 of the 3 open an escrow
INSURANCE_FUND = "default-fund"  # the ledger account the penalty goes to


@dataclass(frozen=True)
class Liquidated:
    """What the service did with Bob's account, as its liquidation record and his own view show it."""

    status: str
    guardians: tuple[int, ...]  # whose shares the service holds
    revealed: AccountState  # the opening of his pinned commitment
    moved: tuple[int, ...]  # per market: the size moved to the backstop
    full: bool
    penalty: int
    realized_pnl: int
    successor_commitment: int
    successor: AccountState  # the state the service wrote, as his own view shows it


@dataclass(frozen=True)
class Aftermath:
    """What the ledger and the backstop show once epoch 2 finalized."""

    backstop_sizes: tuple[int, ...]  # from the backstop's own state
    insurance_fund: int
    bob_commitment: int  # the service's current commitment of Bob's account
    epoch_pnl: dict[str, int]  # the epoch's settled pnl, per account name
    finalized_total: int | None  # the service's total at finalization (None: not finalized)


def failed_facts(liquidated: Liquidated, after: Aftermath) -> list[str]:
    """The facts the liquidation chapters tell that do not hold (none, when all is well)."""
    facts = {
        "the liquidation closed with the shares of guardians 1 and 3":
            liquidated.status == "closed" and liquidated.guardians == SHARING_GUARDIANS,
        "a full close-out moved all of Bob's position":
            liquidated.full and liquidated.moved == liquidated.revealed.sizes and any(liquidated.moved),
        "the backstop holds the position moved to it": after.backstop_sizes == liquidated.moved,
        "the insurance fund holds the penalty": after.insurance_fund == liquidated.penalty > 0,
        "Bob's account continues from the successor the service wrote":
            after.bob_commitment == liquidated.successor_commitment and liquidated.successor.is_flat,
        "epoch 2's pnl sums to zero, Bob's booked by the close-out":
            after.finalized_total == 0 and sum(after.epoch_pnl.values()) == 0
            and after.epoch_pnl.get("bob") == liquidated.realized_pnl,
    }
    return [fact for fact, holds in facts.items() if not holds]


def play_liquidation(cast: Cast, story: Story, epoch_id: int) -> bool:
    """The liquidation chapters; whether every fact they tell holds."""
    deadline = _second_epoch_opens(cast, story, epoch_id)
    requested = _margin_call_and_request(cast, story, epoch_id, deadline)
    record = _guardians_open(cast, story, requested)
    liquidated = _revealed_and_closed_out(cast, story, record)
    after = _second_epoch_settles(cast, story, epoch_id, liquidated)
    failed = failed_facts(liquidated, after)
    for fact in failed:
        story.fact(f"NOT SO: {fact}")
    return not failed


def _sleep_until(moment: datetime) -> None:
    seconds = (moment - datetime.now(UTC)).total_seconds()
    if seconds > 0:
        time.sleep(seconds)


def _second_epoch_opens(cast: Cast, story: Story, epoch_id: int) -> datetime:
    """Epoch 2 at the lower price, a deadline seconds away: Alice attests, Bob cannot."""
    names, maintenance = cast.names, cast.runtime.maintenance_rates
    story.chapter(f"{names[BTC]} falls again: epoch {epoch_id} opens at {money(DROP_PRICES[BTC])}, its attestation "
                  f"deadline {ATTESTATION_WINDOW_SECONDS} s away (shortened for the demo: an hour by default)")
    wanted = datetime.now(UTC) + timedelta(seconds=ATTESTATION_WINDOW_SECONDS)
    epoch = cast.operator.open_epoch(DROP_PRICES, attestation_deadline=wanted)
    if epoch["epoch_id"] != epoch_id:
        raise RuntimeError(f"the service opened epoch {epoch['epoch_id']}, the story expected {epoch_id}")
    for name, trader in cast.traders.items():
        story.fact(margin_line(trader, name, DROP_PRICES, maintenance))
    story.proved("alice", cast.alice.attest())
    try:
        cast.bob.attest()
    except UnhealthyError as exc:  # what `zkmargin attest` says, before any proving work
        story.fact(f"bob      `zkmargin attest` refuses at once, before any proving: {exc}")
    else:
        raise RuntimeError("Bob attested margin at a price that leaves him below maintenance")
    return datetime.fromisoformat(epoch["attestation_deadline"])


def _margin_call_and_request(cast: Cast, story: Story, epoch_id: int, deadline: datetime) -> dict[str, Any]:
    """The deadline passes (a margin call), then the grace period; the operator's signed request."""
    bob_id = cast.bob.wallet.account_id
    story.chapter(f"Bob misses the deadline: a margin call; {GRACE_SECONDS} s of grace later (an hour by default) the "
                  "operator requests his liquidation")
    _sleep_until(deadline + timedelta(milliseconds=50))
    for name, trader in cast.traders.items():
        health = cast.operator.health(trader.wallet.account_id, epoch_id)
        story.fact(f"{name:<8} service health in epoch {epoch_id}: {health['status']}"
                   + (f" ({'; '.join(health['reasons'])})" if health["reasons"] else ""))
    story.fact(f"meanwhile the backstop desk funds its account to take over positions: the operator credits "
               f"{money(BACKSTOP_DEPOSIT)}, the desk proves the deposit")
    cast.operator.credit(cast.backstop.wallet.account_id, BACKSTOP_DEPOSIT, "demo-wire-backstop")
    for outcome in cast.backstop.deposit(BACKSTOP_DEPOSIT):
        story.proved("backstop", outcome)
    _sleep_until(deadline + timedelta(seconds=GRACE_SECONDS, milliseconds=50))
    requested = cast.operator.request_liquidation(bob_id, "margin_call", epoch_id)
    request = requested["request"]
    story.fact(f"liquidation {requested['id']} of account {bob_id}: rule {request['reason']} of epoch "
               f"{request['epoch_id']} (deadline {request['deadline']} + {request['grace_seconds']} s grace), "
               f"signed with the operator's key and recorded in the journal")
    story.fact(f"it pins Bob's current commitment {str(request['commitment'])[:16]}... and the escrow his last "
               "proof sealed; his account is frozen: no transition or attestation of his counts now")
    return requested


def _guardians_open(cast: Cast, story: Story, requested: dict[str, Any]) -> dict[str, Any]:
    """Guardians 1 and 3 check the request and post their shares; the second share opens and closes out."""
    from circuits.protocol.liquidation import operator_key_hex

    pinned = operator_key_hex(cast.runtime.operator_key)  # what each guardian was given out of band
    story.chapter(f"Guardians {' and '.join(map(str, SHARING_GUARDIANS))} each check the request on their own and "
                  f"return a decryption share; guardian 2 is not needed")
    for j in SHARING_GUARDIANS:
        posted = post_share(cast.guardians.guardians[j], cast.url, requested["id"], operator_key=pinned,
                            keys_dir=cast.runtime.settings.resolved_keys_dir, grace_seconds=GRACE_SECONDS)
        story.fact(f"guardian {j}: {len(posted.checks)} checks passed, at its own clock and against its own "
                   f"verifying key; share posted with its DLEQ proof: the service holds {posted.shares_held} of "
                   f"{posted.threshold} ({posted.status})")
        if j == SHARING_GUARDIANS[0]:
            for check in posted.checks:
                story.fact(f"  checked: {check}")
    story.fact(f"guardian 2 was not needed: any {cast.guardians.guardian_set.threshold} of the "
               f"{cast.guardians.guardian_set.guardians} guardians open an escrow; one alone opens nothing")
    return cast.operator.liquidation(requested["id"])


def _revealed_and_closed_out(cast: Cast, story: Story, record: dict[str, Any]) -> Liquidated:
    names = cast.names
    if record["status"] != "closed":
        raise RuntimeError(f"liquidation {record['id']} is {record['status']}: {record.get('failure')}")
    revealed = state_from_json(record["revealed_state"])
    story.chapter("What the opening revealed, only now and only Bob's; the close-out at the mark")
    positions = ", ".join(f"{b:+,} {names[m]} at a cost basis of {money(k)}"
                          for m, (b, k) in enumerate(zip(revealed.sizes, revealed.costs)) if b or k)
    story.fact(f"bob      {positions}; collateral {money(revealed.collateral)} (nonce {revealed.nonce}): the opening "
               "of his pinned commitment, checked by the service before use")
    story.fact("Alice's and the backstop's escrows stay sealed: no one asked the guardians for them")
    closeout = record["closeout"]
    moved = tuple(int(q) for q in closeout["closed"])
    rate = cast.runtime.settings.liquidation_penalty_rate * 100 // RATE_SCALE
    why = ("full close-out: his equity {} could not meet the initial margin of any part kept" if closeout["full"]
           else "partial close-out: only what restores his initial margin at equity {}")
    story.fact(f"{why.format(money(closeout['equity_before']))}; moved to the backstop (account "
               f"{closeout['backstop_account']}) as a fill at the mark each side, fee 0: "
               + ", ".join(f"{q:+,} {names[m]} at {money(closeout['prices'][m])}" for m, q in enumerate(moved) if q))
    story.fact(f"penalty {money(closeout['penalty'])} ({rate} % of the maintenance margin closed) to the insurance "
               f"fund; insurance fund balance {money(cast.operator.balance(INSURANCE_FUND))}")
    successor = _successor_adopted_by_bob(cast)
    story.fact(f"realized pnl {signed(closeout['realized_pnl'])}, booked as Bob's settlement of epoch "
               f"{revealed.epoch}; Bob continues {'flat' if successor.is_flat else 'with a position'}, collateral "
               f"{money(successor.collateral)}, in epoch {successor.epoch}: a state the service wrote, whose opening "
               f"only Bob's own account view shows")
    story.fact("Bob's next command checks that state against the close-out rules from his own state, then adopts it:")
    story.fact(f"  {cast.bob_adoption}")
    return Liquidated(record["status"], tuple(s["guardian"] for s in record["shares"]), revealed, moved,
                      bool(closeout["full"]), int(closeout["penalty"]), int(closeout["realized_pnl"]),
                      int(closeout["successor_commitment"]), successor)


def _successor_adopted_by_bob(cast: Cast) -> AccountState:
    """Bob's CLI, on its next command, checks the successor against the close-out rules and adopts it
    (prover.trader.liquidation); what it tells him is kept for the story."""
    outcome = cast.bob.reconcile()
    if outcome is None or "adopted_liquidation_successor" not in outcome.data:
        raise RuntimeError("Bob's trader CLI did not adopt the state the service wrote after his close-out")
    cast.bob_adoption = outcome.summary
    return cast.bob.wallet.state


def _second_epoch_settles(cast: Cast, story: Story, epoch_id: int, liquidated: Liquidated) -> Aftermath:
    """The backstop applies its fill; epoch 2 closes; Alice and the backstop settle (Bob's pnl was booked)."""
    names, operator = cast.names, cast.operator
    story.chapter(f"The backstop applies its fill; {names[BTC]} ticks up to {money(SECOND_CLOSE_PRICES[BTC])}, "
                  f"epoch {epoch_id} closes and Alice and the backstop settle")
    for outcome in cast.backstop.apply_fills():
        story.proved("backstop", outcome)
    state = cast.backstop.wallet.state
    story.fact(f"backstop holds {state.sizes[BTC]:+,} {names[BTC]} at a cost basis of {money(state.costs[BTC])}: "
               "Bob's position, now in the backstop's hidden state")
    operator.close_epoch(epoch_id, SECOND_CLOSE_PRICES)
    pnl: dict[str, int] = {}
    for name, trader in (("alice", cast.alice), ("backstop", cast.backstop)):
        for outcome in trader.settle(epoch_id):
            story.proved(name, outcome)
            pnl[name] = int(outcome.data["pnl"])
    pnl["bob"] = liquidated.realized_pnl  # a full close-out is his settlement of the epoch, at the mark
    finalized = operator.finalize(epoch_id)
    story.fact(f"pnl: {', '.join(f'{name} {signed(value)}' for name, value in pnl.items())} (booked by the "
               f"close-out): the sum is {sum(pnl.values())}; epoch {epoch_id} finalized "
               f"({finalized['settled_accounts']} settled)")
    return Aftermath(backstop_sizes=state.sizes, insurance_fund=operator.balance(INSURANCE_FUND),
                     bob_commitment=int(cast.bob.client.account(cast.bob.wallet.account_id).current_commitment),
                     epoch_pnl=pnl,
                     finalized_total=int(finalized["total_pnl"]) if finalized["status"] == "finalized" else None)
