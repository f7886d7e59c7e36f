"""Every route declares its response: OpenAPI shows a 2xx schema for each, the JSON models come
from ``circuits.protocol.api``, and the trader's client parses answers into those models."""

from __future__ import annotations

import httpx
import pytest

from circuits.protocol import api as protocol
from prover.trader.client import ServiceClient, ServiceError

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])  # the schema and the parsing do not depend on it

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def _schema_of(response: dict) -> dict | None:
    """The schema of a documented response's first content type, if it has one."""
    for media in (response.get("content") or {}).values():
        schema = media.get("schema")
        if schema:
            return schema
    return None


def _operations_without_a_success_schema(openapi: dict) -> list[str]:
    missing = []
    for path, item in openapi["paths"].items():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            successes = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
            if not successes or any(_schema_of(r) is None for r in successes.values()):
                missing.append(f"{method.upper()} {path}")
    return missing


def _referenced_model(schema: dict) -> str | None:
    """The component a JSON response schema names (directly or as the items of a list)."""
    target = schema.get("items", schema)
    ref = target.get("$ref", "")
    return ref.rsplit("/", 1)[-1] or None


@SQLITE_ONLY
def test_every_route_has_a_success_schema(api):
    openapi = api.client.app.openapi()
    assert len(openapi["paths"]) > 20
    assert _operations_without_a_success_schema(openapi) == []


@SQLITE_ONLY
def test_the_walk_fails_on_a_route_without_a_schema(api):
    openapi = api.client.app.openapi()
    openapi["paths"]["/markets"]["get"]["responses"]["200"] = {"description": "Successful Response"}
    assert _operations_without_a_success_schema(openapi) == ["GET /markets"]


@SQLITE_ONLY
def test_json_responses_are_the_protocol_models(api):
    openapi = api.client.app.openapi()
    components = openapi["components"]["schemas"]
    named = set()
    for item in openapi["paths"].values():
        for method in HTTP_METHODS:
            for code, response in (item.get(method) or {}).get("responses", {}).items():
                schema = (response.get("content") or {}).get("application/json", {}).get("schema")
                if code.startswith("2") and schema is not None:
                    model = _referenced_model(schema)
                    assert model is not None, (method, schema)
                    named.add(model)
    assert named <= set(components)
    for model in named:
        assert isinstance(getattr(protocol, model), type), f"{model} is not defined in circuits.protocol.api"
    assert {"AccountView", "Epoch", "EpochChange", "SettledEpoch", "Attestation", "Payout"} <= named


@SQLITE_ONLY
def test_the_guard_compares_shaped_responses_with_the_route_values(api, wire_unchanged_by_response_models):
    """The fixture that keeps the wire unchanged is active for the API tests (it fails on a change)."""
    api.open_epoch([100, 200])
    api.client.get("/markets")
    assert len(wire_unchanged_by_response_models) >= 2


def _client_for(api, token: str | None = None) -> ServiceClient:
    # the in-process app behind the client's own HTTP stack (http://testserver is not loopback)
    return ServiceClient("http://testserver", token, transport=api.client._transport, insecure=True)


@SQLITE_ONLY
def test_the_trader_client_parses_typed_answers(api):
    epoch_id = api.open_epoch([100, 200])["epoch_id"]
    trader = api.trader().open()
    api.credit(trader.account_id, 1_000, "bank-typed")
    api.post_fill(trader, market=0, size_delta=2, price=100, fee=1)
    with _client_for(api, trader.token) as client:
        config = client.config()
        assert isinstance(config, protocol.ServiceConfig) and config.curve == api.settings.curve
        assert [m.market for m in client.markets()] == [0, 1]
        assert client.verification_key("margin").nPublic == config.statements["margin"].public_inputs
        epoch = client.current_epoch()
        assert isinstance(epoch, protocol.Epoch) and epoch.epoch_id == epoch_id and epoch.status == "open"
        assert epoch.mark_prices is not None and len(epoch.mark_prices) == 2
        assert [e.epoch_id for e in client.epochs()] == [epoch_id]
        view = client.account(trader.account_id)
        assert isinstance(view, protocol.AccountView)
        assert [d.amount for d in view.pending_deposits] == ["1000"] and view.balances.deposits == "1000"
        (fill,) = client.fills(trader.account_id)
        assert isinstance(fill, protocol.SealedFill) and fill.ciphertext and fill.epoch_id == epoch_id
        health = client.health(trader.account_id, epoch_id)
        assert isinstance(health, protocol.Health) and health.account_id == trader.account_id
    with _client_for(api) as client:
        opened = client.open_account(1234, trader.keypair.public_hex)
        assert isinstance(opened, protocol.OpenedAccount) and opened.account_token


def test_an_answer_that_is_not_the_model_is_a_service_error():
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"epoch_id": "not a number"}))
    with ServiceClient("http://127.0.0.1:9", transport=transport) as client:
        with pytest.raises(ServiceError, match="unreadable Epoch"):
            client.current_epoch()
        with pytest.raises(ServiceError, match="unreadable list of Market"):
            client.markets()
