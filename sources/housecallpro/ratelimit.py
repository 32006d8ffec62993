"""The one pace of a client: a token bucket shared by all its threads, slowed by HCP's 429s.

HCP publishes no rate limit and counts it per account (HCP_API.md §2), so a 429 seen by one
thread is news for every thread. `TokenBucket` paces requests to `rate` per second; `throttle()`
(a 429) pauses every thread until the pause ends and cuts the rate multiplicatively; `passed()`
(any other answer) adds it back slowly (AIMD, as TCP does), never above the configured rate.

With `rate <= 0` (unlimited) nothing is paced until the first 429; from then on the bucket paces
at half the request rate it observed before that 429 (or `fallback_rate` if it saw too few
requests to tell) and climbs additively with no ceiling, so it keeps probing for HCP's limit.

Clock and sleep are injectable: tests drive the bucket with a fake clock and never sleep.
Must never: let a thread send while a pause is running, or climb above the configured rate.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

_OBSERVED = 32  # sends remembered to estimate the rate actually sent when a 429 arrives


class TokenBucket:
    """`rate` requests per second on average, bursts up to `burst`; `rate <= 0` starts unlimited.

    `decrease` is the factor a 429 applies to the rate; after a cut the rate climbs back to where
    it was in about `recovery_s` seconds of steady traffic; it never goes below `min_rate`.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        *,
        decrease: float = 0.5,
        recovery_s: float = 10.0,
        min_rate: float = 0.2,
        fallback_rate: float = 1.0,
    ) -> None:
        if not 0 < decrease < 1:
            raise ValueError("decrease must be between 0 and 1")
        self.configured_rate = max(0.0, float(rate))
        self.rate = self.configured_rate
        self.burst = float(burst if burst is not None else 1.0)
        self.decrease = decrease
        self.recovery_s = max(1e-9, recovery_s)
        self.min_rate = min_rate
        self.fallback_rate = fallback_rate
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._last = clock()
        self._lock = threading.Lock()
        self._pause_until = -math.inf
        self._pauses = 0
        self._cut_at = -math.inf
        self._increase_per_s = 0.0
        self._sent: deque[float] = deque(maxlen=_OBSERVED)
        self.waited_s = 0.0
        """Seconds callers spent blocked in `acquire`, summed over threads."""
        self.paused_s = 0.0
        """Seconds the whole client stood still for 429s (overlapping pauses counted once)."""
        self.slowdowns = 0
        """Times a 429 cut the rate (429s of requests sent before a cut do not cut again)."""

    # ------------------------------------------------------------------ sending

    def acquire(self) -> float:
        """Block until a request may go; return the seconds waited."""
        waited = 0.0
        wait, seen = self._reserve(None)
        while wait > 0:
            self._sleep(wait)
            waited += wait
            wait, seen = self._reserve(seen)
        if waited:
            with self._lock:
                self.waited_s += waited
        return waited

    def _reserve(self, seen: int | None) -> tuple[float, int]:
        """Take a turn, possibly going into debt; return the wait and the pauses seen so far.

        Nobody's turn starts before a running pause ends; turns after it are spaced at the rate.
        `seen` (a caller waking from its wait) takes a new turn only if a pause began while it
        slept and still runs; otherwise its turn has come.
        """
        with self._lock:
            now = self._clock()
            if seen is not None and (seen == self._pauses or now >= self._pause_until):
                return 0.0, seen
            start = max(now, self._pause_until)
            if self.rate <= 0:
                self._sent.append(start)
                return start - now, self._pauses
            self._refill(start)
            self._tokens -= 1.0
            at = start if self._tokens >= 0 else start - self._tokens / self.rate
            self._sent.append(at)
            return at - now, self._pauses

    def _refill(self, now: float) -> None:
        """Credit the tokens earned at the current rate up to `now` (call with the lock held)."""
        if now > self._last:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now

    # ------------------------------------------------------------------ feedback

    def throttle(self, pause_s: float, sent_at: float | None = None) -> None:
        """A 429: nobody sends for `pause_s` seconds, and the rate is cut once per congestion.

        `sent_at` is when the refused request was sent (the client's clock); a 429 for a request
        sent before the last cut is the same congestion and only lengthens the pause.
        """
        with self._lock:
            now = self._clock()
            until = now + max(0.0, pause_s)
            if until > self._pause_until:
                self.paused_s += until - max(now, self._pause_until)
                self._pause_until = until
                self._pauses += 1
            if sent_at is not None and sent_at <= self._cut_at:
                return
            base = self._observed_rate()
            if self.rate > 0:
                base = min(base, self.rate) if base else self.rate
            base = base or self.fallback_rate
            cut = max(self.min_rate, base * self.decrease)
            if self.configured_rate > 0:
                cut = min(cut, self.configured_rate)
            if self.rate > 0:
                self._refill(now)
            else:  # was unlimited: the first request after the pause goes at once
                self._tokens, self._last = self.burst, now
            self.rate = cut
            self._increase_per_s = max(base - cut, self.min_rate) / self.recovery_s
            self._cut_at = now
            self.slowdowns += 1
            self._sent.clear()

    def passed(self) -> None:
        """An answer that was not a 429: climb back additively (per second of steady traffic)."""
        with self._lock:
            if self._increase_per_s <= 0 or self.rate <= 0:
                return
            ceiling = self.configured_rate or math.inf
            if self.rate >= ceiling:
                return
            self._refill(self._clock())
            self.rate = min(ceiling, self.rate + self._increase_per_s / self.rate)

    def _observed_rate(self) -> float | None:
        """Requests per second actually sent since the last cut (None: too few to tell)."""
        if len(self._sent) < 2:
            return None
        span = self._sent[-1] - self._sent[0]
        return (len(self._sent) - 1) / span if span > 0 else None

    def snapshot(self) -> dict[str, float]:
        """Figures for benchmarks and summaries."""
        with self._lock:
            return {
                "rate": self.rate,
                "configured_rate": self.configured_rate,
                "paused_s": self.paused_s,
                "waited_s": self.waited_s,
                "slowdowns": self.slowdowns,
            }
