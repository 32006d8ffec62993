"""Durable before 2xx, end to end: `hcp webhooks serve` in its own process is killed -9 in the
middle of a burst of 1,000 signed events sent with retries, then restarted; every event that got
a 2xx is in the spool exactly once."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.webhook_utils import SECRET, event_body, hcp_signature

pytestmark = pytest.mark.slow

EVENTS = 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(port: int, spool: Path) -> subprocess.Popen:
    env = {**os.environ, "SOURCES__HOUSECALLPRO__WEBHOOK_SECRET": SECRET}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "webhooks", "serve", "--port", str(port)]
        + ["--spool", str(spool)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("receiver did not start")


def test_kill_9_mid_burst_loses_no_acknowledged_event(tmp_path: Path) -> None:
    port, spool = _free_port(), tmp_path / "hooks.sqlite"
    url = f"http://127.0.0.1:{port}/webhooks/default"
    acked: list[bytes] = []
    lock = threading.Lock()
    gave_up: list[int] = []

    def send_all() -> None:
        with httpx.Client(timeout=2) as http:
            for i in range(EVENTS):
                body = event_body("job.updated", f"job_{i:04d}")
                deadline = time.monotonic() + 15
                while True:
                    ts = str(int(time.time()))
                    headers = {
                        "Api-Timestamp": ts,
                        "Api-Signature": hcp_signature(SECRET, ts, body),
                    }
                    try:
                        if http.post(url, content=body, headers=headers).status_code == 200:
                            with lock:
                                acked.append(body)
                            break
                    except httpx.TransportError:
                        pass  # the receiver is down: retry, as HCP would
                    if time.monotonic() > deadline:
                        gave_up.append(i)
                        break
                    time.sleep(0.02)

    proc = _start(port, spool)
    sender = threading.Thread(target=send_all)
    sender.start()
    try:
        while len(acked) < 300 and sender.is_alive():
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        killed_at = len(acked)
        proc = _start(port, spool)
        sender.join(60)
    finally:
        proc.kill()
        proc.wait(5)
    assert 300 <= killed_at < EVENTS, "the kill must land mid-burst"
    assert not gave_up
    with sqlite3.connect(spool) as con:
        rows = [bytes(b) for (b,) in con.execute("SELECT body FROM deliveries")]
    assert len(rows) == len(set(rows)) == EVENTS
    assert set(acked) <= set(rows)
    assert {json.loads(b)["job"]["id"] for b in rows} == {f"job_{i:04d}" for i in range(EVENTS)}
