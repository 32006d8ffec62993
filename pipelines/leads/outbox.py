"""The lead outbox: `staging.leads`, `staging.lead_attempts`, `staging.push_runs`.

Names and statuses are a contract (DESIGN.md, "Contract of the reverse step"): users insert rows
with plain SQL and read outcomes with plain SQL. `ensure_schema` is an idempotent migration: it
creates what is missing and adds missing columns (`ADD COLUMN IF NOT EXISTS`), so a later version
can add a column without losing a row. It never drops or rewrites anything.

This is the one home of a lead's state: every statement that changes a status or its
bookkeeping (claim, outcome, requeue, retry, run rows, attempt rows, the loader's insert and
re-staging) is a function here, and the lead selection is built here once. It never talks to HCP
and never decides an outcome: the push decides, this module writes. It never opens or commits a
transaction either; callers group statements into theirs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb

from pipelines.leads.mapping import StagedLead
from pipelines.leads.profiles import normalise_column
from pipelines.push.tables import (
    ACCOUNT_SQL,
    SCHEMA,
    Column,
    account_filter,
    create_tables,
    insert_rows,
)

if TYPE_CHECKING:
    import pandas as pd


PENDING = "pending"
SENDING = "sending"
SENT = "sent"
LINKED = "linked"
# HCP already had a customer for the lead and its route says `on_existing = "skip"`: nothing was
# created or linked; `hcp_customer_id` names the customer that exists, `error_reason` stays NULL.
SKIPPED = "skipped"
FAILED_RETRYABLE = "failed_retryable"
FAILED_PERMANENT = "failed_permanent"
STATUSES = (PENDING, SENDING, SENT, LINKED, SKIPPED, FAILED_RETRYABLE, FAILED_PERMANENT)
TERMINAL = (SENT, LINKED, SKIPPED, FAILED_PERMANENT)
# Rows a push may claim. NULL counts as pending: a user's INSERT may set status to NULL.
CLAIMABLE_SQL = "(status IS NULL OR status IN ('pending', 'failed_retryable'))"
# Leads a killed run left claimed: their POST may have reached HCP.
LEFT_SENDING_SQL = "status = 'sending'"
# A lead's account; a user's INSERT may leave it NULL, which means the default account.
# Evidence of an unanswered POST besides a row left in `sending`: a lookup was needed before
# (`reconcile`), or a `create` got no HTTP status. Such a lead is looked up before any resend.
EVIDENCE_SQL = """
    EXISTS (SELECT 1 FROM staging.lead_attempts a WHERE a.lead_id = staging.leads.lead_id
            AND (a.kind = 'reconcile' OR (a.kind = 'create' AND a.http_status IS NULL)))
"""

# The raw columns a caller stages; everything else belongs to the push step.
RAW_COLUMNS = (
    "name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "lead_source",
    "company",
    "notes",
    "route",
)


LEADS_COLUMNS: tuple[Column, ...] = (
    # Without an id of its own a SQL-inserted row still gets a unique one; give `lead_id`
    # yourself to make re-inserting the same lead a no-op.
    Column("lead_id", "VARCHAR PRIMARY KEY DEFAULT ('sql-' || gen_random_uuid()::VARCHAR)"),
    Column("account", "VARCHAR DEFAULT 'default'"),
    *(Column(c, "VARCHAR") for c in RAW_COLUMNS),
    Column("extra", "JSON"),
    Column("status", "VARCHAR DEFAULT 'pending'"),
    Column("hcp_customer_id", "VARCHAR"),
    Column("error_reason", "VARCHAR"),
    Column("attempts", "INTEGER DEFAULT 0"),
    Column("created_at", "TIMESTAMPTZ DEFAULT current_timestamp"),
    Column("updated_at", "TIMESTAMPTZ DEFAULT current_timestamp"),
)

LEAD_ATTEMPTS_COLUMNS: tuple[Column, ...] = (
    Column("attempt_id", "VARCHAR DEFAULT gen_random_uuid()::VARCHAR"),
    Column("run_id", "VARCHAR"),
    Column("lead_id", "VARCHAR"),  # NULL for run-level requests (verify, lead sources)
    Column("account", "VARCHAR"),
    Column("attempted_at", "TIMESTAMPTZ DEFAULT current_timestamp"),
    # lookup | create | reconcile | link | lead_source | verify | test: why the request was made
    Column("kind", "VARCHAR"),
    Column("method", "VARCHAR"),
    Column("path", "VARCHAR"),
    Column("http_status", "INTEGER"),  # NULL: no answer (timeout, dropped connection)
    Column("message", "VARCHAR"),  # HCP's message or the transport error, never the key
    Column("elapsed_ms", "DOUBLE"),
    Column("dropped_fields", "VARCHAR"),  # what the mapping left out of the payload, and why
)

PUSH_RUNS_COLUMNS: tuple[Column, ...] = (
    Column("run_id", "VARCHAR PRIMARY KEY"),
    Column("account", "VARCHAR"),
    Column("started_at", "TIMESTAMPTZ DEFAULT current_timestamp"),
    Column("finished_at", "TIMESTAMPTZ"),
    Column("status", "VARCHAR"),  # running | ok | stopped | error | killed
    Column("claimed", "INTEGER DEFAULT 0"),
    Column("sent", "INTEGER DEFAULT 0"),
    Column("linked", "INTEGER DEFAULT 0"),
    Column("skipped", "INTEGER DEFAULT 0"),
    Column("reconciled", "INTEGER DEFAULT 0"),  # of `sent`: found by lookup after no answer
    Column("failed_permanent", "INTEGER DEFAULT 0"),
    Column("failed_retryable", "INTEGER DEFAULT 0"),
    Column("requeued", "INTEGER DEFAULT 0"),  # back to pending because the run stopped
    Column("requests", "INTEGER DEFAULT 0"),
    Column("duration_s", "DOUBLE"),
    Column("exit_code", "INTEGER"),
    Column("error", "VARCHAR"),
)

TABLES: dict[str, tuple[Column, ...]] = {
    "leads": LEADS_COLUMNS,
    "lead_attempts": LEAD_ATTEMPTS_COLUMNS,
    "push_runs": PUSH_RUNS_COLUMNS,
}


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the staging schema and tables, then add any column a newer version defines."""
    create_tables(con, TABLES)


def schema_exists(con: duckdb.DuckDBPyConnection) -> bool:
    """True when `staging.leads` exists (read-only callers must not create it)."""
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = 'leads'",
        [SCHEMA],
    ).fetchone()
    return bool(row and row[0])


# ====================================================================== reading leads

LEAD_COLUMNS = ("lead_id", "account", *RAW_COLUMNS, "extra", "status", "attempts")


@dataclass(frozen=True)
class LeadRow:
    """A staged lead with its bookkeeping."""

    lead: StagedLead
    account: str
    status: str
    attempts: int
    evidence: bool = False  # an unanswered POST is on record (only when selected with evidence)

    @property
    def key(self) -> str:
        """The row's key in the outbox engine (`pipelines/push/engine.py`)."""
        return self.lead.lead_id


def claimable(failed_before: datetime | None = None) -> tuple[str, list[Any]]:
    """`CLAIMABLE_SQL` and its parameters; with `failed_before`, `failed_retryable` leads count
    only when they failed before that moment, so a run does not retry in a loop what failed
    during it (the next run picks them up)."""
    if failed_before is None:
        return CLAIMABLE_SQL, []
    return (
        f"{CLAIMABLE_SQL} AND (coalesce(status, 'pending') <> 'failed_retryable' OR updated_at < ?)",
        [failed_before],
    )


def select_leads(
    con: duckdb.DuckDBPyConnection,
    condition: str,
    params: Sequence[Any] = (),
    *,
    account: str | None = None,
    route: str | None = None,
    default_profile: str = "default",
    limit: int | None = None,
    evidence: bool = False,
) -> list[LeadRow]:
    """Leads matching `condition`, oldest first, filtered by account and mapping profile.

    `route` is the lead's `route` column (its mapping profile); an empty one means
    `default_profile`. With `evidence`, each row says whether an unanswered POST is on record.
    """
    columns = ", ".join(LEAD_COLUMNS) + (f", {EVIDENCE_SQL} AS evidence" if evidence else "")
    sql = f"SELECT {columns} FROM staging.leads WHERE {condition}"
    args = list(params)
    if account is not None:
        sql += f" AND {ACCOUNT_SQL} = ?"
        args.append(account)
    if route is not None:
        sql += " AND coalesce(nullif(trim(route), ''), ?) = ?"
        args += [default_profile, route]
    sql += " ORDER BY created_at, lead_id"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    rows = con.execute(sql, args).fetchall()
    if evidence:
        return [row_to_lead(r[:-1], evidence=bool(r[-1])) for r in rows]
    return [row_to_lead(r) for r in rows]


def row_to_lead(row: Sequence[Any], *, evidence: bool = False) -> LeadRow:
    """One `LEAD_COLUMNS` tuple -> `LeadRow`, extra keys normalised as the mapping expects."""
    values = dict(zip(LEAD_COLUMNS, row, strict=True))
    extra: dict[str, Any] = {}
    if values["extra"]:
        parsed = (
            json.loads(values["extra"]) if isinstance(values["extra"], str) else values["extra"]
        )
        if isinstance(parsed, dict):
            # "_"-prefixed keys are the loader's own bookkeeping and keep their names.
            extra = {
                (k if str(k).startswith("_") else normalise_column(str(k))): v
                for k, v in parsed.items()
            }
    lead = StagedLead(
        lead_id=str(values["lead_id"]),
        **{c: (str(values[c]) if values[c] is not None else None) for c in RAW_COLUMNS},
        extra=extra,
    )
    return LeadRow(
        lead=lead,
        account=str(values["account"] or "default"),
        status=str(values["status"] or PENDING),
        attempts=int(values["attempts"] or 0),
        evidence=evidence,
    )


# ====================================================================== changing a lead's state


def stage_leads(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> list[tuple[str, str]]:
    """Insert new leads (one statement: its own transaction); return (lead_id, status) of those
    inserted. A lead_id staged before is left untouched, so loading a file again is a no-op."""
    cols = [str(c) for c in frame.columns]
    select = ", ".join("extra::JSON" if c == "extra" else c for c in cols)
    con.register("_lead_batch", frame)
    try:
        rows = con.execute(
            f"INSERT INTO staging.leads ({', '.join(cols)}) SELECT {select} FROM _lead_batch "
            "ON CONFLICT (lead_id) DO NOTHING RETURNING lead_id, status"
        ).fetchall()
    finally:
        con.unregister("_lead_batch")
    return [(str(lead_id), str(status)) for lead_id, status in rows]


# A lead the loader failed (its reason is "line N: ...") that no push has touched: no claim
# (attempts 0), no customer. Only such a lead may be re-staged by loading its file again.
LOADER_FAILED_SQL = (
    "status = 'failed_permanent' AND error_reason LIKE 'line %' "
    "AND coalesce(attempts, 0) = 0 AND hcp_customer_id IS NULL"
)


def restage_leads(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> list[str]:
    """Leads an earlier load failed whose row now validates (the frame's `pending` rows): their
    new values, status `pending`; return their ids. Never a lead the push has touched (sent,
    linked, skipped, sending, or failed by the push), so a second reload changes nothing."""
    cols = [str(c) for c in frame.columns if c not in ("lead_id", "status", "error_reason")]
    assigned = ", ".join(f"{c} = b.{c}::JSON" if c == "extra" else f"{c} = b.{c}" for c in cols)
    con.register("_restage_batch", frame)
    try:
        rows = con.execute(
            f"UPDATE staging.leads SET {assigned}, status = 'pending', error_reason = NULL, "
            "updated_at = current_timestamp FROM _restage_batch b "
            f"WHERE staging.leads.lead_id = b.lead_id AND b.status = 'pending' "
            f"AND staging.leads.lead_id IN (SELECT lead_id FROM staging.leads WHERE {LOADER_FAILED_SQL}) "
            "RETURNING staging.leads.lead_id"
        ).fetchall()
    finally:
        con.unregister("_restage_batch")
    return [str(r[0]) for r in rows]


def claim(con: duckdb.DuckDBPyConnection, lead_id: str) -> None:
    """`sending` + one attempt: the evidence a crash leaves; committed before the POST."""
    con.execute(
        "UPDATE staging.leads SET status = 'sending', attempts = coalesce(attempts, 0) + 1, "
        "error_reason = NULL, updated_at = current_timestamp WHERE lead_id = ?",
        [lead_id],
    )


def restore(
    con: duckdb.DuckDBPyConnection, lead_id: str, status: str, undo: int, posts: int
) -> None:
    """Put a lead the run stopped on back (`pending`, or `sending` when it was left so): minus
    the claim's attempt when nothing was sent (`undo`), plus any further POSTs made."""
    con.execute(
        "UPDATE staging.leads SET status = ?, attempts = attempts - ? + ?, "
        "updated_at = current_timestamp WHERE lead_id = ?",
        [status, undo, posts, lead_id],
    )


def settle(
    con: duckdb.DuckDBPyConnection,
    lead_id: str,
    status: str,
    *,
    customer_id: str | None,
    reason: str | None,
    posts: int,
) -> None:
    """Write a lead's outcome; `posts` are POSTs beyond the one its claim counted."""
    con.execute(
        "UPDATE staging.leads SET status = ?, hcp_customer_id = coalesce(?, hcp_customer_id), "
        "error_reason = ?, attempts = coalesce(attempts, 0) + ?, updated_at = current_timestamp "
        "WHERE lead_id = ?",
        [status, customer_id, reason, posts, lead_id],
    )


def requeue_failed(
    con: duckdb.DuckDBPyConnection, statuses: Sequence[str], account: str | None = None
) -> int:
    """A user's retry: failed leads back to `pending` with `attempts` reset; return how many."""
    placeholders = ", ".join("?" for _ in statuses)
    where, params = account_filter(account, "AND")
    row = con.execute(
        f"""
        UPDATE staging.leads
        SET status = 'pending', attempts = 0, error_reason = NULL, updated_at = current_timestamp
        WHERE status IN ({placeholders}) {where}
        """,
        [*statuses, *params],
    ).fetchone()
    return int(row[0]) if row else 0


# ====================================================================== attempts and runs

ATTEMPT_COLUMNS = (
    "run_id",
    "lead_id",
    "account",
    "attempted_at",
    "kind",
    "method",
    "path",
    "http_status",
    "message",
    "elapsed_ms",
    "dropped_fields",
)


def insert_attempts(con: duckdb.DuckDBPyConnection, rows: Sequence[Sequence[Any]]) -> None:
    """One `staging.lead_attempts` row per request, values in `ATTEMPT_COLUMNS` order."""
    insert_rows(con, "lead_attempts", ATTEMPT_COLUMNS, rows)


def start_run(con: duckdb.DuckDBPyConnection, run_id: str, account: str, started: datetime) -> None:
    """Record a new `running` push run. The caller holds the file's lock, so an earlier run of
    this account still marked `running` is dead: it is marked `killed` first."""
    con.execute(
        "UPDATE staging.push_runs SET status = 'killed', "
        "error = 'the process ended before the run finished (killed or crashed)' "
        "WHERE status = 'running' AND account = ?",
        [account],
    )
    con.execute(
        "INSERT INTO staging.push_runs (run_id, account, started_at, status) VALUES (?, ?, ?, 'running')",
        [run_id, account, started],
    )


RUN_COUNTS = (
    "claimed",
    "sent",
    "linked",
    "skipped",
    "reconciled",
    "failed_permanent",
    "failed_retryable",
    "requeued",
)


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    *,
    status: str,
    counts: Mapping[str, int],
    requests: int,
    duration_s: float,
    exit_code: int,
    error: str | None,
) -> None:
    """Close a push run's row with its outcome and counts (`RUN_COUNTS`)."""
    counted = ", ".join(f"{c} = ?" for c in RUN_COUNTS)
    con.execute(
        f"""
        UPDATE staging.push_runs SET finished_at = current_timestamp, status = ?, {counted},
            requests = ?, duration_s = ?, exit_code = ?, error = ?
        WHERE run_id = ?
        """,
        [
            status,
            *(counts[c] for c in RUN_COUNTS),
            requests,
            round(duration_s, 3),
            exit_code,
            error,
            run_id,
        ],
    )
