"""Timestamps as HCP writes them, and the sandbox's own monotonic clock.

HCP sends UTC RFC 3339 with seconds and a `Z` (HCP_API.md §2 Time/money). Seed data is anchored
to a fixed instant, and every later change is stamped from `SandboxClock`, which starts just after
the anchor and only moves forward, so reruns are reproducible and `updated_at` always grows.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

_DAYS: dict[int, str] = {}
_HM = [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SZ = [f"{sec:02d}Z" for sec in range(60)]


def iso(ts: float) -> str:
    """Epoch seconds -> `2026-06-21T13:45:35Z` (table-driven: the seed calls this ~10^6 times)."""
    day, rem = divmod(int(ts), 86400)
    prefix = _DAYS.get(day)
    if prefix is None:
        prefix = _DAYS[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))
    return prefix + _HM[rem // 60] + _SZ[rem % 60]


def parse_iso(value: str) -> float | None:
    """RFC 3339 / ISO date (or bare date) -> epoch seconds; None when unparseable."""
    text = value.strip()
    if not text:
        return None
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


class SandboxClock:
    """Monotonic, deterministic 'now' for writes: each tick is one second after the last."""

    def __init__(self, start: float) -> None:
        self._start = start
        self._now = start
        self._lock = threading.Lock()

    def tick(self) -> float:
        with self._lock:
            self._now += 1
            return self._now

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += max(0.0, seconds)
            return self._now

    def reset(self) -> None:
        with self._lock:
            self._now = self._start
