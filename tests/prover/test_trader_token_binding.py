"""The account token goes only to the service the account was opened at (the URL in the state
file); plain http:// to another machine is refused unless ``--insecure``; a different
``--service`` gets a warning and no token."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from prover import statefile
from prover.trader.client import InsecureServiceError, ServiceClient, ServiceError, same_service
from tests.prover.test_trader_cli import service  # noqa: F401  (the fixture: a real service and the CLI)

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


class RecordingServer:
    """An HTTP server on 127.0.0.1 that records every request's headers and answers 404."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        recorded = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recorded.append({"path": self.path, "body": self.rfile.read(length).decode(errors="replace"),
                                 **{k.lower(): v for k, v in self.headers.items()}})
                body = b'{"detail": "nothing here", "code": "not_found"}'
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    server = RecordingServer()
    yield server
    server.close()


def test_the_token_is_sent_only_to_the_service_in_the_state_file(service, recorder, tmp_path):  # noqa: F811
    api, cli, url = service
    state = tmp_path / "t.json"
    cli.open(state)
    token = statefile.load(state)["account_token"]
    assert statefile.load(state)["service"] == url

    elsewhere = cli.run("status", "--service", recorder.url, state=state, expect=1)
    assert "warning:" in elsewhere.stderr and f"opened at ({url})" in elsewhere.stderr
    assert "the account token is sent only there" in elsewhere.stderr
    assert recorder.requests, "the command should have talked to the --service it was given"
    for request in recorder.requests:
        assert "authorization" not in request and token not in str(request), request

    # at the stored service the same file works as before (the token is sent there)
    assert cli.json("status", state=state)["in_sync"]
    # the same service spelled with a trailing slash is the same service: no warning
    same = cli.run("status", "--service", url + "/", state=state)
    assert "warning" not in same.stderr


def test_plain_http_to_another_machine_is_refused_unless_insecure(service, tmp_path):  # noqa: F811
    _, cli, _ = service
    state = tmp_path / "t.json"
    refused = cli.run("account", "new", "--service", "http://verifier.example.com:8000", state=state, expect=2)
    assert "refusing plain http:// to verifier.example.com" in refused.stderr and "--insecure" in refused.stderr
    assert not state.exists()


def test_the_service_client_binds_the_token(backend):
    seen: list[tuple[str, str | None]] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("authorization")))
        return httpx.Response(200, json={})

    transport = httpx.MockTransport(record)
    bound = ServiceClient("https://svc.example:443/api/", "tok", token_service="https://svc.example/api",
                          transport=transport)
    assert not bound.token_withheld
    bound.get("/accounts/1")
    bound._http.get("https://other.example/api/accounts/1")  # an absolute URL elsewhere: no token
    bound._http.get("https://svc.example/apiary")  # not under the service's path
    assert seen == [("https://svc.example/api/accounts/1", "Bearer tok"),
                    ("https://other.example/api/accounts/1", None), ("https://svc.example/apiary", None)]

    seen.clear()
    for other in ("https://other.example/api", "http://svc.example/api", "https://svc.example:8443/api",
                  "https://svc.example/"):
        client = ServiceClient(other, "tok", token_service="https://svc.example/api", transport=transport,
                               insecure=True)
        assert client.token_withheld
        client.get("/config")
    assert seen and all(header is None for _, header in seen)

    # plain http: this machine only, unless insecure; other schemes never
    for local in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000", "http://127.1.2.3"):
        ServiceClient(local)
    for remote in ("http://10.0.0.1:8000", "http://verifier.example.com"):
        with pytest.raises(InsecureServiceError, match="--insecure"):
            ServiceClient(remote)
        ServiceClient(remote, insecure=True)
    for nonsense in ("ftp://svc.example", "svc.example:8000", ""):
        with pytest.raises(ServiceError, match="not a service URL"):
            ServiceClient(nonsense)
    assert same_service("https://svc.example", "https://SVC.example:443/")
    assert not same_service("https://svc.example", "https://svc.example/v2")
