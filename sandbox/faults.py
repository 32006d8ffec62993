"""Injected failures: which request gets one, and how a dropped connection is produced.

Kinds: `500`/`502`/`503` (HCP's error body), `slow` (held for `slow_seconds`, past a client's
timeout), `drop` (the TCP connection is aborted with no response, so an httpx client sees a
`RemoteProtocolError`), and `lost` (only `POST /customers`: the customer IS created, then the
connection drops - the "created but response lost" case the push must reconcile). The dice are
seeded (`fault_seed`) so a run's fault sequence is reproducible; tests can also queue exact
faults for the next matching requests through the admin API.
"""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass
from typing import Any

from sandbox.settings import FAULT_KINDS, SandboxSettings

CREATE_CUSTOMER = ("POST", "/customers")
# Writes whose answer a random `lost` fault may swallow after HCP applied them: the customer
# create (the lead push), and the object push's creates and updates. POST /lead_sources is left
# out of the random dice so the lead push's fault runs keep their sequence (queue one to test it).
LOSABLE_PREFIXES = ("/tags", "/job_fields/job_types", "/api/price_book/", "/leads", "/customers/")


def loses_answers(method: str, path: str) -> bool:
    """True for a write the random `lost` fault may hit (see `LOSABLE_PREFIXES`)."""
    if (method, path) == CREATE_CUSTOMER:
        return True
    return method in ("POST", "PUT") and path.startswith(LOSABLE_PREFIXES)


class ConnectionDropped(RuntimeError):
    """Raised when the server cannot reach its transport to abort (non-uvicorn servers)."""


@dataclass
class QueuedFault:
    kind: str
    remaining: int
    method: str | None = None
    path: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or self.path == path
        )


class FaultPlan:
    """Decides, per API request, whether and which fault to inject."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(f"faults|{seed}")
            self._queue: list[QueuedFault] = []

    def enqueue(
        self, kind: str, count: int = 1, method: str | None = None, path: str | None = None
    ) -> QueuedFault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose from {list(FAULT_KINDS)}")
        if kind == "lost" and path is None:
            method, path = CREATE_CUSTOMER
        fault = QueuedFault(kind, max(1, int(count)), method.upper() if method else None, path)
        with self._lock:
            self._queue.append(fault)
        return fault

    def queued(self) -> list[dict[str, Any]]:
        with self._lock:
            return [vars(f).copy() for f in self._queue]

    def pick(self, method: str, path: str, settings: SandboxSettings) -> str | None:
        losable = loses_answers(method, path)
        with self._lock:
            for fault in self._queue:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._queue.remove(fault)
                    return fault.kind
            if settings.fault_rate <= 0:
                return None
            # one roll per request whatever the outcome, so the sequence depends only on order
            roll, choice = self._rng.random(), self._rng.random()
        if roll >= settings.fault_rate:
            return None
        kinds = [k for k in settings.faults if k != "lost" or losable]
        if not kinds:
            return None
        return kinds[int(choice * len(kinds))]


async def drop_connection(send: Any) -> None:
    """Abort the client's TCP connection without a response.

    uvicorn hands the app its per-request cycle's bound `send`; the cycle owns the transport.
    Aborting it (not a graceful close) is what a crashed proxy or a network cut looks like.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionDropped("sandbox fault: connection dropped")
    transport.abort()
    cycle.disconnected = True  # uvicorn must not try to write a 500 on the dead socket
    await asyncio.sleep(0)


async def hold(seconds: float, receive: Any) -> list[dict[str, Any]]:
    """Sleep `seconds` (the `slow` fault) but stop early if the client goes away.

    Reads the request body first and returns its messages so the app can still be served.
    """
    messages: list[dict[str, Any]] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body"):
            break
    if messages[-1]["type"] == "http.disconnect":
        return messages
    sleeper = asyncio.ensure_future(asyncio.sleep(seconds))
    watcher = asyncio.ensure_future(receive())
    done, pending = await asyncio.wait({sleeper, watcher}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    if watcher in done:
        messages.append(watcher.result())
    return messages
