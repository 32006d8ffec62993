"""`hcp leads push --dry-run`, `hcp leads status`, `hcp leads retry`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest
import respx
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.leads import outbox
from pipelines.leads.load import load_leads
from pipelines.leads.plan import plan_push
from pipelines.leads.profiles import parse_profiles
from pipelines.leads.status import lead_status, retry_leads

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
KEY = "dryrun_SECRET_key_77"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # Credentials are configured: the dry run must still send nothing.
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__API_KEY", KEY)
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__BASE_URL", "https://hcp.test")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "leads.duckdb"
    load_leads(
        EXAMPLES / "leads.csv",
        db_path=path,
        routes=parse_profiles({"routes": {"default": {}, "ads": {}}}),
    )
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dry_run_sends_nothing_and_changes_nothing(db: Path, tmp_path: Path) -> None:
    (tmp_path / "leads_routes.toml").write_bytes((EXAMPLES / "leads_routes.toml").read_bytes())
    before = digest(db)
    with respx.mock(assert_all_called=False) as mock:
        result = CliRunner().invoke(app, ["leads", "push", "--dry-run", "--json", "--db", str(db)])
        assert mock.calls.call_count == 0
    assert result.exit_code == 0, result.output
    assert digest(db) == before
    plans = {p["lead_id"]: p for p in json.loads(result.output)}
    assert plans["web-1001"]["payload"] == {
        "first_name": "Jane",
        "last_name": "Doe",
        "email": "jane.doe@example.com",
        "mobile_number": "4155552671",
        "lead_source": "Website",
        "addresses": [{"zip": "94110"}],
        "notes": "Wants a quote for a water heater\nBudget: 2500",
    }
    assert plans["web-1004"]["payload"]["tags"] == ["ads"]
    assert plans["web-1004"]["payload"]["lead_source"] == "Google Ads"
    assert plans["web-1005"]["dropped"] == ["phone '+44 20 7946 0958': non-US, moved to notes"]
    assert "web-1006" not in plans  # failed at load: not claimable
    assert {p["action"] for p in plans.values()} == {"send"}
    assert KEY not in result.output


def test_dry_run_table_and_filters(db: Path, tmp_path: Path) -> None:
    unknown = CliRunner().invoke(
        app, ["leads", "push", "--dry-run", "--route", "ads", "--db", str(db)]
    )
    assert unknown.exit_code == 1 and "unknown route 'ads'" in unknown.output
    (tmp_path / "leads_routes.toml").write_bytes((EXAMPLES / "leads_routes.toml").read_bytes())
    with respx.mock(assert_all_called=False) as mock:
        result = CliRunner().invoke(
            app, ["leads", "push", "--dry-run", "--route", "ads", "--db", str(db)]
        )
        assert mock.calls.call_count == 0
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "would send 2, reconcile 0, fail 0" in text
    assert "Nothing was sent or changed" in text
    assert len(plan_push(db, limit=2).leads) == 2
    assert plan_push(db, account="other").leads == []


def test_dry_run_shows_failures_and_leftovers(db: Path) -> None:
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO staging.leads (lead_id, name) VALUES ('sql-nocontact', 'Only A Name')")
    con.execute("UPDATE staging.leads SET status = 'sending' WHERE lead_id = 'web-1002'")
    con.close()
    plan = {p.lead_id: p for p in plan_push(db).leads}
    assert plan["sql-nocontact"].action == "fail"
    assert plan["sql-nocontact"].reason == "no valid email or usable phone"
    assert plan["web-1002"].action == "reconcile"


def test_dry_run_on_a_new_database_creates_nothing(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.duckdb"
    assert plan_push(fresh).leads == []
    con = duckdb.connect(str(fresh))
    assert not outbox.schema_exists(con)
    con.close()


def test_status_counts_reasons_and_examples(db: Path) -> None:
    con = duckdb.connect(str(db))
    con.execute(
        "INSERT INTO staging.leads (lead_id, account, email, status, error_reason) VALUES "
        "('a1', 'acme', 'a1@x.io', 'failed_permanent', 'duplicate customer'),"
        "('a2', 'acme', 'a2@x.io', 'failed_permanent', 'duplicate customer'),"
        "('a3', 'acme', 'a3@x.io', 'failed_retryable', 'HTTP 503: unavailable'),"
        "('a4', 'acme', 'a4@x.io', 'skipped', NULL)"
    )
    con.execute(
        "INSERT INTO staging.push_runs (run_id, account, status, sent, skipped, requests) "
        "VALUES ('r1', 'acme', 'ok', 3, 7, 4)"
    )
    con.close()
    report = lead_status(db)
    assert ("default", "pending", 5) in report.counts
    assert ("default", "failed_permanent", 1) in report.counts
    assert ("acme", "failed_permanent", 2) in report.counts
    assert ("acme", "skipped", 1) in report.counts
    top = report.reasons[0]
    assert (top.reason, top.leads, top.example_lead_id) == ("duplicate customer", 2, "a1")
    assert report.runs[0]["run_id"] == "r1" and report.runs[0]["skipped"] == 7
    assert [r.reason for r in lead_status(db, account="default").reasons] == [
        "no valid email or usable phone"
    ]

    result = CliRunner().invoke(app, ["leads", "status", "--db", str(db)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "failed_permanent" in text and "duplicate customer" in text and "a1" in text
    assert "skipped" in text and " 7 " in text  # the skipped count of the run


def test_status_groups_reasons_that_differ_only_by_value(tmp_path: Path) -> None:
    path = tmp_path / "g.duckdb"
    con = duckdb.connect(str(path))
    outbox.ensure_schema(con)
    con.execute(
        "INSERT INTO staging.leads (lead_id, status, error_reason) VALUES "
        "('x1', 'failed_permanent', 'line 2: no valid email or usable phone (email ''a'': not an email address)'),"
        "('x2', 'failed_permanent', 'line 9: no valid email or usable phone (email ''b'': not an email address)')"
    )
    con.close()
    [reason] = lead_status(path).reasons
    assert reason.leads == 2
    assert reason.reason == "no valid email or usable phone (email '…': not an email address)"


def test_status_without_outbox(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["leads", "status", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 0
    assert "No leads staged yet" in result.output


def test_retry_requeues_retryable_and_with_permanent_the_failed(db: Path) -> None:
    con = duckdb.connect(str(db))
    con.execute(
        "UPDATE staging.leads SET status = 'failed_retryable', attempts = 3 WHERE lead_id = 'web-1001'"
    )
    con.execute("UPDATE staging.leads SET status = 'sent' WHERE lead_id = 'web-1002'")
    con.close()
    assert retry_leads(db, account="other") == 0
    result = CliRunner().invoke(app, ["leads", "retry", "--db", str(db)])
    assert result.exit_code == 0 and "Requeued 1 failed_retryable" in result.output
    assert retry_leads(db) == 0
    assert retry_leads(db, permanent=True) == 1  # web-1006, failed at load
    con = duckdb.connect(str(db))
    rows = dict(
        con.execute("SELECT lead_id, status || ':' || attempts FROM staging.leads").fetchall()
    )
    con.close()
    assert rows["web-1001"] == "pending:0"
    assert rows["web-1006"] == "pending:0"
    assert rows["web-1002"] == "sent:0"  # terminal successes are never requeued


def test_requeued_row_with_surplus_fields_is_not_sent(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    csv_file = tmp_path / "s.csv"
    csv_file.write_text("name,email\nAnn,a@x.io,shifted\n", encoding="utf-8")
    assert load_leads(csv_file, db_path=path).failed == 1
    assert retry_leads(path, permanent=True) == 1
    [planned] = plan_push(path).leads
    assert planned.action == "fail"
    assert "extra fields" in (planned.reason or "")
