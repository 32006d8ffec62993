"""The object outbox: `staging.push_rows`, `staging.push_attempts`, `staging.push_row_runs`.

One set of tables for every object (the lead push keeps its own, `pipelines/leads/outbox.py`):
a row is keyed by (`object`, `row_key`), the caller's own key, so staging the same rows again is
a no-op. Users may INSERT rows with plain SQL and read outcomes with plain SQL. This is the one
home of a row's state: every statement that changes a status or its bookkeeping is here. It
never talks to HCP and never decides an outcome; it never commits (callers group statements).
The schema migration is additive only (`ensure_schema`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from pipelines.push.tables import ACCOUNT_SQL, SCHEMA, Column, create_tables, insert_rows

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"  # an update whose fields HCP already has: nothing was sent
LINKED = "linked"  # a create whose natural key HCP already had: nothing was created
STATUSES = (
    "pending",
    "sending",
    CREATED,
    UPDATED,
    UNCHANGED,
    LINKED,
    "failed_retryable",
    "failed_permanent",
)
CLAIMABLE_SQL = "(status IS NULL OR status IN ('pending', 'failed_retryable'))"
EVIDENCE_SQL = """
    EXISTS (SELECT 1 FROM staging.push_attempts a
            WHERE a.object = staging.push_rows.object AND a.row_key = staging.push_rows.row_key
            AND (a.kind = 'reconcile' OR (a.kind = 'create' AND a.http_status IS NULL)))
"""

PUSH_ROWS_COLUMNS: tuple[Column, ...] = (
    Column("object", "VARCHAR NOT NULL"),  # materials, tags, ... (pipelines/push/objects.py)
    Column("row_key", "VARCHAR NOT NULL"),  # the caller's own key: staging it again is a no-op
    Column("account", "VARCHAR DEFAULT 'default'"),
    Column("operation", "VARCHAR"),  # create | update | rename
    Column("target", "VARCHAR"),  # the HCP id/uuid an update or rename changes
    Column("fields", "JSON"),  # the desired fields, by HCP's names
    Column("status", "VARCHAR DEFAULT 'pending'"),
    Column("hcp_id", "VARCHAR"),  # the record created, linked or updated
    Column("error_reason", "VARCHAR"),
    Column("attempts", "INTEGER DEFAULT 0"),
    Column("created_at", "TIMESTAMPTZ DEFAULT current_timestamp"),
    Column("updated_at", "TIMESTAMPTZ DEFAULT current_timestamp"),
)

PUSH_ATTEMPTS_COLUMNS: tuple[Column, ...] = (
    Column("attempt_id", "VARCHAR DEFAULT gen_random_uuid()::VARCHAR"),
    Column("run_id", "VARCHAR"),
    Column("object", "VARCHAR"),
    Column("row_key", "VARCHAR"),  # NULL for run-level requests (verify)
    Column("account", "VARCHAR"),
    Column("attempted_at", "TIMESTAMPTZ DEFAULT current_timestamp"),
    Column("kind", "VARCHAR"),  # verify | lookup | create | reconcile | update
    Column("method", "VARCHAR"),
    Column("path", "VARCHAR"),
    Column("http_status", "INTEGER"),  # NULL: no answer
    Column("message", "VARCHAR"),  # HCP's message or the transport error, never the key
    Column("elapsed_ms", "DOUBLE"),
)

RUN_COUNTS = (
    "claimed",
    CREATED,
    UPDATED,
    UNCHANGED,
    LINKED,
    "reconciled",
    "failed_permanent",
    "failed_retryable",
    "requeued",
)

PUSH_ROW_RUNS_COLUMNS: tuple[Column, ...] = (
    Column("run_id", "VARCHAR PRIMARY KEY"),
    Column("object", "VARCHAR"),
    Column("account", "VARCHAR"),
    Column("started_at", "TIMESTAMPTZ DEFAULT current_timestamp"),
    Column("finished_at", "TIMESTAMPTZ"),
    Column("status", "VARCHAR"),  # running | ok | stopped | error | killed
    *(Column(c, "INTEGER DEFAULT 0") for c in RUN_COUNTS),
    Column("requests", "INTEGER DEFAULT 0"),
    Column("writes", "INTEGER DEFAULT 0"),  # POST/PUT requests sent
    Column("duration_s", "DOUBLE"),
    Column("exit_code", "INTEGER"),
    Column("error", "VARCHAR"),
)

TABLES: dict[str, tuple[Column, ...]] = {
    "push_rows": PUSH_ROWS_COLUMNS,
    "push_attempts": PUSH_ATTEMPTS_COLUMNS,
    "push_row_runs": PUSH_ROW_RUNS_COLUMNS,
}


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables, then add any column a newer version defines (never drops)."""
    create_tables(con, TABLES, keys={"push_rows": "object, row_key"})


def schema_exists(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = ? AND table_name = 'push_rows'",
        [SCHEMA],
    ).fetchone()
    return bool(row and row[0])


# ====================================================================== reading rows


@dataclass(frozen=True)
class PushRow:
    """A staged row with its bookkeeping (the engine's `Row`)."""

    object: str
    key: str
    account: str
    operation: str | None
    target: str | None
    fields: dict[str, Any] = field(default_factory=dict)
    status: str = "pending"
    attempts: int = 0
    evidence: bool = False
    hcp_id: str | None = None


_SELECT = "object, row_key, account, operation, target, fields, status, attempts, hcp_id"


def _row(r: Sequence[Any], evidence: bool) -> PushRow:
    raw = r[5]
    parsed = json.loads(raw) if isinstance(raw, str) else raw
    return PushRow(
        object=str(r[0]),
        key=str(r[1]),
        account=str(r[2] or "default"),
        operation=r[3],
        target=r[4],
        fields=parsed if isinstance(parsed, dict) else {"fields": parsed} if parsed else {},
        status=str(r[6] or "pending"),
        attempts=int(r[7] or 0),
        evidence=evidence,
        hcp_id=r[8],
    )


def select_rows(
    con: duckdb.DuckDBPyConnection,
    obj: str,
    condition: str,
    params: Sequence[Any] = (),
    *,
    account: str | None = None,
    limit: int | None = None,
) -> list[PushRow]:
    """One object's rows matching `condition`, oldest first, each with its evidence flag."""
    sql = (
        f"SELECT {_SELECT}, {EVIDENCE_SQL} FROM staging.push_rows WHERE object = ? AND {condition}"
    )
    args: list[Any] = [obj, *params]
    if account is not None:
        sql += f" AND {ACCOUNT_SQL} = ?"
        args.append(account)
    sql += " ORDER BY created_at, row_key"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return [_row(r[:-1], bool(r[-1])) for r in con.execute(sql, args).fetchall()]


def claimable(failed_before: datetime) -> tuple[str, list[Any]]:
    """Claimable rows; `failed_retryable` only when it failed before this run started."""
    return (
        f"{CLAIMABLE_SQL} AND (coalesce(status, 'pending') <> 'failed_retryable' OR updated_at < ?)",
        [failed_before],
    )


# ====================================================================== changing a row's state


# A row the stager failed (bad input) that no push has touched: staging its key again with new
# values replaces it, so a fixed file can be loaded again under the same keys.
STAGE_FAILED_SQL = "status = 'failed_permanent' AND coalesce(attempts, 0) = 0"


def stage_rows(
    con: duckdb.DuckDBPyConnection, rows: Sequence[dict[str, Any]]
) -> tuple[int, int, int]:
    """Insert rows (object, row_key, account, operation, target, fields, status, error_reason).

    A key staged before is left untouched, unless the stager failed it and no push touched it
    (`STAGE_FAILED_SQL`): then its new values replace it. Return (inserted, restaged, already).
    """
    if not rows:
        return 0, 0, 0
    cols = (
        "object",
        "row_key",
        "account",
        "operation",
        "target",
        "fields",
        "status",
        "error_reason",
    )
    values = [
        tuple(json.dumps(r.get(c)) if c == "fields" else r.get(c) for c in cols) for r in rows
    ]
    keys = {(r["object"], r["row_key"]) for r in rows}
    existing = {
        (str(o), str(k)): bool(f)
        for o, k, f in con.execute(
            f"SELECT object, row_key, {STAGE_FAILED_SQL} FROM staging.push_rows "
            "WHERE object IN (SELECT unnest(?))",
            [sorted({o for o, _ in keys})],
        ).fetchall()
        if (str(o), str(k)) in keys
    }
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols[2:])
    con.executemany(
        f"INSERT INTO staging.push_rows ({', '.join(cols)}) VALUES (?, ?, ?, ?, ?, ?::JSON, "
        "coalesce(?, 'pending'), ?) ON CONFLICT (object, row_key) DO UPDATE SET "
        f"{updates}, updated_at = now() WHERE push_rows.status = 'failed_permanent' "
        "AND coalesce(push_rows.attempts, 0) = 0",  # STAGE_FAILED_SQL, on the existing row
        values,
    )
    restaged = sum(1 for failed in existing.values() if failed)
    already = len(existing) - restaged
    return len(keys) - len(existing), restaged, already


def _count(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT count(*) FROM staging.push_rows").fetchone()
    return int(row[0]) if row else 0


def fail_unknown_objects(con: duckdb.DuckDBPyConnection, known: Sequence[str]) -> int:
    """Rows a user staged for an object the push does not know: `failed_permanent`, explained."""
    marks = ", ".join("?" for _ in known)
    row = con.execute(
        f"UPDATE staging.push_rows SET status = 'failed_permanent', "
        f"error_reason = 'unknown object ''' || coalesce(object, '') || ''' (known: {', '.join(known)})', "
        f"updated_at = current_timestamp WHERE {CLAIMABLE_SQL} AND object NOT IN ({marks})",
        list(known),
    ).fetchone()
    return int(row[0]) if row else 0


_WHERE_KEY = "WHERE object = ? AND row_key = ?"


def claim(con: duckdb.DuckDBPyConnection, obj: str, key: str) -> None:
    """`sending` + one attempt: the evidence a crash leaves; committed before the request."""
    con.execute(
        "UPDATE staging.push_rows SET status = 'sending', attempts = coalesce(attempts, 0) + 1, "
        f"error_reason = NULL, updated_at = current_timestamp {_WHERE_KEY}",
        [obj, key],
    )


def restore(
    con: duckdb.DuckDBPyConnection, obj: str, key: str, status: str, undo: int, posts: int
) -> None:
    con.execute(
        "UPDATE staging.push_rows SET status = ?, attempts = attempts - ? + ?, "
        f"updated_at = current_timestamp {_WHERE_KEY}",
        [status, undo, posts, obj, key],
    )


def settle(
    con: duckdb.DuckDBPyConnection,
    obj: str,
    key: str,
    status: str,
    *,
    hcp_id: str | None,
    reason: str | None,
    posts: int,
) -> None:
    con.execute(
        "UPDATE staging.push_rows SET status = ?, hcp_id = coalesce(?, hcp_id), error_reason = ?, "
        f"attempts = coalesce(attempts, 0) + ?, updated_at = current_timestamp {_WHERE_KEY}",
        [status, hcp_id, reason, posts, obj, key],
    )


def requeue_failed(
    con: duckdb.DuckDBPyConnection,
    statuses: Sequence[str],
    *,
    obj: str | None = None,
    account: str | None = None,
) -> int:
    """A user's retry: failed rows back to `pending`, attempts reset; return how many."""
    sql = (
        "UPDATE staging.push_rows SET status = 'pending', attempts = 0, error_reason = NULL, "
        f"updated_at = current_timestamp WHERE status IN ({', '.join('?' for _ in statuses)})"
    )
    args: list[Any] = list(statuses)
    if obj is not None:
        sql += " AND object = ?"
        args.append(obj)
    if account is not None:
        sql += f" AND {ACCOUNT_SQL} = ?"
        args.append(account)
    row = con.execute(sql, args).fetchone()
    return int(row[0]) if row else 0


# ====================================================================== attempts and runs

ATTEMPT_COLUMNS = (
    "run_id",
    "object",
    "row_key",
    "account",
    "attempted_at",
    "kind",
    "method",
    "path",
    "http_status",
    "message",
    "elapsed_ms",
)


def insert_attempts(con: duckdb.DuckDBPyConnection, rows: Sequence[Sequence[Any]]) -> None:
    """One `staging.push_attempts` row per request, values in `ATTEMPT_COLUMNS` order."""
    insert_rows(con, "push_attempts", ATTEMPT_COLUMNS, rows)


def start_run(
    con: duckdb.DuckDBPyConnection, run_id: str, obj: str, account: str, started: datetime
) -> None:
    """A new `running` run; an earlier one still `running` is dead (the caller holds the lock)."""
    con.execute(
        "UPDATE staging.push_row_runs SET status = 'killed', "
        "error = 'the process ended before the run finished (killed or crashed)' "
        "WHERE status = 'running' AND account = ?",
        [account],
    )
    con.execute(
        "INSERT INTO staging.push_row_runs (run_id, object, account, started_at, status) "
        "VALUES (?, ?, ?, ?, 'running')",
        [run_id, obj, account, started],
    )


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, values: dict[str, Any]) -> None:
    """Close a run's row: status, `RUN_COUNTS`, requests, writes, duration, exit code, error."""
    cols = ", ".join(f"{k} = ?" for k in values)
    con.execute(
        f"UPDATE staging.push_row_runs SET finished_at = current_timestamp, {cols} WHERE run_id = ?",
        [*values.values(), run_id],
    )
