"""What the sandbox saw: requests per route, statuses, faults per kind, 429s.

Benchmarks read these to prove "requests at the API minimum"; drills read the fault counts.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from typing import Any

_ID_SEGMENT = re.compile(
    r"/(?:[a-z]+_[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?=/|$)"
)


def route_of(method: str, path: str) -> str:
    """`GET /jobs/job_<hex>/line_items` -> `GET /jobs/{id}/line_items`."""
    return f"{method} {_ID_SEGMENT.sub('/{id}', path)}"


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: Counter[str] = Counter()
            self.statuses: Counter[str] = Counter()
            self.faults: Counter[str] = Counter()
            self.rate_limited = 0
            self.total = 0

    def request(self, route: str) -> None:
        with self._lock:
            self.requests[route] += 1
            self.total += 1

    def status(self, code: int) -> None:
        with self._lock:
            self.statuses[str(code)] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def limited(self) -> None:
        with self._lock:
            self.rate_limited += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total_requests": self.total,
                "requests": dict(sorted(self.requests.items())),
                "statuses": dict(sorted(self.statuses.items())),
                "faults": dict(sorted(self.faults.items())),
                "rate_limited": self.rate_limited,
            }
