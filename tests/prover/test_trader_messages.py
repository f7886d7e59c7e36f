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
