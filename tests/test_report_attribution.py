"""`hcp report attribution`: the files are written, non-empty, and name every lead source."""

from __future__ import annotations

import csv
import html as html_lib
import io
import os
import shutil
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.csvsafe import FORMULA_STARTS
from pipelines.report import ReportError, attribution_report, charts, load_report
from pipelines.report.model import COLUMNS, footnotes, visible_columns
from pipelines.transform import run_transforms
from tests.test_csvsafe import HOSTILE

SPEND = (
    Path(__file__).resolve().parents[1] / "pipelines" / "cli" / "demo_data" / "marketing_spend.csv"
)


@pytest.fixture(scope="module")
def modelled(tmp_path_factory: pytest.TempPathFactory, synced_warehouse: Path) -> Path:
    """The session's sandbox sync, transformed with the demo's sample spend."""
    db = tmp_path_factory.mktemp("report") / "report.duckdb"
    shutil.copy(synced_warehouse, db)
    run_transforms(db, seeds={"marketing_spend": SPEND})
    return db


@pytest.fixture
def db(modelled: Path, tmp_path: Path) -> Path:
    path = tmp_path / "hcp_sync.duckdb"
    shutil.copy(modelled, path)
    return path


def _sources(db: Path) -> set[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            r[0]
            for r in con.execute("SELECT DISTINCT lead_source FROM analytics.customers").fetchall()
        }


def test_html_png_csv_written_and_name_every_lead_source(db: Path, tmp_path: Path) -> None:
    outs = [tmp_path / "r.html", tmp_path / "r.png", tmp_path / "sub" / "r.csv"]
    report, written = attribution_report(db, out=outs)
    assert written == outs
    sources = _sources(db)
    assert len(sources) > 10 and "No lead source" in sources
    html = outs[0].read_text()
    png = outs[1].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
    with outs[2].open() as handle:
        rows = list(csv.DictReader(handle))
    for source in sources:
        assert html_lib.escape(source) in html, source
    assert {r["lead_source"] for r in rows} == sources
    assert "<svg" in html and "http" not in html.split("<svg", 1)[0].lower().replace(
        "http://www.w3.org", ""
    )
    # figures agree with the model, and the CSV is exact
    with duckdb.connect(str(db), read_only=True) as con:
        revenue = con.execute(
            "SELECT sum(job_revenue) FROM analytics.lead_source_performance"
        ).fetchone()[0]
    assert sum(Decimal(r["job_revenue"]) for r in rows) == revenue == report.total.job_revenue
    assert report.has_spend and report.total.roas is not None


def test_since_keeps_later_cohorts_only(db: Path) -> None:
    everything = load_report(db)
    recent = load_report(db, since=date(2026, 6, 15))
    assert recent.first_month is not None and recent.first_month.isoformat() == "2026-06-01"
    assert 0 < recent.total.new_customers < everything.total.new_customers


def test_cli_prints_table_and_writes_files(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.csv"
    result = CliRunner().invoke(
        app, ["report", "attribution", "--db", str(db), "--since", "2026-01", "--out", str(out)],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Lead-source attribution" in result.output and "All lead sources" in result.output
    assert out.stat().st_size > 0


def test_clear_errors(db: Path, tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="unknown report format"):
        attribution_report(db, out=tmp_path / "r.pdf")
    bare = tmp_path / "bare.duckdb"
    duckdb.connect(str(bare)).close()
    with pytest.raises(ReportError, match="hcp transform"):
        load_report(bare)
    result = CliRunner().invoke(app, ["report", "attribution", "--db", str(bare)])
    assert result.exit_code == 1 and "hcp transform" in result.output


# public-typed strings that start a formula (shared with the unit tests), and "-5": it looks
# numeric, but it is text someone typed, so it is prefixed too (pipelines/csvsafe.py)
HOSTILE_SOURCES = [*HOSTILE, "-5"]


def test_hostile_lead_sources_neutralised_in_csv_escaped_in_html(db: Path, tmp_path: Path) -> None:
    """Lead Sources typed by the public: no CSV cell starts a formula, the HTML shows them as text."""
    hostile = [*HOSTILE_SOURCES, "<script>alert(1)</script>", "Google;=1+2"]
    with duckdb.connect(str(db)) as con:
        table = "analytics.lead_source_performance"
        real = [
            r[0]
            for r in con.execute(f"SELECT DISTINCT lead_source FROM {table} ORDER BY 1").fetchall()
        ]
        assert len(real) >= len(hostile)
        for old, new in zip(real, hostile, strict=False):
            con.execute(f"UPDATE {table} SET lead_source = ? WHERE lead_source = ?", [new, old])
        # a refund-heavy source: one row, amount_paid negative
        con.execute(
            f"DELETE FROM {table} WHERE lead_source = $s AND month > "
            f"(SELECT min(month) FROM {table} WHERE lead_source = $s)",
            {"s": hostile[0]},
        )
        con.execute(f"UPDATE {table} SET amount_paid = -12.50 WHERE lead_source = ?", [hostile[0]])
    html_out, csv_out = tmp_path / "r.html", tmp_path / "r.csv"
    attribution_report(db, out=[html_out, csv_out])

    text = csv_out.read_text(encoding="utf-8")
    with csv_out.open(newline="", encoding="utf-8") as handle:
        rows = {r["lead_source"]: r for r in csv.DictReader(handle)}
    for source in HOSTILE_SOURCES:
        assert "'" + source in rows, source
        assert source not in rows
    assert "Google;=1+2" in rows and "<script>alert(1)</script>" in rows
    for raw in csv.reader(
        io.StringIO(text, newline=""), delimiter=";"
    ):  # a ';' spreadsheet opens it
        assert not any(cell.startswith(FORMULA_STARTS) for cell in raw), raw
    # figures stay numbers: bare, negative included, and they parse
    negative = rows["'" + hostile[0]]
    assert negative["amount_paid"] == "-12.50" and ",-12.50," in text and "'-12.50" not in text
    for row in rows.values():
        int(row["new_customers"]), int(row["new_jobs"]), Decimal(row["job_revenue"])
        Decimal(row["amount_paid"])

    html = html_out.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html_lib.escape('=HYPERLINK("http://x","y")') in html
    assert '<a href="http://x"' not in html


def test_by_bucket_meets_bucket_spend_with_its_revenue(db: Path, tmp_path: Path) -> None:
    """Issue 22: the demo's spend names buckets ("Facebook", "Google"); by bucket each meets the
    revenue of all its sources, and the rows add up to the source view's."""
    by_source = load_report(db)
    by_bucket, [out] = attribution_report(db, by="bucket", out=tmp_path / "b.csv")
    buckets = {r.lead_source_bucket: r for r in by_bucket.rows}
    assert set(buckets) == {r.lead_source_bucket for r in by_source.rows}
    for name, row in buckets.items():
        sources = [r for r in by_source.rows if r.lead_source_bucket == name]
        assert row.job_revenue == sum((r.job_revenue for r in sources), Decimal(0)), name
        assert row.new_customers == sum(r.new_customers for r in sources), name
    spend = Decimal(0)
    with SPEND.open() as handle:
        for r in csv.DictReader(handle):
            spend += Decimal(r["amount"])
    assert by_bucket.total.marketing_spend == spend
    fb = buckets["Facebook"]
    assert fb.marketing_spend and fb.roas == (fb.job_revenue / fb.marketing_spend).quantize(
        Decimal("0.01")
    )
    assert fb.cost_per_customer == (fb.marketing_spend / fb.new_customers).quantize(Decimal("0.01"))
    # the source view keeps only spend naming a Lead Source, and says where the rest went
    assert by_source.bucket_spend == spend - by_source.total.marketing_spend > 0
    assert any("--by bucket" in n for n in footnotes(by_source))
    with out.open() as handle:
        header = next(csv.reader(handle))
    assert header[0] == "lead_source_bucket" and "lead_source" not in header and "roas" in header


def test_until_and_the_monthly_trend(db: Path) -> None:
    spring = load_report(db, since=date(2026, 3, 1), until=date(2026, 5, 31))
    assert (spring.first_month, spring.last_month) == (date(2026, 3, 1), date(2026, 5, 1))
    months = spring.months()
    assert [m[0] for m in months] == [date(2026, 3, 1), date(2026, 4, 1), date(2026, 5, 1)]
    assert sum(m[1] for m in months) == spring.total.new_customers
    assert sum((m[3] for m in months), Decimal(0)) == spring.total.job_revenue
    with pytest.raises(ReportError, match="before --since"):
        load_report(db, since=date(2026, 5, 1), until=date(2026, 3, 1))
    result = CliRunner().invoke(
        app, ["report", "attribution", "--db", str(db), "--until", "2026-05", "--by", "bucket",
              "--trend"], env={"COLUMNS": "220"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Monthly trend" in result.output and "2026-05" in result.output
    assert "2026-06" not in result.output and "All buckets" in result.output
    bad = CliRunner().invoke(app, ["report", "attribution", "--db", str(db), "--by", "channel"])
    assert bad.exit_code == 2 and "source, bucket" in bad.output


def test_counts_beside_rates_and_footnotes_on_every_format(db: Path) -> None:
    report = load_report(db)
    row = next(r for r in report.rows if r.new_estimates)
    close_col = next(c for c in COLUMNS if c.header == "Est. close")
    assert close_col.render(row) == (
        f"{row.estimate_close_rate * 100:.0f}% ({row.estimates_won}/{row.new_estimates})"
    )
    notes = footnotes(report)
    assert any("ROAS = revenue / spend" in n for n in notes)
    svg = charts.report_svg(report)
    page = charts.report_html(report)
    for note in notes:  # the PNG is this SVG rendered: the footnote is on the image
        words = note.split()[:6]
        assert html_lib.escape(" ".join(words)) in svg, note
        assert html_lib.escape(note) in page, note


def test_no_spend_no_spend_columns_or_footnote(synced_warehouse: Path, tmp_path: Path) -> None:
    db = tmp_path / "plain.duckdb"
    shutil.copy(synced_warehouse, db)
    run_transforms(db)  # the shipped, empty spend seed
    report = load_report(db)
    assert not report.has_spend and report.bucket_spend is None
    assert not any("spend" in n.lower() for n in footnotes(report))
    headers = [c.header for c in visible_columns(report)]
    assert "ROAS" not in headers and "Spend" not in headers
    assert "spend" not in charts.report_svg(report).lower().replace("marketing_spend", "")


def test_bucket_colours_are_stable() -> None:
    """Same bucket, same colour, whatever else is in the report and in every run (no `hash`)."""
    assert charts.bucket_color("Google") == "#2563eb"
    assert charts.bucket_color("No lead source") == charts.NO_SOURCE
    custom = charts.bucket_color("Outdoor")
    assert custom in charts.PALETTE and custom == charts.bucket_color("Outdoor")
    code = "from pipelines.report.charts import bucket_color; print(bucket_color('Outdoor'))"
    other_run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONHASHSEED": "123"},
    )  # fmt: skip
    assert other_run.stdout.strip() == custom
