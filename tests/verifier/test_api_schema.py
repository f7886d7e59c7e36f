"""Property-based requests generated from the OpenAPI schema (schemathesis): valid and invalid
bodies, parameters and headers for every operation; none may produce a 5xx, on SQLite or PostgreSQL."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

EXAMPLES_PER_OPERATION = 15


def check_operation(operation, who: str, headers: dict, failures: list[tuple]) -> int:
    """Send the operation's generated cases as ``who``; a 5xx is appended to ``failures``, a 4xx must carry
    the error body. Returns how many cases were sent."""
    sent = 0

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
           | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    def run(case):
        nonlocal sent
        case.headers = {**(case.headers or {}), **headers}
        response = case.call()
        sent += 1
        if response.status_code >= 500:
            failures.append((operation.label, who, response.status_code, response.text[:300],
                             case.as_curl_command()))
        elif response.status_code >= 400:
            body = response.json()
            assert isinstance(body.get("detail"), str) and body.get("code"), (operation.label, body)

    run()
    return sent


def test_no_operation_answers_5xx(api):
    app = api.client.app
    epoch_id = api.open_epoch([100, 200])["epoch_id"]
    trader = api.trader().open()
    api.credit(trader.account_id, 1_000, "bank-s")
    config = schemathesis.Config.from_dict({"generation": {"mode": "all"}})
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    failures: list[tuple] = []
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for who, headers in (("operator", api.operator), ("venue", api.venue), ("trader", trader.auth)):
            checked += check_operation(operation, who, headers, failures)
    assert checked > 100
    assert failures == [], failures[:5]
    assert api.expect(api.client.get("/ledger/verify", headers=api.operator), 200)["ok"]
    assert epoch_id >= 1
