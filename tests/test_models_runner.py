"""The transform runner on small hand-made warehouses: partial raw data, header contracts,
all-or-nothing audits, the lead funnel. Fast: no sandbox."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.transform import AuditError, TransformError, run_transforms
from transforms.project import MODELS_DIR, load_project
from transforms.runner import run_project
from transforms.seeds import parse_date, parse_decimal


def _minimal_warehouse(path: Path) -> None:
    """What a first sync of a tiny account can look like: few tables, columns missing."""
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA hcp")
        con.execute(
            "CREATE TABLE hcp.company AS SELECT 'co_1' AS id, 'Shop' AS name, 'America/New_York' AS time_zone"
        )
        con.execute(
            "CREATE TABLE hcp.customers AS SELECT * FROM (VALUES "
            "('cus_1', 'Ann', ' Google Ads ', TIMESTAMPTZ '2026-03-01 03:00:00+00'), "  # Feb in New York
            "('cus_2', 'Bob', NULL, TIMESTAMPTZ '2026-03-02 12:00:00+00'), "
            "('cus_3', 'Cy', 'Billboard', TIMESTAMPTZ '2026-03-03 12:00:00+00')"
            ") AS t(id, first_name, lead_source, created_at)"
        )
        # no deleted_at / canceled_at / schedule columns and no invoices at all yet
        con.execute(
            "CREATE TABLE hcp.jobs AS SELECT * FROM (VALUES "
            "('job_1', 'cus_1', 'complete rated', 12345), "
            "('job_2', 'cus_1', 'scheduled', 5000), "
            "('job_3', 'cus_2', 'complete unrated', 10000)"
            ") AS t(id, customer__id, work_status, subtotal)"
        )


def test_partial_raw_data_builds_every_model(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    _minimal_warehouse(db)
    result = run_transforms(db)
    assert not result.failed_audits
    assert "staging.leads absent: read as an empty table" in result.notes
    assert any("hcp.jobs.deleted_at absent" in n for n in result.notes)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT account, lead_source, lead_source_bucket, month, new_customers, new_jobs, "
            "jobs_completed, job_revenue, avg_job_size FROM analytics.lead_source_performance ORDER BY month, lead_source"
        ).fetchall()
        funnel = con.execute("SELECT count(*) FROM analytics.lead_funnel").fetchone()[0]
    assert rows == [
        (
            "default",
            "Google Ads",
            "Google",
            date(2026, 2, 1),
            1,
            2,
            1,
            Decimal("123.45"),
            Decimal("123.45"),
        ),
        ("default", "Billboard", "Other", date(2026, 3, 1), 1, 0, 0, Decimal("0.00"), None),
        (
            "default",
            "No lead source",
            "No lead source",
            date(2026, 3, 1),
            1,
            1,
            1,
            Decimal("100.00"),
            Decimal("100.00"),
        ),
    ]
    assert funnel == 0


def test_lead_funnel_follows_pushed_leads(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    _minimal_warehouse(db)
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE SCHEMA staging")
        con.execute(
            "CREATE TABLE staging.leads AS SELECT * FROM (VALUES "
            "('l1', 'default', 'Ann A', 'ann@example.com', 'Google Ads', 'sent', 'cus_1'), "
            "('l2', 'default', 'Bob B', 'bob@example.com', NULL, 'sent', 'cus_2'), "
            "('l3', 'default', 'New N', 'new@example.com', 'Yelp', 'sent', 'cus_new'), "
            "('l4', 'default', 'Bad B', NULL, 'Yelp', 'failed_permanent', NULL), "
            "('l5', NULL, 'Wait W', 'w@example.com', 'Yelp', NULL, NULL)"
            ") AS t(lead_id, account, name, email, lead_source, status, hcp_customer_id)"
        )
    run_transforms(db)
    with duckdb.connect(str(db), read_only=True) as con:
        stages = dict(
            con.execute("SELECT lead_id, funnel_stage FROM analytics.lead_funnel").fetchall()
        )
        ann = con.execute(
            "SELECT jobs, jobs_completed, job_revenue FROM analytics.lead_funnel WHERE lead_id = 'l1'"
        ).fetchone()
    assert stages == {
        "l1": "job completed",
        "l2": "job completed",
        "l3": "pushed",  # sent, not synced back yet
        "l4": "failed",
        "l5": "staged",
    }
    assert ann == (2, 1, Decimal("123.45"))


def test_no_raw_data_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    with pytest.raises(TransformError, match="hcp sync"):
        run_transforms(db)
    with pytest.raises(TransformError, match="does not exist"):
        run_transforms(tmp_path / "missing.duckdb")


def _copy_models(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    models.mkdir()
    for sql in MODELS_DIR.glob("*.sql"):
        text = sql.read_text().replace("'../seeds/", f"'{MODELS_DIR.parent / 'seeds'}/")
        (models / sql.name).write_text(text)
    return models


def test_header_must_match_the_query(tmp_path: Path) -> None:
    models = _copy_models(tmp_path)
    jobs = models / "jobs.sql"
    jobs.write_text(
        jobs.read_text().replace("  job_type = 'job type name (job_fields.job_type)',\n", "")
    )
    db = tmp_path / "w.duckdb"
    _minimal_warehouse(db)
    with (
        duckdb.connect(str(db)) as con,
        pytest.raises(TransformError, match="differ from the header"),
    ):
        run_project(con, load_project(models, tmp_path / "no-audits"))


def test_failing_audit_rolls_everything_back(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    _minimal_warehouse(db)
    run_transforms(db)
    models = _copy_models(tmp_path)
    audits = tmp_path / "audits"
    audits.mkdir()
    (audits / "no_revenue.sql").write_text(
        "AUDIT (name no_revenue, model analytics.jobs, blocking true);\n"
        "SELECT * FROM analytics.jobs WHERE job_revenue > 0"
    )
    with duckdb.connect(str(db)) as con:
        con.execute("INSERT INTO hcp.customers VALUES ('cus_4', 'Dee', 'Yelp', now())")
        with pytest.raises(AuditError, match="no_revenue: 2 bad row"):
            run_project(con, load_project(models, audits))
        # the previous build is intact: cus_4 never reached analytics
        assert con.execute("SELECT count(*) FROM analytics.customers").fetchone()[0] == 3


def test_every_model_header_names_grain_and_describes_columns() -> None:
    models = load_project()
    names = {m.name for m in models}
    assert {
        "analytics.lead_source_performance",
        "analytics.lead_source_map",
        "analytics.marketing_spend",
        "analytics.lead_funnel",
        "analytics.customers",
        "analytics.jobs",
        "analytics.estimates",
        "analytics.invoices",
        "analytics.employees",
        "analytics.lead_sources",
    } <= names
    order = [m.name for m in models]
    for m in models:
        assert m.grain and set(m.grain) <= set(m.columns), m.name
        assert all(desc.strip() for desc in m.columns.values()), m.name
        assert any("unique" in a.name for a in m.audits) or m.kind == "SEED", m.name
        for dep in m.depends_on:
            assert order.index(dep) < order.index(m.name)
    perf = next(m for m in models if m.name == "analytics.lead_source_performance")
    assert perf.grain == ("account", "lead_source", "month")
    assert list(perf.columns) == [
        "account", "lead_source", "lead_source_bucket", "month", "new_customers", "new_jobs",
        "jobs_scheduled", "jobs_completed", "job_revenue", "avg_job_size", "amount_paid",
        "new_estimates", "estimates_won", "estimate_close_rate", "marketing_spend",
        "cost_per_customer", "cost_per_job", "roas",
    ]  # fmt: skip


def test_docs_describe_every_model_and_column() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text()
    for m in load_project():
        assert f"`{m.name}`" in doc, m.name
        section = doc.split(f"`{m.name}`", 1)[1]
        for column in m.columns:
            assert re.search(rf"`{column}`", section), (m.name, column)


def test_discounts_from_line_items_when_an_invoice_lists_none(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    _minimal_warehouse(db)
    with duckdb.connect(str(db)) as con:
        con.execute(
            "CREATE TABLE hcp.invoices AS SELECT * FROM (VALUES "
            "('inv_1', 'job_1', 'paid', 'd1'), ('inv_3', 'job_3', 'paid', 'd3')"
            ") AS t(id, job_id, status, _dlt_id)"
        )
        con.execute(
            "CREATE TABLE hcp.invoices__discounts AS SELECT 'd1' AS _dlt_parent_id, 1000 AS amount"
        )
        con.execute(
            "CREATE TABLE hcp.invoices__items AS SELECT * FROM (VALUES "
            "('d1', 'fixed discount', -700), "  # inv_1 lists discounts[]: its items do not count
            "('d3', 'labor', 10000), ('d3', 'percent discount', -500)"
            ") AS t(_dlt_parent_id, type, amount)"
        )
    run_transforms(db)
    with duckdb.connect(str(db), read_only=True) as con:
        revenue = dict(con.execute("SELECT job_id, job_revenue FROM analytics.jobs").fetchall())
    assert revenue == {
        "job_1": Decimal("113.45"),
        "job_2": Decimal("0.00"),
        "job_3": Decimal("95.00"),
    }


def _deposit_and_final_invoices(con: duckdb.DuckDBPyConnection) -> None:
    """Live HCP's shape: a job's deposit and final invoices each repeat its subtotal and discounts.

    job_1 ($123.45, cus_1 Google Ads): deposit + final, both listing the same $10 discount.
    job_3 ($100.00, cus_2): deposit ($8 off), final ($5 off: the discount changed) and a newer
    voided re-issue ($20 off) that must not count.
    """
    con.execute(
        "CREATE TABLE hcp.invoices AS SELECT * FROM (VALUES "
        "('inv_1d', 'job_1', '1001-1', 'paid', 12345, TIMESTAMPTZ '2026-03-02 10:00:00+00', 'd1d'), "
        "('inv_1f', 'job_1', '1001-2', 'paid', 12345, TIMESTAMPTZ '2026-03-09 10:00:00+00', 'd1f'), "
        "('inv_3d', 'job_3', '1003-1', 'paid', 10000, TIMESTAMPTZ '2026-03-03 10:00:00+00', 'd3d'), "
        "('inv_3f', 'job_3', '1003-2', 'paid', 10000, TIMESTAMPTZ '2026-03-08 10:00:00+00', 'd3f'), "
        "('inv_3v', 'job_3', '1003-3', 'voided', 10000, TIMESTAMPTZ '2026-03-12 10:00:00+00', 'd3v')"
        ") AS t(id, job_id, invoice_number, status, subtotal, invoice_date, _dlt_id)"
    )
    con.execute(
        "CREATE TABLE hcp.invoices__discounts AS SELECT * FROM (VALUES "
        "('d1d', 1000), ('d1f', 1000), ('d3d', 800), ('d3f', 500), ('d3v', 2000)"
        ") AS t(_dlt_parent_id, amount)"
    )
    # deposit + rest = the job's total after its discount; deposit and final payments both count
    con.execute(
        "CREATE TABLE hcp.invoices__payments AS SELECT * FROM (VALUES "
        "('d1d', 'succeeded', 4000, 'deposit'), ('d1f', 'succeeded', 7345, 'payment'), "
        "('d3d', 'paid', 3000, 'deposit'), ('d3f', 'paid', 6500, 'payment')"
        ") AS t(_dlt_parent_id, status, amount, category)"
    )


def test_a_job_with_several_invoices_counts_its_subtotal_and_discount_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "w.duckdb"
    _minimal_warehouse(db)
    with duckdb.connect(str(db)) as con:
        _deposit_and_final_invoices(con)
    result = run_transforms(db)
    assert not result.failed_audits
    with duckdb.connect(str(db), read_only=True) as con:
        jobs = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT job_id, subtotal, discount_amount, job_revenue, amount_paid FROM analytics.jobs"
            ).fetchall()
        }
        perf = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT lead_source, job_revenue, amount_paid FROM analytics.lead_source_performance"
            ).fetchall()
        }
    d = Decimal
    assert jobs["job_1"] == (d("123.45"), d("10.00"), d("113.45"), d("113.45"))
    # the newest invoice is voided: the final one's $5 counts, not the $20 and not $8 + $5
    assert jobs["job_3"] == (d("100.00"), d("5.00"), d("95.00"), d("95.00"))
    assert jobs["job_2"] == (d("50.00"), d("0.00"), d("0.00"), d("0.00"))
    assert perf["Google Ads"] == (d("113.45"), d("113.45"))
    assert perf["No lead source"] == (d("95.00"), d("95.00"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-07", date(2026, 7, 1)),
        ("2026-7", date(2026, 7, 1)),
        ("2026-07-15", date(2026, 7, 15)),
    ],
)
def test_seed_months_read_as_people_type_them(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1200", "1200"),
        ("1,200.00", "1200.00"),
        ("$1,200.00", "1200.00"),
        ("-$50", "-50"),
        ("$ 1,234,567.5", "1234567.5"),
    ],
)
def test_seed_amounts_read_as_people_type_them(text: str, expected: str) -> None:
    assert parse_decimal(text, 2) == Decimal(expected)


@pytest.mark.parametrize("text", ["12O0", "1,20", "$", "1.234", "12-", "1200 USD", "--5"])
def test_seed_amounts_that_do_not_read(text: str) -> None:
    with pytest.raises(ValueError):
        parse_decimal(text, 2)


@pytest.mark.parametrize("text", ["July 2026", "2026-13", "2026-02-30", "07/2026"])
def test_seed_months_that_do_not_read(text: str) -> None:
    with pytest.raises(ValueError):
        parse_date(text)


def test_transform_with_a_seeds_folder_and_its_errors(tmp_path: Path) -> None:
    """`hcp transform --seeds DIR`: the user's own files replace the package's by name; a value
    that does not read is one line naming the file, the line and the value, and nothing is built."""
    db = tmp_path / "w.duckdb"
    _minimal_warehouse(db)
    seeds = tmp_path / "my-seeds"
    seeds.mkdir()
    (seeds / "lead_source_map.csv").write_text("bucket,lead_source\nOutdoor,billboard\n")
    spend = seeds / "marketing_spend.csv"
    spend.write_text('\ufefflead_source,month,amount\nOutdoor,2026-03,"$1,200.00"\n')  # no account
    cli = CliRunner(env={"COLUMNS": "400"})
    ok = cli.invoke(app, ["transform", "--db", str(db), "--seeds", str(seeds)])
    assert ok.exit_code == 0, ok.output
    with duckdb.connect(str(db), read_only=True) as con:
        outdoor = con.execute(
            "SELECT new_customers, marketing_spend, cost_per_customer FROM "
            "analytics.lead_source_bucket_performance WHERE lead_source_bucket = 'Outdoor'"
        ).fetchall()
        google = con.execute(
            "SELECT lead_source_bucket FROM analytics.customers WHERE customer_id = 'cus_1'"
        ).fetchone()
    assert outdoor == [(1, Decimal("1200.00"), Decimal("1200.00"))]
    assert google == ("Other",)  # the user's map replaced the shipped one

    spend.write_text("lead_source,month,amount,account\nOutdoor,2026-03,100,\nYelp,2026-04,12O0,\n")
    bad = cli.invoke(app, ["transform", "--db", str(db), "--seeds", str(seeds)])
    assert bad.exit_code == 1
    assert f"{spend} line 3: amount '12O0' is not an amount" in bad.output
    assert "Traceback" not in bad.output and "built" not in bad.output  # stopped before any model
    spend.write_text("lead_source,month,amount\nYelp,July,100\n")
    bad = cli.invoke(app, ["transform", "--db", str(db), "--seeds", str(seeds)])
    assert "line 2: month 'July' is not a date: use YYYY-MM-DD or YYYY-MM" in bad.output
    spend.write_text("source,month,amount\nYelp,2026-07,100\n")
    bad = cli.invoke(app, ["transform", "--db", str(db), "--seeds", str(seeds)])
    assert "line 1: unknown column(s) source; missing column(s) lead_source" in bad.output
    with duckdb.connect(str(db), read_only=True) as con:  # the good build is still there
        assert con.execute("SELECT sum(amount) FROM analytics.marketing_spend").fetchone() == (
            Decimal("1200.00"),
        )
    (seeds / "marketing-spend.csv").write_text("lead_source,month,amount\n")
    typo = cli.invoke(app, ["transform", "--db", str(db), "--seeds", str(seeds)])
    assert typo.exit_code == 1 and "no seed named 'marketing-spend'" in typo.output
    missing = cli.invoke(app, ["transform", "--db", str(db), "--seeds", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_seeds_folder_from_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`[transform] seeds_dir` / TRANSFORM__SEEDS_DIR: every run uses it (the sync flow's too)."""
    db = tmp_path / "w.duckdb"
    _minimal_warehouse(db)
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "marketing_spend.csv").write_text("lead_source,month,amount\nGoogle,2026-02,250\n")
    monkeypatch.setenv("TRANSFORM__SEEDS_DIR", str(seeds))
    run_transforms(db)
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            "SELECT new_customers, job_revenue, marketing_spend, roas FROM "
            "analytics.lead_source_bucket_performance WHERE lead_source_bucket = 'Google'"
        ).fetchone()
    assert row == (1, Decimal("123.45"), Decimal("250.00"), Decimal("0.49"))
