"""The analyst models (issue 22, item 9) and docs/tables.md's revenue queries (item 8), against
the session's sandbox sync. The truth is computed here in plain Python from the sandbox's own
records, by the definitions in the model headers, never with the models' SQL."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.transform import run_transforms
from sandbox.server import SandboxHandle
from tests.utils import VOID_INVOICE, job_revenue, query


@pytest.fixture(scope="module")
def modelled(tmp_path_factory: pytest.TempPathFactory, synced_warehouse: Path) -> Path:
    db = tmp_path_factory.mktemp("analyst") / "analyst.duckdb"
    shutil.copy(synced_warehouse, db)
    result = run_transforms(db)
    assert not result.failed_audits, result.failed_audits
    return db


@pytest.fixture
def records(sandbox: SandboxHandle) -> dict[str, Any]:
    """The seed the warehouse was synced from (`sandbox` resets to it), indexed for the truths."""
    state = sandbox.state
    invoices: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for inv in state.records("invoices"):
        invoices[inv["job_id"]].append(inv)
    return {
        "tz": ZoneInfo(state.store.company["time_zone"]),
        "jobs": state.records("jobs"),
        "invoices": invoices,
        "estimates": state.records("estimates"),
        "leads": state.records("leads"),
        "employees": state.records("employees"),
        "inactive": list(state.store.inactive_employees),
    }


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _month(value: str, tz: ZoneInfo) -> date:
    local = _ts(value).astimezone(tz)
    return date(local.year, local.month, 1)


def _completed(job: dict[str, Any]) -> bool:
    return not job.get("deleted_at") and job["work_status"].startswith("complete")


def test_revenue_by_completion_month(modelled: Path, records: dict[str, Any]) -> None:
    expected: dict[date, list[Any]] = defaultdict(lambda: [0, Decimal("0.00")])
    for job in records["jobs"]:
        if _completed(job):
            row = expected[_month(job["work_timestamps"]["completed_at"], records["tz"])]
            row[0] += 1
            row[1] += job_revenue(job, records["invoices"][job["id"]])
    got = {
        m: [n, r]
        for m, n, r in query(
            modelled, "SELECT month, jobs_completed, job_revenue FROM analytics.revenue_by_month"
        )
    }
    assert len(got) > 12 and got == dict(expected)


def test_completed_but_not_invoiced(modelled: Path, records: dict[str, Any]) -> None:
    expected = {}
    for job in records["jobs"]:
        invoices = records["invoices"][job["id"]]
        if _completed(job) and all(i["status"] in VOID_INVOICE for i in invoices):
            expected[job["id"]] = (len(invoices), Decimal(job["total_amount"]) / 100)
    got = {
        j: (v, t)
        for j, v, t in query(
            modelled, "SELECT job_id, void_invoices, total_amount FROM analytics.unbilled_jobs"
        )
    }
    assert expected and got == expected


def test_receivables_aging(modelled: Path, records: dict[str, Any]) -> None:
    tz = records["tz"]
    rows = query(
        modelled,
        "SELECT invoice_id, due_amount, days_past_due, aging_bucket, as_of FROM analytics.receivables",
    )
    as_of = rows[0][4]
    assert as_of == datetime.now(tz).date()
    expected = {}
    for invoices in records["invoices"].values():
        for inv in invoices:
            if inv["status"] in ("open", "pending_payment") and inv["due_amount"] > 0:
                due = _ts(inv["due_at"] or inv["invoice_date"]).astimezone(tz).date()
                days = (as_of - due).days
                bucket = next(
                    name
                    for limit, name in ((0, "current"), (30, "1-30"), (60, "31-60"), (90, "61-90"))
                    if days <= limit
                ) if days <= 90 else "90+"  # fmt: skip
                expected[inv["id"]] = (Decimal(inv["due_amount"]) / 100, days, bucket)
    got = {i: (d, n, b) for i, d, n, b, _ in rows}
    assert len(expected) > 100 and got == expected
    uncollectible = [
        i["id"] for v in records["invoices"].values() for i in v if i["status"] == "uncollectible"
    ]
    assert uncollectible and not set(uncollectible) & set(got)


def test_technician_performance_includes_inactive_pros(
    modelled: Path, records: dict[str, Any]
) -> None:
    expected: dict[str, list[Any]] = defaultdict(lambda: [0, 0, Decimal("0.00")])
    for job in records["jobs"]:
        if job.get("deleted_at"):
            continue
        for pro in {e["id"] for e in job["assigned_employees"]}:
            row = expected[pro]
            row[0] += 1
            if _completed(job):
                row[1] += 1
                row[2] += job_revenue(job, records["invoices"][job["id"]])
    got = {
        e: (active, [n, c, r])
        for e, active, n, c, r in query(
            modelled,
            "SELECT employee_id, is_active, jobs_assigned, jobs_completed, job_revenue "
            "FROM analytics.technician_performance",
        )
    }
    active = {e["id"] for e in records["employees"]}
    inactive = {e["id"] for e in records["inactive"]} & set(expected)
    assert inactive, "the seed puts deactivated pros on old jobs"
    assert set(got) == active | set(expected)
    for pro, figures in got.items():
        assert figures == (pro in active, expected.get(pro, [0, 0, Decimal("0.00")])), pro
    names = dict(
        query(modelled, "SELECT employee_id, full_name FROM analytics.technician_performance")
    )
    for pro in records["inactive"]:
        if pro["id"] in inactive:
            assert names[pro["id"]] == f"{pro['first_name']} {pro['last_name']}"


def test_estimate_to_job_conversion(modelled: Path, records: dict[str, Any]) -> None:
    estimate_of = {o["id"]: e["id"] for e in records["estimates"] for o in e.get("options") or []}
    estimate_of.update({e["id"]: e["id"] for e in records["estimates"]})
    expected: Counter[str] = Counter()
    for job in records["jobs"]:
        if job.get("deleted_at"):
            continue
        refs = {job.get("original_estimate_id"), *(job.get("original_estimate_uuids") or [])}
        for est in {estimate_of[r] for r in refs if r in estimate_of}:
            expected[est] += 1
    got = dict(
        query(
            modelled,
            "SELECT estimate_id, jobs FROM analytics.estimate_conversion WHERE is_converted",
        )
    )
    assert len(expected) > 50 and got == dict(expected)
    (total,) = query(modelled, "SELECT count(*) FROM analytics.estimate_conversion")[0]
    assert total == len(records["estimates"])


def test_job_type_performance(modelled: Path, records: dict[str, Any]) -> None:
    expected: dict[tuple[str, date], list[Any]] = defaultdict(lambda: [0, 0, Decimal("0.00")])
    for job in records["jobs"]:
        if job.get("deleted_at"):
            continue
        job_type = ((job.get("job_fields") or {}).get("job_type") or {}).get("name")
        row = expected[(job_type or "No job type", _month(job["created_at"], records["tz"]))]
        row[0] += 1
        if _completed(job):
            row[1] += 1
            row[2] += job_revenue(job, records["invoices"][job["id"]])
    got = {
        (t, m): [n, c, r]
        for t, m, n, c, r in query(
            modelled,
            "SELECT job_type, month, jobs, jobs_completed, job_revenue FROM analytics.job_type_performance",
        )
    }
    assert any(t == "No job type" for t, _ in got) and got == dict(expected)


def test_hcp_leads_won_and_lost(modelled: Path, records: dict[str, Any]) -> None:
    expected = {
        lead["id"]: (
            lead["status"],
            lead["status"] == "won",
            lead["status"] == "lost",
            sum(c["type"] == "Job" for c in lead.get("conversions") or []),
        )
        for lead in records["leads"]
    }
    got = {
        r[0]: r[1:]
        for r in query(
            modelled,
            "SELECT lead_id, status, is_won, is_lost, converted_jobs FROM analytics.hcp_leads",
        )
    }
    assert got == expected
    statuses = Counter(s for s, *_ in got.values())
    assert statuses["won"] and statuses["lost"] and statuses["open"]


def _doc_query(heading: str) -> str:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "tables.md").read_text()
    after = doc.split(heading, 1)[1]
    return re.search(r"```sql\n(.*?)```", after, flags=re.S).group(1)


def test_tables_doc_revenue_queries_match_the_models(modelled: Path) -> None:
    """docs/tables.md computes revenue from the raw tables as the models do: completed jobs,
    deleted ones out, subtotal minus discounts, no tax (issue 22: it summed total_amount of
    every completed job, deleted ones included)."""
    with duckdb.connect(str(modelled), read_only=True) as con:
        by_source = con.execute(_doc_query("Revenue and job count by lead source")).fetchall()
        models = con.execute(
            "SELECT CASE lead_source WHEN 'No lead source' THEN '(none)' ELSE lead_source END, "
            "sum(jobs_completed), sum(job_revenue) FROM analytics.lead_source_performance "
            "GROUP BY 1 HAVING sum(jobs_completed) > 0"
        ).fetchall()
        by_account = con.execute(_doc_query("Rows per account")).fetchall()
        totals = con.execute(
            "SELECT account, count(*) FILTER (WHERE NOT is_deleted), "
            "sum(job_revenue) FROM analytics.jobs GROUP BY 1"
        ).fetchall()
        deleted = con.execute("SELECT count(*) FROM hcp.jobs WHERE deleted_at IS NOT NULL")
        assert deleted.fetchone()[0] > 0  # the seed has deleted jobs the query must leave out
    assert {(s, int(n), Decimal(str(r))) for s, n, r in by_source} == set(models)
    assert [(a, n, Decimal(str(r))) for a, n, r in by_account] == totals


def test_readme_python_query_runs_with_what_we_ship(modelled: Path, tmp_path: Path) -> None:
    """The README's way to query without the DuckDB shell (issue 22: it named a `duckdb` command
    that pip's duckdb does not install): the project's Python, offline, as written."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = re.search(r'`\.venv/bin/python -c "(import duckdb;.*?)"`', readme).group(1)
    shutil.copy(modelled, tmp_path / "hcp_sync.read.duckdb")  # the copy the README names
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "lead_source" in done.stdout and "5 rows" in done.stdout
    assert shutil.which("duckdb", path=str(Path(sys.executable).parent)) is None  # not shipped


def test_leads_doc_fresh_warehouse(tmp_path: Path) -> None:
    """docs/leads.md on a fresh warehouse (issue 22: it said `hcp leads status` creates the
    tables; status only reads): status is friendly and creates nothing, `hcp leads retry` creates
    the tables, and the documented INSERT then stages a lead."""
    db = tmp_path / "fresh.duckdb"
    cli = CliRunner(env={"COLUMNS": "200"})
    status = cli.invoke(app, ["leads", "status", "--db", str(db)])
    assert status.exit_code == 0 and "No leads staged yet" in status.output
    assert not query(db, "SELECT * FROM information_schema.tables WHERE table_schema = 'staging'")
    assert cli.invoke(app, ["leads", "retry", "--db", str(db)]).exit_code == 0
    doc = (Path(__file__).resolve().parents[1] / "docs" / "leads.md").read_text()
    insert = re.search(r"```sql\n(INSERT INTO staging\.leads.*?)```", doc, flags=re.S).group(1)
    with duckdb.connect(str(db)) as con:
        con.execute(insert)
    staged = cli.invoke(app, ["leads", "status", "--db", str(db)])
    assert staged.exit_code == 0 and "pending" in staged.output
