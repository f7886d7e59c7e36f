"""The trader library's refusals read as one clear sentence."""

import httpx
import pytest

from prover import statefile
from prover.trader.account import TraderAccount
from prover.trader.client import ServiceClient, ServiceUnreachableError


def test_opening_over_an_existing_state_file_names_the_path_once(tmp_path):
    existing = tmp_path / "state.json"
    existing.write_text("{}")
    with pytest.raises(statefile.StateFileExistsError) as refused:
        TraderAccount.open(existing, "http://127.0.0.1:9")
    message = str(refused.value)
    assert message.count(str(existing)) == 1
    assert message.startswith(f"a state file already exists at {existing}")


def test_a_transport_error_without_a_message_is_named_by_its_kind():
    def fail(request):
        raise httpx.ConnectError("")

    client = ServiceClient("http://127.0.0.1:9", transport=httpx.MockTransport(fail))
    expected = r"cannot reach the service at http://127\.0\.0\.1:9: ConnectError$"
    with pytest.raises(ServiceUnreachableError, match=expected):
        client.config()


def _trader_behind(tmp_path, guardians_answer):
    """A TraderAccount (a genesis wallet) whose service answers GET /guardians with ``guardians_answer``."""
    from circuits.state import AccountState
    from prover.trader.wallet import Wallet

    def answer(request):
        if request.url.path == "/config":  # the margin statement depends on the mode: a flat service
            from tests.prover.test_trader_portfolio import config_json
            return httpx.Response(200, json=config_json("flat"))
        assert request.url.path == "/guardians"
        status, body = guardians_answer
        return httpx.Response(status, json=body)

    wallet = Wallet(service="http://127.0.0.1:9", curve="bls12381", markets=2, account_id=1, account_token="t",
                    delivery_key="00" * 32, state=AccountState.genesis(1, 2, salt=5))
    client = ServiceClient("http://127.0.0.1:9", transport=httpx.MockTransport(answer))
    return TraderAccount(tmp_path / "state.json", wallet, None, client)


def test_without_guardians_the_trader_proves_the_plain_statements(tmp_path):
    trader = _trader_behind(tmp_path, (404, {"code": "not_found", "detail": "no guardian set"}))
    assert trader.escrow_key() is None
    assert not trader.circuit("transfer").escrow and not trader.keys.escrow


def test_a_guardian_set_on_the_other_embedded_curve_is_named(tmp_path):
    from prover.trader.account import TraderError
    from tests.threshold.helpers import run_dkg
    from zkmargin.edwards import BABY_JUBJUB, JUBJUB
    from zkmargin.threshold.guardians import guardian_set_to_json

    other = guardian_set_to_json(run_dkg(BABY_JUBJUB, 2, 3, seed=4).transcript.guardian_set())
    with pytest.raises(TraderError, match="is on babyjubjub, but escrows of bls12381 proofs are on jubjub"):
        _trader_behind(tmp_path, (200, other)).escrow_key()
    good = run_dkg(JUBJUB, 2, 3, seed=4).transcript.guardian_set()
    tampered = guardian_set_to_json(good)
    tampered["verification_keys"][2] = tampered["verification_keys"][0]
    with pytest.raises(TraderError, match="not on the polynomial .* no escrow can be sealed to it"):
        _trader_behind(tmp_path, (200, tampered)).escrow_key()
    trader = _trader_behind(tmp_path, (200, guardian_set_to_json(good)))
    assert trader.escrow_key() == good.group_key
    assert trader.circuit("settle").key_name() == "settle-markets2-escrow" and trader.keys.escrow
    assert not hasattr(trader.circuit("margin"), "escrow")  # margin moves no state
