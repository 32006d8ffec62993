"""What every drill shares: the outcome type, the run settings, and the steps that sync, push and
check exactly-once the way a schedule would. Its own module so `drill` (the runner) and
`drill_secrets` (one drill) both import it and neither imports the other.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Drill:
    """One drill's outcome: what it did, its figures, and any problem found."""

    name: str
    did: str = ""
    figures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def check(self, ok: bool, problem: str) -> bool:
        if not ok:
            self.problems.append(problem)
        return ok


@dataclass
class Config:
    quick: bool
    seed: int
    work: Path
    scale: float
    leads: int
    kills: int
    fault_rate_alone: float
    timeout_s: float = 1.0
    slow_seconds: float = 2.5
    log: Callable[[str], None] = print


def drill_account(url: str, key: str) -> Any:
    from pipelines.config import Account

    return Account("default", key, url, rate_limit=0, concurrency=4)


def sync_until_ok(
    url: str, key: str, db: Path, *, timeout_s: float = 30.0, runs: int = 4
) -> tuple[Any, int]:
    """Sync like a schedule would: rerun a failed sync (it finishes the job), at most `runs`."""
    from pipelines.sync import sync_account

    result = None
    for n in range(1, runs + 1):
        result = sync_account(
            drill_account(url, key),
            db,
            timeout=timeout_s,
            pipelines_dir=db.parent / f"{db.stem}-dlt",
        )
        if result.ok:
            return result, n
    return result, runs


def fresh_reference(url: str, key: str, folder: Path) -> dict[str, list[tuple[Any, ...]]]:
    """A fault-free sync of what the sandbox holds now, as a table-by-table snapshot."""
    from benchmarks.common import warehouse_snapshot

    folder.mkdir(parents=True, exist_ok=True)
    db = folder / f"reference-{time.monotonic_ns()}.duckdb"
    result, _ = sync_until_ok(url, key, db, runs=1)
    if not result.ok:
        raise RuntimeError(f"the fault-free reference sync failed: {result.message}")
    return warehouse_snapshot(db)


def push_until_settled(
    db: Path, url: str, key: str, *, timeout_s: float = 10.0, runs: int = 6
) -> list[Any]:
    """Push like a schedule would until nothing is claimable (bounded)."""
    from pipelines.leads.profiles import ProfileBook, PushSettings
    from pipelines.leads.push import push_leads
    from sources.housecallpro.client import HCPClient

    results = []
    for _ in range(runs):
        with HCPClient(key, url, rate_limit=0, concurrency=4, timeout=timeout_s) as client:
            results.append(
                push_leads(
                    "default",
                    db_path=db,
                    client=client,
                    routes=ProfileBook(),
                    settings=PushSettings(),
                )
            )
        if not lead_counts(db).keys() & {"pending", "sending", "failed_retryable", None}:
            break
    return results


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """The rows of one read-only query on a DuckDB file (the drills check what runs left)."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def lead_counts(db: Path) -> Counter[str | None]:
    return Counter(dict(query(db, "select status, count(*) from staging.leads group by 1")))


def exactly_once(db: Path, created: list[dict[str, Any]], kinds: dict[str, int]) -> list[str]:
    """Why the push is not exactly once (empty when it is): one customer per valid lead, no
    more; every lead terminal and explained; each `sent` lead's id is a customer that exists."""
    problems = []
    rows = query(
        db, "select lead_id, email, status, hcp_customer_id, error_reason from staging.leads"
    )
    valid = kinds.get("email", 0) + kinds.get("phone", 0)
    statuses = Counter(r[2] for r in rows)
    if statuses != Counter({"sent": valid, "failed_permanent": kinds.get("invalid", 0)}):
        problems.append(f"lead statuses {dict(statuses)}, expected {valid} sent")
    mine = {r[0] for r in rows}
    emails = Counter((c.get("email") or "").lower() for c in created if c.get("email"))
    phones = Counter(
        (c.get("mobile_number"), c.get("first_name"), c.get("last_name"))
        for c in created
        if not c.get("email")
    )
    if len(created) != valid:
        problems.append(f"{len(created)} customers created for {valid} valid leads")
    dup = [e for e, n in emails.items() if n > 1] + [str(p) for p, n in phones.items() if n > 1]
    if dup:
        problems.append(f"{len(dup)} duplicate customers, e.g. {dup[:3]}")
    ids = {c["id"] for c in created}
    for lead_id, _email, status, customer_id, reason in rows:
        if status == "sent" and customer_id not in ids:
            problems.append(f"lead {lead_id} sent with id {customer_id}, which HCP never created")
        if status == "failed_permanent" and not reason:
            problems.append(f"lead {lead_id} failed without a reason")
    if not mine:
        problems.append("no leads staged")
    return problems[:10]
