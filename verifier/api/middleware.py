"""ASGI middleware: request size limit, JSON nesting limit, duplicate keys, access log and
request metrics.

The body is read here (at most ``max_request_bytes``) before any route sees it: a larger body
is answered 413 without reading the rest, and a JSON body nested deeper than ``MAX_JSON_DEPTH``
is answered 400 — Python's JSON parser recurses per level, and with py_ecc's raised recursion
limit a deeply nested body could crash the process instead of raising. A JSON body that gives
a key twice in one object is answered 400 naming the key, on every route: parsers disagree on
which value wins (Python's takes the last), so two readers of one request could act on two
different documents.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from verifier.services.metrics import Metrics
from zkmargin.formats.snarkjs import reject_duplicate_keys

MAX_JSON_DEPTH = 32
log = logging.getLogger("zkmargin.verifier.access")


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than ``limit`` (a linear scan)."""
    if body.count(b"[") + body.count(b"{") <= limit:  # cannot nest deeper than it has brackets
        return False
    depth, in_string, escaped = 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


_UNIQUE_KEYS = reject_duplicate_keys(_DuplicateKey)


def duplicate_json_key(body: bytes) -> str | None:
    """The first key given twice in one object of the JSON ``body``, or None (also when the body is
    not valid JSON at all: the route's own parser reports that)."""
    if body.count(b":") < 2:  # no object with two keys
        return None
    try:
        json.loads(body, object_pairs_hook=_UNIQUE_KEYS)
    except _DuplicateKey as exc:
        return exc.key
    except (ValueError, RecursionError):
        return None
    return None


def _declares_json(scope: Scope) -> bool:
    """Whether the route would read the body as JSON: no content type, or a JSON one."""
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return b"json" in value.lower()
    return True


async def _send_json(send: Send, status: int, document: dict[str, Any]) -> None:
    body = json.dumps(document).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """Size and nesting limits, then the access log line and the request metrics."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, metrics: Metrics):
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        try:
            body = await self._read_body(scope, receive, send_wrapper)
            if body is None:
                return
            delivered = False

            async def replay() -> Message:
                nonlocal delivered
                if not delivered:
                    delivered = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send_wrapper)
        finally:
            self._record(scope, status_holder["status"], time.perf_counter() - started)

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_json(send, 400, {"detail": "invalid Content-Length header", "code": "bad_request"})
                    return None
                if declared > self.max_bytes:
                    await self._too_large(send)
                    return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and json_depth_exceeds(body, MAX_JSON_DEPTH):
            await _send_json(send, 400, {"detail": f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels",
                                         "code": "malformed_input"})
            return None
        if body and _declares_json(scope):
            key = duplicate_json_key(body)
            if key is not None:
                shown = key if len(key) <= 64 else key[:64] + "..."
                await _send_json(send, 400, {"detail": f"the JSON body gives the key {shown!r} more than once in one "
                                                       "object", "code": "malformed_input"})
                return None
        return body

    async def _too_large(self, send: Send) -> None:
        await _send_json(send, 413, {"detail": f"the request body exceeds {self.max_bytes} bytes",
                                     "code": "request_too_large"})

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        self.metrics.requests.labels(method, template, str(status)).inc()
        self.metrics.latency.labels(method, template).observe(seconds)
        log.info("%s %s %s", method, scope.get("path", ""), status,
                 extra={"event": "request", "method": method, "path": scope.get("path", ""), "route": template,
                        "status": status, "duration_ms": round(seconds * 1000, 2)})
