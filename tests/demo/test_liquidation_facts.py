"""The demo's success condition for its liquidation chapters (``demo.liquidation.failed_facts``):
with the figures of the demo's story every fact holds, and each way the story could go wrong makes
exactly the fact it breaks fail. (The whole demo runs in tests/demo/test_demo.py.)"""

from __future__ import annotations

from dataclasses import replace

import pytest

from circuits.state import AccountState
from demo.liquidation import Aftermath, Liquidated, failed_facts

BOB = 3
# Bob's state at epoch 2's opening, long 2 BTC at a cost basis of 53,600; the service's successor
REVEALED = AccountState(BOB, 3, 11, 3_597, (2, 0), (53_600, 0), 2)
SUCCESSOR = AccountState(BOB, 4, 12, 1_477, (0, 0), (0, 0), 3)
LIQUIDATED = Liquidated(status="closed", guardians=(1, 3), revealed=REVEALED, moved=(2, 0), full=True, penalty=520,
                        realized_pnl=-1_600, successor_commitment=777, successor=SUCCESSOR)
AFTER = Aftermath(backstop_sizes=(2, 0), insurance_fund=520, bob_commitment=777,
                  epoch_pnl={"alice": 800, "backstop": 800, "bob": -1_600}, finalized_total=0)


def test_the_story_as_told_holds():
    assert failed_facts(LIQUIDATED, AFTER) == []


@pytest.mark.parametrize(("liquidated", "after", "fact"), [
    (replace(LIQUIDATED, status="failed"), AFTER, "the liquidation closed with the shares of guardians 1 and 3"),
    (replace(LIQUIDATED, guardians=(1, 2)), AFTER, "the liquidation closed with the shares of guardians 1 and 3"),
    (replace(LIQUIDATED, full=False, moved=(1, 0)), replace(AFTER, backstop_sizes=(1, 0)),
     "a full close-out moved all of Bob's position"),
    (LIQUIDATED, replace(AFTER, backstop_sizes=(0, 0)), "the backstop holds the position moved to it"),
    (LIQUIDATED, replace(AFTER, backstop_sizes=(2, 1)), "the backstop holds the position moved to it"),
    (LIQUIDATED, replace(AFTER, insurance_fund=0), "the insurance fund holds the penalty"),
    (replace(LIQUIDATED, penalty=0), replace(AFTER, insurance_fund=0), "the insurance fund holds the penalty"),
    (LIQUIDATED, replace(AFTER, bob_commitment=778), "Bob's account continues from the successor the service wrote"),
    (replace(LIQUIDATED, successor=replace(SUCCESSOR, sizes=(1, 0), costs=(26_000, 0))), AFTER,
     "Bob's account continues from the successor the service wrote"),
    (LIQUIDATED, replace(AFTER, finalized_total=None), "epoch 2's pnl sums to zero, Bob's booked by the close-out"),
    (LIQUIDATED, replace(AFTER, epoch_pnl={"alice": 800, "backstop": 0, "bob": -1_600}),
     "epoch 2's pnl sums to zero, Bob's booked by the close-out"),
    (LIQUIDATED, replace(AFTER, epoch_pnl={"alice": 1_600, "backstop": 0}),
     "epoch 2's pnl sums to zero, Bob's booked by the close-out"),
], ids=["not-closed", "other-guardians", "partial", "backstop-empty", "backstop-more", "fund-empty", "no-penalty",
        "other-commitment", "successor-not-flat", "not-finalized", "pnl-not-zero", "bob-pnl-missing"])
def test_each_way_the_story_could_go_wrong_fails_the_fact_it_breaks(liquidated, after, fact):
    assert failed_facts(liquidated, after) == [fact]
