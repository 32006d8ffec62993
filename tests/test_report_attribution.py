"""`hcp report attribution`: the files are written, non-empty, and name every lead source."""

from __future__ import annotations

import csv
import html as html_lib
import io
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.csvsafe import FORMULA_STARTS
from pipelines.report import ReportError, attribution_report, load_report
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
