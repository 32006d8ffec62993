"""Per-key rate limit: fixed windows, answered like HCP_API.md §2 Rate limits (ASSUMED shape).

HCP publishes no numbers; the sandbox allows `rate_limit` requests per second per key, counted
in windows of `rate_limit_window_s`, and answers the rest with 429 + `Retry-After` (seconds) +
`RateLimit-Reset` (epoch seconds). The clock is injectable so tests need not sleep.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int
    retry_after: int


class RateLimiter:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}  # key -> (window index, count)
        self._lock = threading.Lock()

    def check(
        self, key: str, rate: float, window_s: float, clock: Callable[[], float]
    ) -> Verdict | None:
        """None when no limit is configured; else whether this request may pass."""
        if rate <= 0:
            return None
        window_s = window_s if window_s > 0 else 1.0
        limit = max(1, int(rate * window_s))
        now = clock()
        index = math.floor(now / window_s)
        window_end = (index + 1) * window_s
        with self._lock:
            current, count = self._windows.get(key, (index, 0))
            if current != index:
                count = 0
            allowed = count < limit
            if allowed:
                count += 1
            self._windows[key] = (index, count)
        return Verdict(
            allowed=allowed,
            limit=limit,
            remaining=max(0, limit - count),
            reset_epoch=math.ceil(window_end),
            retry_after=max(1, math.ceil(window_end - now)),
        )

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
