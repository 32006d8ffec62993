"""Helpers every test module shares (as dlt verified-sources' `tests/utils.py`): what a warehouse
holds, read the same way everywhere. The row-level snapshot is the one the drills compare
(`benchmarks.common.warehouse_snapshot`), so tests and drills agree on what "equal" means."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from benchmarks.common import hcp_tables, warehouse_snapshot

__all__ = [
    "VOID_INVOICE",
    "assert_same_warehouse",
    "job_revenue",
    "query",
    "table_counts",
    "table_names",
    "warehouse_snapshot",
    "write_lead_file",
]


def table_names(db: Path, schema: str = "hcp") -> list[str]:
    """The data tables of `schema` (dlt's `_dlt_*` bookkeeping left out), sorted."""
    with duckdb.connect(str(db), read_only=True) as con:
        return hcp_tables(con, schema)


def query(db: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Every row `sql` returns from a DuckDB file, opened read-only for just this query."""
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def table_counts(db: Path, schema: str = "hcp") -> dict[str, int]:
    """Rows per data table of `schema` in a DuckDB file."""
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            name: int(con.execute(f'select count(*) from {schema}."{name}"').fetchone()[0])
            for name in hcp_tables(con, schema)
        }


def assert_same_warehouse(a: Path, b: Path) -> None:
    """Two DuckDB files hold the same raw tables, row for row (dlt's bookkeeping aside)."""
    left, right = warehouse_snapshot(a), warehouse_snapshot(b)
    assert sorted(left) == sorted(right)
    for table in left:
        assert left[table] == right[table], f"table {table} differs"


def write_lead_file(
    path: Path,
    header: list[str],
    rows: list[list[str]],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    bom: bytes = b"",
    lineterminator: str = "\n",
) -> Path:
    """A lead file as a spreadsheet or an ad platform writes it: header, rows, encoding, BOM."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=lineterminator)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(bom + buf.getvalue().encode(encoding))
    return path


VOID_INVOICE = ("voided", "canceled")


def job_revenue(job: dict[str, Any], invoices: list[dict[str, Any]]) -> Decimal:
    """HCP's job revenue of one sandbox job, in dollars, by docs/models.md and never the models'
    SQL: 0 unless completed, else the job's subtotal minus the discounts of its newest non-void
    invoice (by invoice date, then invoice number, then id), since every invoice repeats them."""
    if job.get("deleted_at") or not job["work_status"].startswith("complete"):
        return Decimal("0.00")
    billing = [inv for inv in invoices if inv["status"] not in VOID_INVOICE]
    newest = max(
        billing,
        key=lambda inv: (inv["invoice_date"] or "", inv["invoice_number"] or "", inv["id"]),
        default={},
    )
    discount = sum(d["amount"] for d in newest.get("discounts") or [])
    return Decimal(job["subtotal"] - discount) / 100
