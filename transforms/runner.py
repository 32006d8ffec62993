"""The small runner: build every model of `transforms/` into schema `analytics`, then audit it.

Why a runner of our own rather than dbt/SQLMesh: the whole project is a dozen SELECTs over one
DuckDB file; what it needs is dependency order, one macro and audits, in ~200 lines.

Rules it keeps:
- **Idempotent and all-or-nothing.** Every model is `CREATE OR REPLACE TABLE` inside one
  transaction; if a blocking audit fails the transaction rolls back and `analytics` keeps the
  previous good build.
- **Raw data may be partial.** dlt only creates a column once it has seen a non-null value and a
  child table once a parent had a non-empty list, and `staging` exists only after leads were
  loaded. Models therefore read raw tables through `@source(table, col TYPE, ...)`, which the
  runner expands to a subquery projecting exactly those columns (typed; NULL when absent; no rows
  when the table is absent). A missing `account` column reads as `'default'`, so the same SQL
  serves one account or many.
- **Headers are contracts.** A model whose output columns differ from its header fails.

It never writes outside schema `analytics` and never modifies raw or staging data.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from transforms.project import TARGET_SCHEMA, Audit, Model, ProjectError, load_project, split_top
from transforms.seeds import read_seed

DEFAULT_ACCOUNT = "default"
_SOURCE = re.compile(r"@source\s*\(")
# HCP sends money as integer cents; models publish dollars. Exact decimal arithmetic (a plain
# `/ 100` would go through DOUBLE and drift by a cent in sums).
MACROS = (
    "CREATE OR REPLACE TEMP MACRO dollars(cents) AS "
    "CAST(CAST(cents AS DECIMAL(18, 0)) * 0.01 AS DECIMAL(18, 2))",
)


class TransformError(Exception):
    """A model could not be built; the message names the model and DuckDB's reason."""


class AuditError(TransformError):
    """Blocking audits found bad rows; nothing was committed."""

    def __init__(self, failures: list[AuditResult]) -> None:
        self.failures = failures
        lines = [f"{f.audit.name}: {f.bad_rows} bad row(s), e.g. {f.sample}" for f in failures]
        super().__init__("audits failed, analytics left as it was:\n  " + "\n  ".join(lines))


@dataclass(frozen=True)
class AuditResult:
    audit: Audit
    bad_rows: int
    sample: list[tuple] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.bad_rows == 0


@dataclass(frozen=True)
class ModelResult:
    name: str
    rows: int
    seconds: float


@dataclass
class RunResult:
    models: list[ModelResult] = field(default_factory=list)
    audits: list[AuditResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed_audits(self) -> list[AuditResult]:
        return [a for a in self.audits if not a.passed]


Catalog = dict[str, dict[str, str]]  # "schema.table" -> {column: type}


def read_catalog(con: duckdb.DuckDBPyConnection) -> Catalog:
    """Every table and view of the current database with its columns."""
    rows = con.execute(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = current_database() ORDER BY table_schema, table_name, ordinal_position"
    ).fetchall()
    catalog: Catalog = {}
    for schema, table, column, dtype in rows:
        catalog.setdefault(f"{schema}.{table}".lower(), {})[column.lower()] = dtype
    return catalog


def _quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def expand_sources(sql: str, catalog: Catalog, notes: set[str]) -> str:
    """Replace each `@source(schema.table, col TYPE, ...)` with a typed, tolerant subquery."""
    out: list[str] = []
    pos = 0
    for match in _SOURCE.finditer(sql):
        if match.start() < pos:
            continue
        open_at = match.end() - 1
        depth, i = 0, open_at
        while i < len(sql):
            depth += {"(": 1, ")": -1}.get(sql[i], 0)
            if depth == 0:
                break
            i += 1
        args = split_top(re.sub(r"--[^\n]*", "", sql[open_at + 1 : i]))
        table, specs = args[0].strip().lower(), args[1:]
        present = catalog.get(table)
        projections = []
        for spec in specs:
            col, _, typ = spec.strip().partition(" ")
            col, typ = col.strip().lower(), typ.strip()
            if present is not None and col in present:
                projections.append(f"CAST({_quote(col)} AS {typ}) AS {_quote(col)}")
            elif col == "account":
                projections.append(f"CAST('{DEFAULT_ACCOUNT}' AS {typ}) AS account")
            else:
                projections.append(f"CAST(NULL AS {typ}) AS {_quote(col)}")
                if present is not None:
                    notes.add(f"{table}.{col} absent (no non-null value synced yet): read as NULL")
        if present is None:
            notes.add(f"{table} absent: read as an empty table")
            body = f"(SELECT {', '.join(projections)} WHERE false)"
        else:
            body = f"(SELECT {', '.join(projections)} FROM {table})"
        out.append(sql[pos : match.start()])
        out.append(body)
        pos = i + 1
    out.append(sql[pos:])
    return "".join(out)


def _load_seed(con: duckdb.DuckDBPyConnection, model: Model, rows: list[tuple]) -> None:
    """Create the seed's table from the rows `transforms.seeds` read (typed, line-checked)."""
    cols = ", ".join(f"{_quote(c)} {t}" for c, t in model.column_types.items())
    con.execute(f"CREATE OR REPLACE TABLE {model.name} ({cols})")
    if rows:
        marks = ", ".join("?" for _ in model.column_types)
        con.executemany(f"INSERT INTO {model.name} VALUES ({marks})", rows)


def build_model(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    catalog: Catalog,
    notes: set[str],
    seed_path: Path | None = None,
    seed_rows: list[tuple] | None = None,
) -> ModelResult:
    started = time.perf_counter()
    try:
        if model.kind == "SEED":
            seed_path = seed_path or model.seed_path
            if seed_path is None:
                raise TransformError(f"{model.name}: no seed file")
            _load_seed(con, model, read_seed(model, seed_path) if seed_rows is None else seed_rows)
        else:
            select = expand_sources(model.query, catalog, notes)
            con.execute(f"CREATE OR REPLACE TABLE {model.name} AS {select}")
    except duckdb.Error as exc:
        where = seed_path if model.kind == "SEED" else model.path
        raise TransformError(f"{model.name} ({where}): {exc}") from exc
    produced = [d[0] for d in con.execute(f"SELECT * FROM {model.name} LIMIT 0").description]
    if produced != list(model.columns):
        raise TransformError(
            f"{model.name}: the query's columns {produced} differ from the header's "
            f"column_descriptions {list(model.columns)} ({model.path})"
        )
    rows = con.execute(f"SELECT count(*) FROM {model.name}").fetchone()[0]
    return ModelResult(model.name, rows, time.perf_counter() - started)


def run_audit(con: duckdb.DuckDBPyConnection, audit: Audit) -> AuditResult:
    try:
        bad = con.execute(f"SELECT count(*) FROM ({audit.query})").fetchone()[0]
        sample = con.execute(f"SELECT * FROM ({audit.query}) LIMIT 3").fetchall() if bad else []
    except duckdb.Error as exc:
        raise TransformError(f"audit {audit.name} could not run: {exc}") from exc
    return AuditResult(audit, int(bad), sample)


def run_project(
    con: duckdb.DuckDBPyConnection,
    models: list[Model] | None = None,
    on_model: Callable[[ModelResult], None] | None = None,
    seeds: dict[str, Path] | None = None,
) -> RunResult:
    """Build all models in one transaction, audit them, commit only if no blocking audit fails.

    `seeds` replaces seed CSVs by model table name (`{"marketing_spend": path}`): a user's own
    spend and lead-source map (`hcp transform --seeds DIR`), or the demo's sample spend, which is
    not shipped to real users.
    """
    models = load_project() if models is None else models
    seeds = seeds or {}
    unknown = set(seeds) - {m.table for m in models if m.kind == "SEED"}
    if unknown:
        raise TransformError(f"no seed model named {sorted(unknown)}")
    catalog = read_catalog(con)
    if not any(name.startswith("hcp.") for name in catalog):
        raise TransformError(
            "no raw HCP data in this database (schema `hcp`): run `hcp sync` first"
        )
    # Every seed is read before anything is built: a bad value stops the run with its file, line
    # and value, and no model is touched.
    seed_rows = {
        m.table: read_seed(m, seeds.get(m.table) or m.seed_path)
        for m in models
        if m.kind == "SEED" and (seeds.get(m.table) or m.seed_path) is not None
    }
    result = RunResult()
    notes: set[str] = set()
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {TARGET_SCHEMA}")
        for macro in MACROS:
            con.execute(macro)
        for model in models:
            built = build_model(
                con, model, catalog, notes, seeds.get(model.table), seed_rows.get(model.table)
            )
            result.models.append(built)
            if on_model is not None:
                on_model(built)
        for model in models:
            result.audits.extend(run_audit(con, a) for a in model.audits)
        blocking = [a for a in result.failed_audits if a.audit.blocking]
        if blocking:
            raise AuditError(blocking)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    result.notes = sorted(notes)
    return result


__all__ = [
    "AuditError",
    "AuditResult",
    "ModelResult",
    "ProjectError",
    "RunResult",
    "TransformError",
    "expand_sources",
    "read_catalog",
    "run_project",
]
