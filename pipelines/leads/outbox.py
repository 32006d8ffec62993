"""The lead outbox: `staging.leads`, `staging.lead_attempts`, `staging.push_runs`.

Names and statuses are a contract (DESIGN.md, "Contract of the reverse step"): users insert rows
with plain SQL and read outcomes with plain SQL. `ensure_schema` is an idempotent migration: it
creates what is missing and adds missing columns (`ADD COLUMN IF NOT EXISTS`), so a later version
can add a column without losing a row. It never drops or rewrites anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

SCHEMA = "staging"

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
LINKED = "linked"
FAILED_RETRYABLE = "failed_retryable"
FAILED_PERMANENT = "failed_permanent"
STATUSES = (PENDING, SENDING, SENT, LINKED, FAILED_RETRYABLE, FAILED_PERMANENT)
TERMINAL = (SENT, LINKED, FAILED_PERMANENT)
# Rows a push may claim. NULL counts as pending: a user's INSERT may set status to NULL.
CLAIMABLE_SQL = "(status IS NULL OR status IN ('pending', 'failed_retryable'))"

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


@dataclass(frozen=True)
class Column:
    name: str
    ddl: str  # type plus default, as in `ALTER TABLE ... ADD COLUMN name <ddl>`


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
    # create | reconcile | lead_source | verify | test: why the request was made
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
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for table, columns in TABLES.items():
        body = ", ".join(f"{c.name} {c.ddl}" for c in columns)
        con.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{table} ({body})")
        existing = set(table_columns(con, table))
        for column in columns:
            if column.name not in existing:
                # A key cannot be added to a table that has rows; the key columns exist since v1.
                ddl = column.ddl.replace(" PRIMARY KEY", "")
                con.execute(
                    f"ALTER TABLE {SCHEMA}.{table} ADD COLUMN IF NOT EXISTS {column.name} {ddl}"
                )


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [SCHEMA, table],
    ).fetchall()
    return [r[0] for r in rows]


def schema_exists(con: duckdb.DuckDBPyConnection) -> bool:
    """True when `staging.leads` exists (read-only callers must not create it)."""
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = 'leads'",
        [SCHEMA],
    ).fetchone()
    return bool(row and row[0])
