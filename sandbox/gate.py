"""The layer in front of every HCP route: counting, auth, rate limit, latency, faults, 403s.

A plain ASGI middleware (not Starlette's BaseHTTPMiddleware) because a `drop` fault needs the
server's own `send` to reach the TCP transport. `/_sandbox/*` (admin) passes straight through:
never authenticated, limited, delayed or faulted.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from sandbox.auth import denied, key_from_header, role_of
from sandbox.counters import route_of
from sandbox.faults import drop_connection, hold
from sandbox.state import SandboxState

ADMIN_PREFIX = "/_sandbox"

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_ERROR_PAGES = {
    # ASSUMED: 502/503 come from HCP's edge (load balancer), so the body is HTML, not JSON
    502: b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
    503: b"<html><head><title>503 Service Temporarily Unavailable</title></head><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
}


async def send_json(
    send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _send_fault(send: Send, status: int) -> None:
    if status in _ERROR_PAGES:
        page = _ERROR_PAGES[status]
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/html"),
                    (b"content-length", str(len(page)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": page})
    else:
        await send_json(send, status, {"error": {"message": "Internal server error"}})


def _replay(messages: list[Message], receive: Receive) -> Receive:
    queue = list(messages)

    async def replayed() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replayed


class HcpGate:
    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        st = self.state
        settings = st.settings
        method, path = scope["method"], scope["path"]
        st.counters.request(route_of(method, path))

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                st.counters.status(message["status"])
            await send(message)

        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        key = key_from_header(headers.get("authorization"))
        role = role_of(key, settings)
        if role is None or key is None:
            # the body HCP sends live (HCP_API.md §2 Errors: 401 GET /pipeline/statuses)
            await send_json(counted, 401, {"message": "Unauthorized"})
            return
        verdict = st.limiter.check(
            key, settings.rate_limit, settings.rate_limit_window_s, settings.clock
        )
        if verdict is not None and not verdict.allowed:
            st.counters.limited()
            await send_json(
                counted,
                429,
                # the body live HCP sends (issue 20: clients run against live accounts)
                {"error": "Too many requests"},
                [
                    (b"retry-after", str(verdict.retry_after).encode()),
                    (b"ratelimit-reset", str(verdict.reset_epoch).encode()),
                    (b"ratelimit-limit", str(verdict.limit).encode()),
                    (b"ratelimit-remaining", b"0"),
                ],
            )
            return
        if settings.latency_ms > 0:
            await asyncio.sleep(settings.latency_ms / 1000.0)
        kind = st.faults.pick(method, path, settings)
        if kind is not None:
            st.counters.fault(kind)
        if kind in ("500", "502", "503"):
            await _send_fault(counted, int(kind))
            return
        if kind == "drop":
            await drop_connection(send)
            return
        if kind == "slow":
            messages = await hold(settings.slow_seconds, receive)
            if messages[-1]["type"] == "http.disconnect":
                return
            receive = _replay(messages, receive)
        if denied(role, method, path, settings):
            await send_json(counted, 403, {"error": {"message": "Permission denied"}})
            return
        scope.setdefault("state", {})["hcp_role"] = role
        if kind == "lost":

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
            await drop_connection(send)
            return
        await self.app(scope, receive, counted)
