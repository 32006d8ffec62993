"""A token bucket shared by every thread of one client, with an injectable clock and sleep.

HCP publishes no rate limit (HCP_API.md §2); we pace ourselves so that a big sync or push does
not meet 429s in the first place, and tests drive the bucket with a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """`rate` requests per second on average, bursts up to `burst`; `rate <= 0` disables it."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, min(self.rate, 1.0)))
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._last = clock()
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def _reserve(self) -> float:
        """Take one token, possibly going into debt; return how long the caller must wait."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self.rate

    def acquire(self) -> float:
        """Block until a request may go; return the seconds waited."""
        if self.rate <= 0:
            return 0.0
        wait = self._reserve()
        if wait > 0:
            self._sleep(wait)
            with self._lock:
                self.waited_s += wait
        return wait
