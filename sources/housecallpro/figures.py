"""What one object's read did in a run: the one figures type, and the two things that fill it.

`ObjectFigures` is the per-object record that everything downstream shows as it is: the
`ReadTracker` fills pages, rows, status, mode and seconds from the resources; the
`RequestCounter` (an observer of `HCPClient`) fills requests, retries, 429s, 5xx and transport
errors; `pipelines.sync` finalises the status into `SyncResult.objects`; `hcp sync` prints it and
the `hcp-sync` flow's artifact tabulates it (errors redacted there). Adding a counter is one
field here plus the line that counts it. `client.ClientStats` stays apart: it is the client's
own running totals (bytes, pages, across every object and the push), not a per-object figure.

Must never: hold a key or a record's content (counts, seconds, a status and an error text only),
or be written outside its owner's lock (reads and HTTP attempts arrive from many threads).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sources.housecallpro.client import Exchange


@dataclass
class ObjectFigures:
    """One HCP object in one account's sync."""

    table: str
    status: str = "pending"
    """pending | running | ok | skipped | failed | not run (`not run`: set by the sync)."""
    mode: str = ""
    """How it was read: incremental | full | tree | per_parent | daily | single | per_job."""
    rows: int = 0
    pages: int = 0
    requests: int = 0
    """HTTP attempts, retries included."""
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    seconds: float = 0.0
    """From the read's start to its end (or to the end of extract for transformers)."""
    passes: int = 0
    """Passes over the object's listing(s), summed; more passes than listings mean a listing
    changed while it was paged and was read again (`helpers.py`)."""
    unsteady: bool = False
    """The listing changed during every pass: rows are loaded, but the read may have skipped a
    record, so no deletion is flagged from it and its cursor does not move."""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "skipped")


ProgressCallback = Callable[[str, ObjectFigures], None]


@dataclass
class ReadTracker:
    """Thread-safe per-object figures shared by the resources of one source instance."""

    on_progress: ProgressCallback | None = None
    figures: dict[str, ObjectFigures] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _started: dict[str, float] = field(default_factory=dict, repr=False)

    def of(self, table: str) -> ObjectFigures:
        """The figures of `table` (created pending on first use)."""
        with self._lock:
            return self._of(table)

    def _of(self, table: str) -> ObjectFigures:
        if table not in self.figures:
            self.figures[table] = ObjectFigures(table)
        return self.figures[table]

    def update(self, table: str, change: Callable[[ObjectFigures], None]) -> None:
        """Apply `change` to the figures of `table` under the lock (for observers)."""
        with self._lock:
            change(self._of(table))

    def read_tables(self) -> list[str]:
        """Tables whose read started in this run, in the order they started."""
        with self._lock:
            return list(self._started)

    def start(self, table: str, mode: str) -> None:
        with self._lock:
            fig = self._of(table)
            fig.status, fig.mode = "running", mode
            self._started[table] = time.monotonic()
        self._notify(table)

    def page(self, table: str, rows: int) -> None:
        with self._lock:
            fig = self._of(table)
            fig.pages += 1
            fig.rows += rows
        self._notify(table)

    def settle(self, table: str, passes: int, steady: bool) -> None:
        """Record how many passes a read needed and whether one of them was steady."""
        with self._lock:
            fig = self._of(table)
            fig.passes += passes
            fig.unsteady = fig.unsteady or not steady
        self._notify(table)

    def finish(self, table: str, status: str = "ok", error: str | None = None) -> None:
        with self._lock:
            fig = self._of(table)
            fig.status, fig.error = status, error
            fig.seconds = self._elapsed(table, time.monotonic())
        self._notify(table)

    def close_running(self) -> None:
        """End the clock of reads without an end-of-read hook (transformers) once extract ends."""
        now = time.monotonic()
        with self._lock:
            for table, fig in self.figures.items():
                if fig.status == "running":
                    fig.seconds = self._elapsed(table, now)

    def _elapsed(self, table: str, now: float) -> float:
        started = self._started.get(table)
        return 0.0 if started is None else now - started

    def _notify(self, table: str) -> None:
        if self.on_progress is not None:
            self.on_progress(table, self.figures[table])


class RequestCounter:
    """Per-object HTTP attempts: an observer of `HCPClient` (one call per attempt) that counts
    into the tracker's figures.

    A sync shares one client (one rate limiter, one concurrency bound) between objects, so the
    per-object split is made here from the path. An attempt answered 429, 5xx or not at all is
    followed by a retry unless the read failed (the sync subtracts that last one).
    """

    def __init__(self, paths: dict[str, str], tracker: ReadTracker) -> None:
        self._paths = paths
        self._tracker = tracker

    def table_for(self, path: str) -> str:
        bare = path.split("?", 1)[0]
        table = self._paths.get(bare)
        if table is not None:
            return table
        # per-record listings (`/jobs/{id}/line_items`): match the path with its id replaced
        parts = bare.split("/")
        if len(parts) == 4:
            return self._paths.get(f"/{parts[1]}/{{id}}/{parts[3]}", path)
        return path

    def __call__(self, exchange: Exchange) -> None:
        status = exchange.status

        def count(fig: ObjectFigures) -> None:
            fig.requests += 1
            if status == 429:
                fig.rate_limited += 1
                fig.retries += 1
            elif status is None:
                fig.transport_errors += 1
                fig.retries += 1
            elif status >= 500:
                fig.server_errors += 1
                fig.retries += 1

        self._tracker.update(self.table_for(exchange.path), count)
