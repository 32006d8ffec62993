"""The webhook drill and burst: `hcp webhooks serve` in its own process on loopback, signed events.

- `drill_webhooks(cfg)` (the drill's `webhooks`): a sender thread POSTs N signed
  `customer.updated` events (quick: 300, full: 1,000), retrying on no answer or a non-2xx as HCP
  would; the receiver is SIGKILLed mid-burst (quick: once, full: twice) and restarted on the same
  port; then one drain into a fresh DuckDB file -> every body that got a 2xx is in
  `hcp.webhook_events` exactly once, applied, and its customer is in `hcp.customers` exactly
  once with the event's values.
- `burst(url, secret, bodies, threads)`: the sender, shared with `python -m benchmarks` (events
  acknowledged per second and the per-POST latency, no kills).

Events are signed with the sandbox's formula (`sandbox.webhooks.sign`, our HCP imitation), not
the receiver's own. The secret is generated per run and never printed or written to a report.
Every wait is bounded: a receiver that does not start, a sender that gives up on an event and a
drain that overruns are failures, not hangs.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.drill_common import Config, Drill, query
from sandbox.webhooks import sign

START_TIMEOUT_S = 20.0
EVENT_GIVE_UP_S = 20.0
"""How long the sender keeps retrying one event (a restart takes a few seconds)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_receiver(port: int, spool: Path, secret: str, log: Path) -> subprocess.Popen[bytes]:
    """`python -m pipelines.cli webhooks serve` on 127.0.0.1:`port`; returns once /healthz is 200."""
    from benchmarks.common import ROOT, child_env

    env = child_env(SOURCES__HOUSECALLPRO__WEBHOOK_SECRET=secret)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "webhooks", "serve", "--host", "127.0.0.1"]
            + ["--port", str(port), "--spool", str(spool)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(timeout=1.0) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"receiver exited with {proc.returncode} (log: {log})")
            try:
                if http.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    return proc
            except httpx.TransportError:
                time.sleep(0.05)
    proc.kill()
    proc.wait(5)
    raise RuntimeError(f"receiver did not answer /healthz within {START_TIMEOUT_S:g} s")


def customer_events(n: int, run: str) -> list[bytes]:
    """`n` distinct `customer.updated` bodies, one customer each (ids `cus_<run>_<i>`)."""
    out = []
    for i in range(n):
        record = {
            "id": f"cus_{run}_{i:05d}",
            "first_name": f"Drill{i}",
            "last_name": "Webhook",
            "email": f"drill{i}@example.test",
            "updated_at": f"2026-04-02T15:{i // 60 % 60:02d}:{i % 60:02d}Z",
        }
        envelope = {
            "event": "customer.updated",
            "event_occurred_at": record["updated_at"],
            "company_id": "c0ffee00-0000-4000-8000-000000000000",
            "customer": record,
        }
        out.append(json.dumps(envelope, separators=(",", ":")).encode())
    return out


@dataclass
class Burst:
    """What a burst did: the bodies that got a 2xx, each POST's latency, tries, give-ups."""

    acked: list[bytes] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    """Seconds of each POST answered 2xx (receive + verify + durable spool commit)."""
    attempts: int = 0
    gave_up: int = 0
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def per_second(self) -> float:
        return len(self.acked) / self.seconds if self.seconds else 0.0


def burst(
    url: str,
    secret: str,
    bodies: Sequence[bytes],
    threads: int = 1,
    *,
    state: Burst | None = None,
    timeout_s: float = 300.0,
) -> Burst:
    """POST every body signed, from `threads` threads, retrying each until a 2xx (bounded by
    `EVENT_GIVE_UP_S` per event and `timeout_s` overall)."""
    state = state or Burst()
    queue = list(reversed(bodies))
    taken = threading.Lock()
    overall = time.monotonic() + timeout_s

    def send() -> None:
        with httpx.Client(timeout=2.0) as http:
            while True:
                with taken:
                    if not queue:
                        return
                    body = queue.pop()
                give_up = min(time.monotonic() + EVENT_GIVE_UP_S, overall)
                while True:
                    ts = str(int(time.time()))
                    headers = {
                        "Content-Type": "application/json",
                        "Api-Timestamp": ts,
                        "Api-Signature": sign(secret, ts, body),
                    }
                    t = time.perf_counter()
                    with state.lock:
                        state.attempts += 1
                    try:
                        status = http.post(url, content=body, headers=headers).status_code
                    except httpx.TransportError:
                        status = 0  # the receiver is down (killed): retry, as HCP would
                    if 200 <= status < 300:
                        took = time.perf_counter() - t
                        with state.lock:
                            state.acked.append(body)
                            state.latencies.append(took)
                        break
                    if time.monotonic() > give_up:
                        with state.lock:
                            state.gave_up += 1
                        break
                    time.sleep(0.02)

    started = time.perf_counter()
    workers = [threading.Thread(target=send, daemon=True) for _ in range(max(1, threads))]
    for w in workers:
        w.start()
    for w in workers:
        w.join(max(0.0, overall - time.monotonic()) + 5)
    state.seconds = time.perf_counter() - started
    return state


def delivery_id(body: bytes) -> str:
    """The drain's `delivery_id`: the sha256 of the raw body (pipelines/webhooks/drain.py)."""
    return hashlib.sha256(body).hexdigest()


def drain_timed(db: Path, spool: Path) -> tuple[float, object]:
    """One `pipelines.webhooks.drain.drain` of account `default` into `db`; (seconds, result)."""
    from pipelines.webhooks.drain import drain

    t = time.perf_counter()
    (result,) = drain(db, ["default"], spool_path=spool)
    return time.perf_counter() - t, result


def drill_webhooks(cfg: Config) -> Drill:
    quick, work, log = cfg.quick, cfg.work / "webhooks", cfg.log
    work.mkdir(parents=True, exist_ok=True)
    n, kills = (300, 1) if quick else (1000, 2)
    d = Drill(
        "webhooks",
        did=(
            f"`hcp webhooks serve` in its own process on loopback; one sender thread POSTs {n:,} "
            f"signed customer.updated events, retrying on no answer or a non-2xx; the receiver "
            f"is SIGKILLed {kills}x mid-burst and restarted on the same port; then one drain "
            "into a fresh DuckDB file. Checked: every acknowledged body is in hcp.webhook_events "
            "exactly once, applied, and its customer in hcp.customers exactly once."
        ),
    )
    secret = secrets.token_hex(16)
    port, spool, db = free_port(), work / "hooks.sqlite", work / "webhooks.duckdb"
    receiver_log = work / "receiver.log"
    url = f"http://127.0.0.1:{port}/webhooks/default"
    bodies = customer_events(n, "wh")
    state = Burst()
    proc = start_receiver(port, spool, secret, receiver_log)
    sender = threading.Thread(
        target=burst, args=(url, secret, bodies), kwargs={"state": state, "timeout_s": 120}
    )
    killed_at: list[int] = []
    try:
        sender.start()
        for k in range(1, kills + 1):
            target = n * k // (kills + 1)
            deadline = time.monotonic() + 60
            while len(state.acked) < target and sender.is_alive():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the burst did not reach {target} acks within 60 s")
                time.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
            proc.wait(5)
            killed_at.append(len(state.acked))
            log(f"  SIGKILL {k}/{kills} after {killed_at[-1]} acknowledged events")
            proc = start_receiver(port, spool, secret, receiver_log)
        sender.join(150)
        d.check(not sender.is_alive(), "the sender did not finish within 150 s")
    finally:
        proc.kill()
        proc.wait(5)
    d.check(
        len(killed_at) == kills and all(0 < a < n for a in killed_at),
        f"kills must land mid-burst (acknowledged at each kill: {killed_at})",
    )
    d.check(state.gave_up == 0, f"the sender gave up on {state.gave_up} events")
    drain_s, result = drain_timed(db, spool)
    acked = {delivery_id(b) for b in state.acked}
    per_delivery = dict(
        query(db, "SELECT delivery_id, count(*) FROM hcp.webhook_events GROUP BY 1")
    )
    statuses = dict(query(db, "SELECT status, count(*) FROM hcp.webhook_events GROUP BY 1"))
    customers = dict(query(db, "SELECT id, count(*) FROM hcp.customers GROUP BY 1"))
    names = dict(query(db, "SELECT id, first_name FROM hcp.customers"))
    missing = acked - set(per_delivery)
    twice = [k for k, c in per_delivery.items() if c != 1]
    d.check(not missing, f"{len(missing)} acknowledged events are not in hcp.webhook_events")
    d.check(not twice, f"{len(twice)} deliveries have more than one hcp.webhook_events row")
    d.check(len(per_delivery) == n, f"hcp.webhook_events has {len(per_delivery)} rows, not {n}")
    d.check(statuses == {"applied": n}, f"webhook_events statuses {statuses}, want all applied")
    want = {
        json.loads(b)["customer"]["id"]: json.loads(b)["customer"]["first_name"] for b in bodies
    }
    d.check(
        set(customers) == set(want) and all(c == 1 for c in customers.values()),
        f"hcp.customers: {len(customers)} ids, {sum(c != 1 for c in customers.values())} "
        f"not exactly once (want {len(want)} once each)",
    )
    d.check(names == want, "a customer's first_name is not the one its event carried")
    retries = state.attempts - len(state.acked)
    d.figures = [
        f"- {len(state.acked):,}/{n:,} events acknowledged in {state.seconds:.1f} s = "
        f"{state.per_second:,.0f} events/s acknowledged (one sender thread, kills and restarts "
        f"included); {kills} SIGKILL(s) at {', '.join(map(str, killed_at))} acks; "
        f"{retries} retried POSTs; {state.gave_up} given up",
        f"- drain: {getattr(result, 'drained', 0):,} deliveries in {drain_s:.1f} s -> "
        f"hcp.webhook_events {sum(per_delivery.values()):,} rows ({statuses}), "
        f"hcp.customers {len(customers):,} rows",
    ]
    return d
