"""Opening accounts: ids never collide under concurrency (any worker, either database), and
opening is rate-limited per client address."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from circuits.protocol.fill_delivery import generate_key_pair
from circuits.state import AccountState, fresh_salt
from verifier.services.errors import RateLimitedError
from verifier.services.ratelimit import AddressRateLimiter, address_key

N = 24


def opening_body() -> tuple[int, dict]:
    salt = fresh_salt("bls12381")
    return salt, {"genesis_salt": str(salt), "encryption_public_key": generate_key_pair().public_hex}


def test_concurrent_account_openings_get_distinct_ids(start_server):
    """Two worker processes, 24 openings at once, each on a connection of its own."""
    server, api = start_server(workers=2)
    bodies = [opening_body() for _ in range(N)]

    def open_one(salt_and_body):
        with httpx.Client(base_url=server.url, timeout=60) as client:
            return client.post("/accounts", json=salt_and_body[1])

    with ThreadPoolExecutor(N) as pool:
        responses = list(pool.map(open_one, bodies))
    assert [r.status_code for r in responses] == [201] * N, [r.text for r in responses if r.status_code != 201]
    opened = [r.json() for r in responses]
    assert sorted(o["account_id"] for o in opened) == list(range(1, N + 1))
    for (salt, _), answer in zip(bodies, opened, strict=True):  # each genesis is the one for its own id
        genesis = AccountState.genesis(answer["account_id"], 2, salt=salt)
        assert int(answer["genesis_commitment"]) == genesis.commitment("bls12381")
        view = api.expect(api.client.get(f"/accounts/{answer['account_id']}",
                                         headers={"Authorization": f"Bearer {answer['account_token']}"}), 200)
        assert view["sequence"] == 0


@pytest.fixture
def limited_app(api_settings):
    """The service with at most 3 account openings per address and minute."""
    from fastapi.testclient import TestClient

    from verifier.main import create_app

    app = create_app(api_settings.model_copy(update={"account_openings_per_minute": 3}))
    with TestClient(app, client=("203.0.113.7", 40000)) as client:
        yield app, client


def test_account_opening_is_rate_limited_per_client_address(limited_app):
    from fastapi.testclient import TestClient

    app, first_address = limited_app
    ids = [first_address.post("/accounts", json=opening_body()[1]).json()["account_id"] for _ in range(3)]
    assert ids == [1, 2, 3]

    refused = first_address.post("/accounts", json=opening_body()[1])
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == "rate_limited" and "account openings" in refused.json()["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60

    # another address is not affected, and the refused request used no id
    other_address = TestClient(app, client=("198.51.100.9", 40000))
    assert other_address.post("/accounts", json=opening_body()[1]).json()["account_id"] == 4
    # the same IPv6 /64 is one client; another /64 is another
    v6_a = TestClient(app, client=("2001:db8:1:2::1", 40000))
    v6_b = TestClient(app, client=("2001:db8:1:2:ffff::2", 40000))
    v6_c = TestClient(app, client=("2001:db8:1:3::1", 40000))
    assert [v6_a.post("/accounts", json=opening_body()[1]).status_code for _ in range(3)] == [201] * 3
    assert v6_b.post("/accounts", json=opening_body()[1]).status_code == 429
    assert v6_c.post("/accounts", json=opening_body()[1]).status_code == 201


def test_account_opening_limit_zero_means_unlimited(api_settings):
    from fastapi.testclient import TestClient

    from verifier.main import create_app

    app = create_app(api_settings.model_copy(update={"account_openings_per_minute": 0}))
    with TestClient(app) as client:
        assert [client.post("/accounts", json=opening_body()[1]).status_code for _ in range(8)] == [201] * 8


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("backend", ["sqlite"])  # no database involved
def test_the_limit_allows_a_burst_then_one_more_per_interval(backend):
    clock = FakeClock()
    limiter = AddressRateLimiter(6, 60.0, clock=clock)
    for _ in range(6):
        limiter.check("192.0.2.1")
    with pytest.raises(RateLimitedError) as refused:
        limiter.check("192.0.2.1")
    assert refused.value.retry_after == 10  # one more every 60/6 s
    clock.now += 9.5
    with pytest.raises(RateLimitedError):  # refusals do not count, but the time has not come yet
        limiter.check("192.0.2.1")
    clock.now += 0.5
    limiter.check("192.0.2.1")
    with pytest.raises(RateLimitedError):
        limiter.check("192.0.2.1")
    clock.now += 60
    for _ in range(6):  # a full burst again after a quiet window
        limiter.check("192.0.2.1")


@pytest.mark.parametrize("backend", ["sqlite"])  # no database involved
def test_the_limiter_table_stays_bounded(backend):
    clock = FakeClock()
    limiter = AddressRateLimiter(1, 60.0, max_addresses=100, clock=clock)
    for i in range(1000):
        limiter.check(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._arrivals) <= 100
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1" and address_key(None) == "unknown"
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff") == "2001:db8::/64"


@pytest.mark.parametrize("backend", ["sqlite"])  # no database involved
def test_the_limit_is_configured_by_environment(backend, monkeypatch):
    from pydantic import ValidationError

    from verifier.core.config import Settings

    monkeypatch.delenv("ZKMARGIN_ACCOUNT_OPENINGS_PER_MINUTE", raising=False)
    assert Settings().account_openings_per_minute == 60
    monkeypatch.setenv("ZKMARGIN_ACCOUNT_OPENINGS_PER_MINUTE", "5")
    assert Settings().account_openings_per_minute == 5
    monkeypatch.setenv("ZKMARGIN_ACCOUNT_OPENINGS_PER_MINUTE", "-1")
    with pytest.raises(ValidationError):
        Settings()
