"""The webhook spool: verified deliveries, durable on disk before the receiver answers 2xx.

The receiver must answer HCP in well under a second even while a sync holds the DuckDB file, so
it never writes the warehouse: it appends each verified delivery here, a SQLite file in WAL mode
with `synchronous=FULL` (a committed row survives a crash or a power cut), and answers only after
the commit. `hcp sync` drains the spool into the warehouse later (`hcp.webhook_events`).

A redelivery is stored once: the table's unique key is (account, sha256 of the raw body). An
exact replay (same signature and body) and a retry that HCP signed again with a new timestamp
carry the same body (event, `event_occurred_at`, the full record), so both are one delivery. Drained rows are marked, not deleted, until
`prune` removes those drained longer ago than a retention window, so a drain that dies between
reading and writing the warehouse reads them again (the warehouse side dedupes on `delivery_id`).

Must never: hold the DuckDB lock, store a delivery that failed verification, or store the
signing secret.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    signature TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    api_timestamp TEXT,
    body BLOB NOT NULL,
    received_at TEXT NOT NULL,
    drained_at TEXT,
    UNIQUE (account, body_sha256)
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (drained_at, delivery_id);
"""


@dataclass(frozen=True)
class Delivery:
    """One verified webhook POST as it arrived (the body is HCP's raw bytes)."""

    delivery_id: int
    account: str
    signature: str
    api_timestamp: str | None
    body: bytes
    received_at: datetime


def spool_path_for(db_path: Path) -> Path:
    """The default spool beside a DuckDB warehouse: `<db>.webhooks.sqlite`."""
    return db_path.with_name(db_path.name + ".webhooks.sqlite")


class Spool:
    """Append-only store of verified deliveries; safe to share between threads of one process
    and between processes (SQLite's own locking; WAL lets the drain read while the receiver
    writes)."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._con = self._connect()
        with self._lock:
            self._con.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout_s,
            isolation_level=None,  # autocommit; transactions are explicit below
            check_same_thread=False,
        )
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")  # a committed delivery is on disk
        return con

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    def append(
        self,
        account: str,
        signature: str,
        body: bytes,
        *,
        api_timestamp: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Store one verified delivery durably; False when its body was stored before (a redelivery).

        Returns only after the commit, so the caller may answer 2xx.
        """
        received = (now or datetime.now(UTC)).isoformat()
        digest = hashlib.sha256(body).hexdigest()
        with self._transaction() as con:
            cursor = con.execute(
                "INSERT OR IGNORE INTO deliveries "
                "(account, signature, body_sha256, api_timestamp, body, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (account, signature, digest, api_timestamp, body, received),
            )
            return cursor.rowcount == 1

    def pending(self, limit: int = 1000, *, account: str | None = None) -> list[Delivery]:
        """Deliveries not drained yet, oldest first; only `account`'s when it is given (so one
        account's backlog never hides another's)."""
        where, args = ("AND account = ?", (account,)) if account is not None else ("", ())
        with self._lock:
            rows = self._con.execute(
                "SELECT delivery_id, account, signature, api_timestamp, body, received_at "
                f"FROM deliveries WHERE drained_at IS NULL {where} ORDER BY delivery_id LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [
            Delivery(int(i), str(a), str(s), t, bytes(b), datetime.fromisoformat(r))
            for i, a, s, t, b, r in rows
        ]

    def mark_drained(self, delivery_ids: list[int], *, now: datetime | None = None) -> None:
        """Mark deliveries as written to the warehouse (call after the warehouse committed)."""
        if not delivery_ids:
            return
        stamp = (now or datetime.now(UTC)).isoformat()
        with self._transaction() as con:
            con.executemany(
                "UPDATE deliveries SET drained_at = ? WHERE delivery_id = ? AND drained_at IS NULL",
                [(stamp, i) for i in delivery_ids],
            )

    def counts(self) -> dict[str, int]:
        """{"pending": n, "drained": m}, for status lines and tests."""
        with self._lock:
            pending, drained = self._con.execute(
                "SELECT count(*) FILTER (WHERE drained_at IS NULL), "
                "count(*) FILTER (WHERE drained_at IS NOT NULL) FROM deliveries"
            ).fetchone()
        return {"pending": int(pending), "drained": int(drained)}

    def prune(
        self, older_than: timedelta = timedelta(days=7), *, now: datetime | None = None
    ) -> int:
        """Delete deliveries drained longer ago than `older_than`; returns how many."""
        cutoff = ((now or datetime.now(UTC)) - older_than).isoformat()
        with self._transaction() as con:
            cursor = con.execute(
                "DELETE FROM deliveries WHERE drained_at IS NOT NULL AND drained_at < ?", (cutoff,)
            )
            return int(cursor.rowcount)
