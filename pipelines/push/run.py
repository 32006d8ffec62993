"""`staging.push_rows` -> HCP: one push run of one object for one account, exactly once per row.

The engine's loop (`engine.Run`) over the object outbox (`rows`) and the object worker
(`worker.ObjectWorker`). Holds the DuckDB lock for the whole run. A 401/403 stops the run
(exit code 2/3, verify's message) and the rows stay as they were. It must never: send before a
claim is committed, or create a row with evidence of an unanswered create without looking it up.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from pipelines import config
from pipelines.config import Account
from pipelines.leads.profiles import load_push_settings
from pipelines.push import rows
from pipelines.push.diff import Differ
from pipelines.push.engine import Outcome, Run, new_run_id
from pipelines.push.hcp import PushTag
from pipelines.push.objects import OBJECTS, PushObject, unknown_object
from pipelines.push.rows import RUN_COUNTS, PushRow
from pipelines.push.worker import ObjectWorker
from pipelines.warehouse import connect, duckdb_lock
from sources.housecallpro.client import HCPClient

VERIFY = PushTag("verify")
WRITE_METHODS = ("POST", "PUT")


@dataclass
class ObjectPushResult:
    """What one run did for one object and account; printed and published as is."""

    run_id: str
    object: str
    account: str
    status: str = "ok"  # ok | stopped | error
    exit_code: int = 0
    message: str = ""
    claimed: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RUN_COUNTS[1:-1], 0))
    requeued: int = 0
    requests: int = 0
    writes: int = 0  # POST/PUT requests sent (retries included)
    retries: int = 0
    duration_s: float = 0.0

    def tally(self, status: str, outcome: Outcome) -> None:
        if status in self.counts:
            self.counts[status] += 1
        self.counts["reconciled"] += int(outcome.reconciled)

    @property
    def done(self) -> int:
        return sum(v for k, v in self.counts.items() if k != "reconciled")

    @property
    def writes_per_s(self) -> float:
        return self.writes / self.duration_s if self.duration_s > 0 else 0.0

    def progress_line(self, elapsed_s: float) -> str:
        shown = ", ".join(f"{k} {v}" for k, v in self.counts.items() if v)
        return f"{self.object}: {self.done} done ({shown}), {self.done / elapsed_s:.1f} rows/s"

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "object": self.object,
            "account": self.account,
            "status": self.status,
            "exit_code": self.exit_code,
            "message": self.message,
            "claimed": self.claimed,
            **self.counts,
            "requeued": self.requeued,
            "requests": self.requests,
            "writes": self.writes,
            "retries": self.retries,
            "duration_s": round(self.duration_s, 3),
        }


class _RowStore:
    """The engine's `Store` over `staging.push_rows` for one object and account."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, obj: PushObject, result: ObjectPushResult
    ) -> None:
        self.con = con
        self.obj = obj
        self.account = result.account
        self.result = result

    def left_sending(self) -> list[PushRow]:
        return rows.select_rows(self.con, self.obj.name, "status = 'sending'", account=self.account)

    def claimable(self, n: int, failed_before: datetime) -> list[PushRow]:
        cond, params = rows.claimable(failed_before)
        return rows.select_rows(
            self.con, self.obj.name, cond, params, account=self.account, limit=n
        )

    def claim(self, key: str) -> None:
        rows.claim(self.con, self.obj.name, key)

    def restore(self, key: str, status: str, undo: int, posts: int) -> None:
        rows.restore(self.con, self.obj.name, key, status, undo, posts)

    def settle(
        self, key: str, status: str, *, hcp_id: str | None, reason: str | None, posts: int
    ) -> None:
        rows.settle(self.con, self.obj.name, key, status, hcp_id=hcp_id, reason=reason, posts=posts)

    def insert_attempts(self, attempt_rows: list[tuple[Any, ...]]) -> None:
        """Attempt rows, and the run's count of writes (counted here: the writer's thread)."""
        method = rows.ATTEMPT_COLUMNS.index("method")
        self.result.writes += sum(1 for a in attempt_rows if a[method] in WRITE_METHODS)
        rows.insert_attempts(self.con, attempt_rows)

    def start_run(self, run_id: str, started: datetime) -> None:
        rows.start_run(self.con, run_id, self.obj.name, self.account, started)

    def finish_run(self, r: ObjectPushResult) -> None:
        rows.finish_run(
            self.con,
            r.run_id,
            {
                "status": r.status,
                "claimed": r.claimed,
                **r.counts,
                "requeued": r.requeued,
                "requests": r.requests,
                "writes": r.writes,
                "duration_s": round(r.duration_s, 3),
                "exit_code": r.exit_code,
                "error": r.message if r.status != "ok" else None,
            },
        )


def push_objects(
    object_name: str,
    account: Account | str = "default",
    *,
    db_path: str | Path | None = None,
    limit: int | None = None,
    client: HCPClient | None = None,
    max_attempts: int | None = None,
    on_event: Callable[[str], None] | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> ObjectPushResult:
    """Push one object's claimable rows of one account to HCP, exactly once each.

    Rows naming an object the push does not know are failed first (with the reason). `client` is
    built from the account's config unless given (tests, benchmarks).
    """
    obj = OBJECTS.get(object_name)
    if obj is None:
        raise ValueError(unknown_object(object_name))
    acct = account if isinstance(account, Account) else None
    name = acct.name if acct else str(account)
    attempts = max_attempts or load_push_settings().max_attempts
    own_client = client is None
    if client is None:
        client = HCPClient.from_account(acct or config.load_account(name))
    db = config.db_path(db_path)
    try:
        with duckdb_lock(db, on_wait=on_wait), connect(db, on_wait=on_wait) as con:
            rows.ensure_schema(con)
            rows.fail_unknown_objects(con, list(OBJECTS))
            return _run(con, client, obj, name, attempts, limit, on_event)
    finally:
        if own_client:
            client.close()


def _run(
    con: duckdb.DuckDBPyConnection,
    client: HCPClient,
    obj: PushObject,
    account: str,
    max_attempts: int,
    limit: int | None,
    on_event: Callable[[str], None] | None,
) -> ObjectPushResult:
    result = ObjectPushResult(run_id=new_run_id(), object=obj.name, account=account)
    events: queue.Queue[tuple[str, Any]] = queue.Queue()
    worker = ObjectWorker(
        client,
        obj,
        Differ(con, obj, account),
        run_id=result.run_id,
        account=account,
        on_attempt=lambda row: events.put(("attempt", row)),
    )
    Run(
        con,
        client,
        _RowStore(con, obj, result),
        worker,
        result,
        max_attempts=max_attempts,
        limit=limit,
        verify_tag=VERIFY,
        events=events,
        on_event=on_event,
    ).run()
    return result
