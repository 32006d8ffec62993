"""The sandbox as HCP's webhook sender: each write becomes a signed event POSTed to one URL.

HCP_API.md §7: one event per POST, `{"event", "event_occurred_at", "company_id", <key>: record}`
with the record in its GET shape under the event's first segment (`appointment` for
`job.appointment.*`), `Api-Timestamp` + `Api-Signature` = hex HMAC-SHA256(secret,
"<timestamp>.<body>"), and an unsigned `{"foo":"bar"}` probe when the URL is set. Only the
events §7 lists are sent (tags and lead sources have none). Changes reach `SandboxWebhooks`
as store observers, so API writes and admin edits both send.

The sender is one background thread behind a bounded queue: a write never waits for the
receiver; a full queue drops the event and counts it. Retries are ASSUMED (HCP does not document
them): non-2xx or no answer is retried `webhook_max_attempts` times, waiting `webhook_backoff_s`
doubled each time, re-signed with a fresh timestamp.

The signature is computed here, not imported from `pipelines.webhooks`: the sandbox imitates
HCP, and a receiver checked against its own code would agree with any wrong formula.
Must never: send to a host that is not loopback (`check_loopback_url`), log the secret, or
block an API request on delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from sandbox.clock import iso
from sandbox.hcp_routes import shape
from sandbox.seed import Record
from sandbox.settings import SandboxSettings, check_loopback_url
from sandbox.store import Store

log = logging.getLogger("sandbox.webhooks")

QUEUE_SIZE = 1000
MAX_BACKOFF_S = 30.0
PROBE = b'{"foo":"bar"}'

EVENTS: dict[str, tuple[str, dict[str, str]]] = {
    # store object -> (record key, {store action: event suffix}), only what §7 lists
    "customers": ("customer", {"add": "created", "update": "updated", "delete": "deleted"}),
    "jobs": ("job", {"add": "created", "update": "updated", "delete": "deleted"}),
    "leads": ("lead", {"add": "created", "update": "updated", "delete": "deleted"}),
    "estimates": ("estimate", {"add": "created", "update": "updated"}),
    "invoices": ("invoice", {"add": "created"}),
    "employees": ("employee", {"add": "created"}),  # the UI's `pro.created` (HCP_API.md §7)
}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HCP's `Api-Signature` of one delivery."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _appointments(job: Record | None) -> dict[str, Record]:
    sched = (job or {}).get("schedule") or {}
    return {
        a["id"]: a for a in sched.get("appointments") or [] if isinstance(a, dict) and "id" in a
    }


def appointment_events(old: Record | None, new: Record | None) -> list[tuple[str, Record]]:
    """`job.appointment.*` events for a job change: scheduled, rescheduled, discarded."""
    before, after = _appointments(old), _appointments(new)
    job_id = (new or old or {}).get("id")
    out: list[tuple[str, Record]] = []
    for aid, appt in after.items():
        if aid not in before:
            out.append(("job.appointment.scheduled", {**appt, "job_id": job_id}))
        elif appt.get("start_time") != before[aid].get("start_time"):
            out.append(("job.appointment.rescheduled", {**appt, "job_id": job_id}))
    for aid, appt in before.items():
        if aid not in after:
            out.append(("job.appointment.appointment_discarded", {**appt, "job_id": job_id}))
    return out


class WebhookSender:
    """One URL's deliveries: a bounded queue and the thread that POSTs, signs and retries."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
        wait: Callable[[float], object] | None = None,
    ) -> None:
        self.url = check_loopback_url(url)
        self._secret = secret
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._clock = clock
        self._stop = threading.Event()
        self._wait = wait or self._stop.wait
        self._queue: queue.Queue[bytes | None] = queue.Queue(QUEUE_SIZE)
        self._http = httpx.Client(timeout=5.0, transport=transport)
        self.stats = {"sent": 0, "failed": 0, "dropped": 0, "attempts": 0, "probe": "pending"}
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)

    def start(self) -> WebhookSender:
        self._thread.start()
        return self

    def emit(self, body: bytes) -> bool:
        """Queue one event body; False (and counted) when the queue is full or stopped."""
        if self._stop.is_set():
            self.stats["dropped"] += 1
            return False
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            self.stats["dropped"] += 1
            log.warning("webhook queue full (%d): event dropped", QUEUE_SIZE)
            return False
        return True

    def wait_idle(self, timeout: float) -> bool:
        """Block until every queued event was delivered or given up; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0 or not self._queue.all_tasks_done.wait(left):
                    return False
        return True

    def stop(self) -> None:
        """Stop the thread; events still queued are dropped (and counted)."""
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
            self._queue.task_done()
            self.stats["dropped"] += 1
        self._queue.put(None)  # wakes the thread; emit() refuses now, so there is room
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._http.close()

    def _run(self) -> None:
        ok = self._deliver(PROBE, signed=False)
        self.stats["probe"] = "ok" if ok else "failed"
        while not self._stop.is_set():
            body = self._queue.get()
            try:
                if body is None:
                    return
                if self._deliver(body, signed=True):
                    self.stats["sent"] += 1
                else:
                    self.stats["failed"] += 1
            finally:
                self._queue.task_done()

    def _deliver(self, body: bytes, *, signed: bool) -> bool:
        for attempt in range(1, self._max_attempts + 1):
            if self._stop.is_set():
                return False
            headers = {"Content-Type": "application/json"}
            if signed:
                ts = str(int(self._clock()))
                headers |= {"Api-Timestamp": ts, "Api-Signature": sign(self._secret, ts, body)}
            self.stats["attempts"] += 1
            try:
                status = self._http.post(self.url, content=body, headers=headers).status_code
            except httpx.TransportError as exc:
                outcome = f"no answer ({type(exc).__name__})"
            else:
                if 200 <= status < 300:
                    return True
                outcome = f"HTTP {status}"
            if attempt < self._max_attempts:
                delay = min(self._backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S)
                log.info("webhook try %d: %s; retrying in %.1f s", attempt, outcome, delay)
                self._wait(delay)
            else:
                log.warning("webhook given up after %d tries: %s", attempt, outcome)
        return False


class SandboxWebhooks:
    """Turns store changes into HCP events for the configured sender (none when no URL)."""

    def __init__(self, store: Store, **sender_options: Any) -> None:
        self._store = store
        self._sender_options = sender_options
        self.sender: WebhookSender | None = None
        self._target: tuple[str, str] | None = None
        store.observers.append(self.on_change)

    def configure(self, settings: SandboxSettings) -> None:
        """(Re)start the sender when the URL or the secret changed; stop it when unset."""
        target = (settings.webhook_url, settings.webhook_secret) if settings.webhook_url else None
        if target == self._target:
            return
        self.close()
        self._target = target
        if target is not None:
            self.sender = WebhookSender(
                target[0],
                target[1],
                max_attempts=settings.webhook_max_attempts,
                backoff_s=settings.webhook_backoff_s,
                clock=settings.clock,
                **self._sender_options,
            ).start()

    def close(self) -> None:
        if self.sender is not None:
            self.sender.stop()
            self.sender = None

    def on_change(self, obj: str, action: str, old: Record | None, new: Record | None) -> None:
        sender = self.sender
        if sender is None or obj not in EVENTS:
            return
        key, names = EVENTS[obj]
        events: list[tuple[str, str, Record]] = []
        if action in names and (new or old) is not None:
            events.append((f"{key}.{names[action]}", key, shape(obj, new or old or {}, set())))
        if obj == "jobs":
            events += [(name, "appointment", a) for name, a in appointment_events(old, new)]
        for name, record_key, record in events:
            envelope = {
                "event": name,
                "event_occurred_at": iso(self._store.clock.now()),
                "company_id": self._store.company.get("id"),
                record_key: record,
            }
            sender.emit(json.dumps(envelope, separators=(",", ":")).encode())
