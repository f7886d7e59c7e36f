"""The trader library in portfolio mode, against a service simulated in process (``httpx.MockTransport``):
the epoch's risk record checked before anything is proven against it, a book that fails a scenario
refused locally (the scenario named, the shortfall exact, nothing downloaded or sent), and the
portfolio figures of ``zkmargin status`` checked against sums the test makes from the arrays itself.
The same through the real service and the CLI: tests/verifier/test_portfolio_end_to_end.py."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest

from circuits.protocol.api import EpochRisk, Market
from circuits.protocol.epoch_record import open_document, record_reference, record_sha256
from circuits.protocol.risk import MarketInputs, RiskParameters, epoch_risk_arrays
from circuits.protocol.risk.instruments import instrument_to_dict
from circuits.state import AccountState
from prover.trader.account import TraderAccount, UnhealthyError
from prover.trader.client import ServiceClient
from prover.trader.epoch_record import EpochRecordRefusedError
from prover.trader.portfolio import RiskRecordRefusedError, check_risk_record
from prover.trader.wallet import Wallet
from tests.prover.portfolio_books import BTC, EPOCH, FUTURE, ITM_CALL, NOW, VOL, book_state, published

CURVE = "bls12381"
RISK = published([FUTURE, ITM_CALL])  # market 0 a perpetual on BTC, market 1 a call on it struck at 40 000
MARK_PRICES = [BTC, 1]  # the option market's oracle price is not what marks it
URL = "http://127.0.0.1:9"
FACTOR = 1_250_000  # the service's initial-margin factor (GET /config)


def market_json(index: int) -> dict[str, Any]:
    option = None if index == 0 else {"right": "call", "strike": ITM_CALL.strike, "expiry": ITM_CALL.expiry,
                                      "underlying": 0}
    return {"market": index, "name": ["BTC-USD", "BTC-40000-C"][index], "price_scale": 1,
            "maintenance_rate": 50_000, "initial_rate": 100_000, "option": option,
            "kind": "perpetual" if index == 0 else "future"}  # the books' future is a perpetual


def record_json(risk=RISK) -> dict[str, Any]:
    """What GET /epochs/{id}/risk serves (verifier/services/risk.py's document)."""
    return {"epoch": risk.epoch, "valued_at": NOW, "parameters": {}, "curve": CURVE,
            "markets": [{"market": 0, "price": BTC, "vol": VOL, "rate": 0}],
            "arrays": [{"instrument": instrument_to_dict(a.instrument), "mark": a.mark,
                        "short_charge": a.short_charge, "pnl": list(a.pnl)} for a in risk.arrays],
            "digest": str(risk.digest(CURVE))}


def journal_json(risk_json: dict[str, Any], mark_prices=tuple(MARK_PRICES)) -> dict[str, Any]:
    """What GET /epochs/{id}/record serves: the open document naming ``risk_json``'s hash, as journaled."""
    document = open_document(EPOCH, mark_prices, "ab" * 32, risk_json)
    sha = record_sha256(document)
    return {"epoch_id": EPOCH, "close": None,
            "open": {"document": document, "sha256": sha, "entry_id": 7, "sequence": 7,
                     "reference": record_reference(EPOCH, "open", sha)}}


def config_json(mode: str) -> dict[str, Any]:
    return {"curve": CURVE, "markets": [market_json(0), market_json(1)], "statements": {}, "oracle_quorum": 3,
            "oracle_faults": 1, "oracle_staleness_seconds": 60,
            "circuit_breaker": {"max_spread_millionths": 1, "max_move_millionths": 1}, "margin_mode": mode,
            "portfolio_initial_factor": FACTOR}


def epoch_json() -> dict[str, Any]:
    return {"epoch_id": EPOCH, "status": "open", "opened_at": "2026-01-01T00:00:00Z", "closed_at": None,
            "finalized_at": None, "attestation_deadline": None, "settlement_deadline": None,
            "mark_prices": MARK_PRICES, "mark_snapshot_digest": "ab", "settlement_prices": None,
            "settlement_snapshot_digest": None, "settled_accounts": None, "defaulted_accounts": None,
            "circuit_breaker_overrides": {}}


def account_json(state: AccountState) -> dict[str, Any]:
    return {"account_id": state.account_id, "genesis_commitment": "1",
            "current_commitment": str(state.commitment(CURVE)),
            "sequence": 3, "state_epoch": state.epoch, "holds_position": True, "escrowed": False, "in_default": None,
            "encryption_public_key": None, "opened_at": "2026-01-01T00:00:00Z", "pending_deposits": [],
            "pending_fills": [], "balances": {"deposits": "0", "collateral": "0", "payouts": "0"}}


def health_json(state: AccountState) -> dict[str, Any]:
    return {"account_id": state.account_id, "epoch_id": EPOCH, "status": "healthy", "attested": False,
            "settled": True, "may_hold_position": True, "overdue_fills": [], "reasons": []}


class PortfolioService:
    """The routes a trader reads, in portfolio mode; every request is kept."""

    def __init__(self, state: AccountState, record: dict[str, Any] | None = None, mode: str = "portfolio",
                 journaled: dict[str, Any] | None = None):
        self.requests: list[httpx.Request] = []
        self.routes = {"/config": config_json(mode), "/markets": [market_json(0), market_json(1)],
                       "/epochs/current": epoch_json(), f"/epochs/{EPOCH}/risk": record or record_json(),
                       f"/epochs/{EPOCH}/record": journaled or journal_json(record or record_json()),
                       f"/accounts/{state.account_id}": account_json(state),
                       f"/accounts/{state.account_id}/health": health_json(state),
                       f"/accounts/{state.account_id}/fills": []}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = self.routes.get(request.url.path)
        if body is None or request.method != "GET":
            return httpx.Response(404, json={"code": "not_found", "detail": f"no {request.url.path}"})
        return httpx.Response(200, json=body)


def trader(tmp_path, state: AccountState, service: PortfolioService) -> TraderAccount:
    wallet = Wallet(service=URL, curve=CURVE, markets=2, account_id=state.account_id, account_token="t",
                    delivery_key="00" * 32, state=state)
    return TraderAccount(tmp_path / "state.json", wallet, None,
                         ServiceClient(URL, "t", transport=httpx.MockTransport(service)))


def by_hand(sizes: tuple[int, ...], collateral: int) -> dict[str, Any]:
    """The figures from the arrays, summed here (the book opened at the marks: equity = collateral)."""
    pnl = [sum(b * a.pnl[s] for b, a in zip(sizes, RISK.arrays)) for s in range(16)]
    charge = sum(-b * a.short_charge for b, a in zip(sizes, RISK.arrays) if b < 0)
    worst = min(range(16), key=lambda s: pnl[s])
    requirement = max(0, -pnl[worst]) + charge
    return {"pnl": pnl, "worst": worst, "requirement": requirement, "surplus": collateral - requirement}


# --- the record's checks ------------------------------------------------------------------------

def markets() -> list[Market]:
    return [Market.model_validate(market_json(i)) for i in range(2)]


def test_the_served_record_passes_its_checks_and_carries_its_digest():
    checked = check_risk_record(EpochRisk.model_validate(record_json()), EPOCH, MARK_PRICES, markets(), CURVE)
    assert checked.arrays == RISK and checked.digest == RISK.digest(CURVE) and checked.valued_at == NOW


@pytest.mark.parametrize(("doctor", "named"), [
    (lambda r: {**r, "digest": str(int(r["digest"]) + 1)}, "is not the digest of its arrays"),
    (lambda r: {**r, "arrays": [r["arrays"][0], {**r["arrays"][1], "pnl": [0] + r["arrays"][1]["pnl"][1:]}]},
     "is not the digest of its arrays"),  # a scenario rewritten, the old digest kept
    (lambda r: {**r, "epoch": EPOCH + 1}, f"record of epoch {EPOCH + 1}"),
    (lambda r: {**r, "curve": "bn128"}, "it is on bn128"),
    (lambda r: {**r, "markets": [{**r["markets"][0], "price": BTC + 1}]}, "not at the epoch's mark price"),
    (lambda r: {**r, "arrays": r["arrays"][:1]}, "it has 1 instruments, the service 2 markets"),
    (lambda r: {**r, "markets": []}, "no price and volatility for underlying market 0"),
    (lambda r: {**r, "arrays": [{**r["arrays"][0], "instrument": {**r["arrays"][0]["instrument"], "perpetual": False}},
                                r["arrays"][1]]}, r"but market 0 \(BTC-USD\) is"),  # a future, listed perpetual
])
def test_a_doctored_record_is_refused_naming_the_check(doctor, named):
    with pytest.raises(RiskRecordRefusedError, match=named):
        check_risk_record(EpochRisk.model_validate(doctor(record_json())), EPOCH, MARK_PRICES, markets(), CURVE)


def test_a_record_of_another_option_than_the_configured_one_is_refused():
    other = published([FUTURE, replace(ITM_CALL, strike=ITM_CALL.strike + 1)])  # self-consistent, digest included
    with pytest.raises(RiskRecordRefusedError, match="instrument 1 is .* but market 1 \\(BTC-40000-C\\) is"):
        check_risk_record(EpochRisk.model_validate(record_json(other)), EPOCH, MARK_PRICES, markets(), CURVE)


# --- attest: refused before proving --------------------------------------------------------------

def test_a_naked_short_call_is_refused_locally_naming_scenario_and_shortfall(tmp_path):
    sizes, collateral = (0, -1), 5_000 * 10**6
    state = book_state(sizes, collateral, RISK)
    service = PortfolioService(state)
    want = by_hand(sizes, collateral)
    assert want["worst"] == 10 and want["surplus"] < 0
    with pytest.raises(UnhealthyError) as refused:
        trader(tmp_path, state, service).attest()
    assert str(refused.value) == (
        f"no portfolio margin attestation can exist for epoch {EPOCH}: the account is below portfolio margin in "
        f"scenario 10 (price +1 x range, vol up) by {-want['surplus']} collateral units")
    # nothing downloaded, nothing sent: the refusal came before any proving work
    assert all(r.method == "GET" and not r.url.path.startswith("/keys") for r in service.requests)


def test_a_book_at_exactly_its_requirement_is_ready_to_prove_and_one_unit_less_is_refused(tmp_path):
    sizes = (1, -1)  # long the perpetual, short the call: the hedge
    requirement = by_hand(sizes, 0)["requirement"]
    state = book_state(sizes, requirement, RISK)
    account = trader(tmp_path, state, PortfolioService(state))
    inputs = account._attestation_inputs(account.open_epoch())
    public = inputs["public"]
    assert public["risk_digest"] == RISK.digest(CURVE) and public["marks"] == [a.mark for a in RISK.arrays]
    assert account.circuit("margin").name == "portfolio" and account.keys.portfolio
    assert account.keys.path("margin").parent.name == "portfolio-markets2-scenarios16-bls12381"
    poorer = replace(state, collateral=requirement - 1)
    with pytest.raises(UnhealthyError, match=f"in scenario {by_hand(sizes, 0)['worst']} .* by 1 collateral units"):
        trader(tmp_path, poorer, PortfolioService(poorer)).attest()


def test_a_withdrawal_below_initial_portfolio_margin_is_refused_locally_naming_scenario_and_shortfall(tmp_path):
    sizes = (0, -1)  # a naked short call
    requirement = by_hand(sizes, 0)["requirement"]
    initial = -(-FACTOR * requirement // 10**6)  # 1.25 x, rounded up
    state = book_state(sizes, initial + 1_000, RISK)
    service = PortfolioService(state)
    account = trader(tmp_path, state, service)
    assert account.circuit("transfer").name == "portfolio-transfer" and account.circuit("fill").name == "portfolio-fill"
    assert account.keys.path("transfer").parent.name == "portfolio-transfer-markets2-scenarios16-bls12381"
    with pytest.raises(UnhealthyError) as refused:
        account.withdraw(1_001)
    assert str(refused.value) == (
        "cannot withdraw 1001: the withdrawal would leave the account below initial portfolio margin: scenario 10 "
        "(price +1 x range, vol up) short by 1 collateral units at the initial factor 1250000 millionths")
    assert all(r.method == "GET" and not r.url.path.startswith("/keys") for r in service.requests)
    # 1 000 leaves exactly the initial requirement: ready to prove, over the epoch's arrays at the factor
    new, inputs = account._transfer(-1_000, account.open_epoch())
    assert new.collateral == initial and inputs["public"]["initial_factor"] == FACTOR
    assert inputs["public"]["risk_digest"] == RISK.digest(CURVE)


def test_in_flat_mode_the_attestation_is_the_flat_statement(tmp_path):
    state = book_state((1, -1), 10**12, RISK)
    account = trader(tmp_path, state, PortfolioService(state, mode="flat"))
    assert account.circuit("margin").name == "margin" and not account.keys.portfolio
    assert "portfolio" not in account.status() and account.status()["margin_mode"] == "flat"


def test_an_epoch_without_a_record_is_explained(tmp_path):
    state = book_state((1, -1), 10**12, RISK)
    service = PortfolioService(state)
    del service.routes[f"/epochs/{EPOCH}/risk"]
    account = trader(tmp_path, state, service)
    with pytest.raises(Exception, match=f"epoch {EPOCH} has no risk record"):
        account.attest()
    assert "has no risk record" in account.status()["portfolio"]["unavailable"]


def test_a_doctored_record_stops_the_attestation(tmp_path):
    state = book_state((1, -1), 10**12, RISK)
    record = {**record_json(), "digest": "12345"}
    with pytest.raises(RiskRecordRefusedError, match="nothing was proven; tell the operator"):
        trader(tmp_path, state, PortfolioService(state, record)).attest()


def _other_mark_prices(journal):
    journal["open"]["document"]["mark_prices"] = ["1", "1"]  # the hash left as it was
    return journal


def _rehashed_other_marks(_journal):
    return journal_json(record_json(), mark_prices=(BTC + 1, 1))


def _no_open_record(journal):
    return {**journal, "open": None}


def _another_reference(journal):
    journal["open"]["reference"] = record_reference(EPOCH, "open", "cd" * 32)
    return journal


@pytest.mark.parametrize(("doctor", "named"), [
    (_no_open_record, "journal holds no record of the epoch's opening"),
    (_other_mark_prices, "not to the hash its journal entry names"),
    (_another_reference, "not to the hash its journal entry names"),
    (_rehashed_other_marks, "other mark prices than the epoch's"),
])
def test_a_journaled_record_that_does_not_hold_together_stops_the_attestation(tmp_path, doctor, named):
    state = book_state((1, -1), 10**12, RISK)
    service = PortfolioService(state, journaled=doctor(journal_json(record_json())))
    with pytest.raises(EpochRecordRefusedError, match=named):
        trader(tmp_path, state, service).attest()
    assert not any(r.method == "POST" for r in service.requests)


def test_a_risk_record_other_than_the_journaled_one_is_refused(tmp_path):
    """Self-consistent arrays (they pass every check of the record alone) that the epoch did not open with."""
    state = book_state((1, -1), 10**12, RISK)
    calmer = epoch_risk_arrays(EPOCH, [FUTURE, ITM_CALL], {0: MarketInputs(BTC, VOL // 2)}, NOW, RiskParameters())
    served = record_json(calmer)
    check_risk_record(EpochRisk.model_validate(served), EPOCH, MARK_PRICES, markets(), CURVE)  # passes alone
    service = PortfolioService(state, served, journaled=journal_json(record_json()))
    with pytest.raises(EpochRecordRefusedError, match="not the record the epoch opened with"):
        trader(tmp_path, state, service).attest()
    assert not any(r.method == "POST" for r in service.requests)


# --- status: the portfolio figures -----------------------------------------------------------------

def test_status_shows_the_portfolio_figures_of_the_private_state(tmp_path):
    sizes, collateral = (2, -1), 3_000 * 10**6
    state = book_state(sizes, collateral, RISK)
    figures = trader(tmp_path, state, PortfolioService(state)).status()["portfolio"]
    want = by_hand(sizes, collateral)
    assert [row["pnl"] for row in figures["scenarios"]] == want["pnl"]
    assert figures["worst_scenario"]["index"] == want["worst"]
    assert figures["requirement"] == want["requirement"] and figures["surplus"] == want["surplus"]
    assert figures["equity"] == collateral and figures["epoch"] == EPOCH
    assert [p["size"] for p in figures["positions"]] == list(sizes)
    future, call = (p["greeks"] for p in figures["positions"])
    assert future == {"delta": 2 * 10**6, "gamma": 0, "vega": 0, "theta": 0}
    assert -(10**6) < call["delta"] < -(9 * 10**5)  # short a deep in-the-money call: nearly -1
    assert figures["greeks_total"]["delta"] == future["delta"] + call["delta"]
    assert figures["greeks_by_market"] == {"0": figures["greeks_total"]}  # both on BTC
