"""The outbox tables' DDL: declared once as columns, created and widened the same way for the
lead outbox (`staging.leads`, ...) and the object outbox (`staging.push_rows`, ...).

A newer version may add columns; an existing warehouse gets them on the next run by
`ALTER TABLE ... ADD COLUMN` (never a drop), without their key or NOT NULL constraints, which
DuckDB cannot add to a table that has rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb

SCHEMA = "staging"
ACCOUNT_SQL = "coalesce(account, 'default')"
"""The account of an outbox row: a row inserted by SQL without one is the default account's."""


@dataclass(frozen=True)
class Column:
    name: str
    ddl: str  # type plus default, as in `ALTER TABLE ... ADD COLUMN name <ddl>`


def account_filter(account: str | None, prefix: str = "WHERE") -> tuple[str, list[object]]:
    """A `WHERE` (or `AND`) clause for one account's rows, or nothing for all accounts."""
    if account is None:
        return "", []
    return f"{prefix} {ACCOUNT_SQL} = ?", [account]


def table_columns(con: duckdb.DuckDBPyConnection, table: str, schema: str = SCHEMA) -> list[str]:
    """The columns `schema.table` has now, in order."""
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows]


def create_tables(
    con: duckdb.DuckDBPyConnection,
    tables: Mapping[str, Sequence[Column]],
    *,
    keys: Mapping[str, str] | None = None,
    schema: str = SCHEMA,
) -> None:
    """Create `schema` and each table (`keys`: a table's composite PRIMARY KEY), then add any
    column a newer version declares."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for table, columns in tables.items():
        body = ", ".join(f"{c.name} {c.ddl}" for c in columns)
        if keys and table in keys:
            body += f", PRIMARY KEY ({keys[table]})"
        con.execute(f"CREATE TABLE IF NOT EXISTS {schema}.{table} ({body})")
        existing = set(table_columns(con, table, schema))
        for column in columns:
            if column.name not in existing:
                ddl = column.ddl.replace(" PRIMARY KEY", "").replace(" NOT NULL", "")
                con.execute(
                    f"ALTER TABLE {schema}.{table} ADD COLUMN IF NOT EXISTS {column.name} {ddl}"
                )


def insert_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    schema: str = SCHEMA,
) -> None:
    """Insert `rows` (values in `columns` order) into `schema.table`; nothing when there are none."""
    if not rows:
        return
    marks = ", ".join("?" for _ in columns)
    con.executemany(
        f"INSERT INTO {schema}.{table} ({', '.join(columns)}) VALUES ({marks})", list(rows)
    )
