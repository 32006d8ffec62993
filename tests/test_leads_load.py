"""CSV -> staging.leads: aliases, encodings, header, idempotence, malformed rows, SQL inserts.

Platform exports, presets, re-staging and the preview: tests/test_leads_files.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.leads import outbox
from pipelines.leads.load import LoadError, load_leads
from pipelines.leads.profiles import ProfileBook, parse_profiles
from pipelines.push.tables import table_columns
from tests.utils import write_lead_file

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ROUTES = parse_profiles({"routes": {"default": {}, "strict": {"non_us_phone": "reject"}}})


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no leads_routes.toml, no hcp_sync.duckdb of the developer's


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "leads.duckdb"


def write_csv(
    path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8"
) -> Path:
    return write_lead_file(path, header, rows, encoding=encoding)


def rows_of(
    db: Path, sql: str = "SELECT * FROM staging.leads ORDER BY created_at, lead_id"
) -> list[dict]:
    con = duckdb.connect(str(db))
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


# ---------------------------------------------------------------- header and aliases


@pytest.mark.parametrize(
    ("header", "row", "expected"),
    [
        (
            ["name", "email", "phone"],
            ["Jane Doe", "j@x.io", "4155552671"],
            {"name": "Jane Doe", "phone": "4155552671"},
        ),
        (
            ["Full Name", "E-mail", "Mobile"],
            ["Jane Doe", "j@x.io", "4155552671"],
            {"name": "Jane Doe", "email": "j@x.io"},
        ),
        (
            ["First Name", "last_name", "Mobile Number"],
            ["Ann", "Lee", "4155552671"],
            {"first_name": "Ann", "last_name": "Lee"},
        ),
        (
            ["name", "email", "Source", "Company", "Notes"],
            ["A", "a@x.io", "Yelp", "Acme", "hi"],
            {"lead_source": "Yelp", "company": "Acme", "notes": "hi"},
        ),
        (["external_id", "email"], ["crm-7", "a@x.io"], {"lead_id": "crm-7"}),
        (["ID", "email"], ["crm-8", "a@x.io"], {"lead_id": "crm-8"}),
        (
            ["lead_id", "email", "Budget ($)"],
            ["crm-9", "a@x.io", "500"],
            {"lead_id": "crm-9", "extra": {"budget": "500"}},
        ),
    ],
)
def test_aliases(
    db: Path, tmp_path: Path, header: list[str], row: list[str], expected: dict
) -> None:
    result = load_leads(write_csv(tmp_path / "in.csv", header, [row]), db_path=db, routes=ROUTES)
    assert (result.staged, result.failed) == (1, 0)
    staged = rows_of(db)[0]
    for key, value in expected.items():
        got = json.loads(staged[key]) if key == "extra" else staged[key]
        assert got == value, key
    assert (
        staged["status"] == "pending" and staged["attempts"] == 0 and staged["account"] == "default"
    )


def test_bom_and_semicolons(db: Path, tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffName;Email\nZoë Ümlaut;zoe@x.io\n".encode())
    result = load_leads(path, db_path=db, routes=ROUTES)
    assert result.staged == 1
    assert rows_of(db)[0]["name"] == "Zoë Ümlaut"


@pytest.mark.parametrize(
    ("encoding", "label"),
    [("latin-1", "Windows-1252 (detected)"), ("utf-16", "UTF-16 LE (BOM)")],
)
def test_other_encodings_load(db: Path, tmp_path: Path, encoding: str, label: str) -> None:
    # once refused ("save it as UTF-8"); read as they are since issue 17
    path = write_csv(
        tmp_path / "enc.csv", ["name", "email"], [["Ann", "a@x.io"], ["Zoë", "z@x.io"]], encoding
    )
    result = load_leads(path, db_path=db, routes=ROUTES)
    assert (result.staged, result.failed, result.encoding) == (2, 0, label)
    assert sorted(r["name"] for r in rows_of(db)) == ["Ann", "Zoë"]


def test_binary_file_is_refused_and_stages_nothing(db: Path, tmp_path: Path) -> None:
    path = tmp_path / "image.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64)
    with pytest.raises(LoadError, match="not text in any encoding"):
        load_leads(path, db_path=db, routes=ROUTES)
    assert not db.exists()  # refused before the database was even opened


def test_missing_header(db: Path, tmp_path: Path) -> None:
    path = tmp_path / "noheader.csv"
    path.write_text("Jane Doe,jane@x.io,4155552671\n", encoding="utf-8")
    with pytest.raises(
        LoadError, match="missing header: the first line must name the columns.*'Jane Doe'"
    ):
        load_leads(path, db_path=db, routes=ROUTES)


def test_empty_file(db: Path, tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("\n\n", encoding="utf-8")
    with pytest.raises(LoadError, match="is empty"):
        load_leads(tmp_path / "empty.csv", db_path=db, routes=ROUTES)


def test_unknown_route_flag_is_refused(db: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", ["email"], [["a@x.io"]])
    with pytest.raises(LoadError, match="unknown route 'nope'"):
        load_leads(path, db_path=db, route="nope", routes=ROUTES)


# ---------------------------------------------------------------- idempotence


def test_same_file_twice_stages_nothing_new(db: Path, tmp_path: Path) -> None:
    rows = [[f"Person {i}", f"p{i}@x.io", ""] for i in range(30)] + [["Nobody", "", ""]]
    path = write_csv(tmp_path / "dup.csv", ["name", "email", "phone"], rows)
    first = load_leads(path, db_path=db, routes=ROUTES, batch_rows=7)
    assert (first.rows, first.staged, first.failed, first.already_staged) == (31, 30, 1, 0)
    second = load_leads(path, db_path=db, routes=ROUTES, batch_rows=7)
    assert (second.staged, second.failed, second.already_staged) == (0, 0, 31)
    # The content hash ignores spacing and case, and does not depend on row order.
    reordered = write_csv(
        tmp_path / "dup2.csv", ["Phone", "Name", "EMAIL"], [["", "  person  0 ", "P0@X.IO"]]
    )
    assert load_leads(reordered, db_path=db, routes=ROUTES).already_staged == 1
    assert len(rows_of(db)) == 31


def test_duplicate_rows_in_one_file_are_staged_once(db: Path, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "d.csv", ["id", "email"], [["7", "a@x.io"], ["7", "b@x.io"], ["8", "c@x.io"]]
    )
    result = load_leads(path, db_path=db, routes=ROUTES)
    assert (result.staged, result.already_staged) == (2, 1)


def test_lead_source_and_route_flags_fill_empty_cells(db: Path, tmp_path: Path) -> None:
    routes = parse_profiles({"routes": {"default": {}, "ads": {}}})
    path = write_csv(
        tmp_path / "f.csv",
        ["email", "source", "route"],
        [["a@x.io", "", ""], ["b@x.io", "Yelp", "default"]],
    )
    load_leads(path, db_path=db, lead_source="Flyer", route="ads", routes=routes, account="acme")
    got = {r["email"]: (r["lead_source"], r["route"], r["account"]) for r in rows_of(db)}
    assert got == {"a@x.io": ("Flyer", "ads", "acme"), "b@x.io": ("Yelp", "default", "acme")}


# ---------------------------------------------------------------- malformed rows


def malformed_rows() -> list[tuple[list[str], str]]:
    """150+ rows that must each be staged failed_permanent, with the reason they must show.

    Columns: name, email, phone, company, notes, route.
    """
    cases: list[tuple[list[str], str]] = []
    for i in range(30):
        cases.append(
            ([f"Contactless {i}", "", "", f"Co {i}", "", ""], r"^no valid email or usable phone$")
        )
    bad_emails = ["plain", "a@@b.com", "sp ace@x.com", "x@nodot", "@x.com", "dots..x@y.com"]
    for i in range(30):
        cases.append(
            (
                [f"Bad Email {i}", f"{bad_emails[i % 6]}{i}", "", "", "", ""],
                r"^no valid email or usable phone \(email '",
            )
        )
    bad_phones = ["garbage", "555-1234", "123", "+1 111 111 1111", "phone?", "000-000-0000"]
    for i in range(30):
        cases.append(
            (
                [f"Bad Phone {i}", "", f"{bad_phones[i % 6]}", "", "", ""],
                r"^no valid email or usable phone \(phone '",
            )
        )
    for i in range(10):
        cases.append(
            (
                [f"Foreign {i}", "", "+44 20 7946 0958", "", "", "strict"],
                r"^non-US phone '\+44 20 7946 0958' rejected by route 'strict'$",
            )
        )
    huge = [
        ("N" * 300, "a@x.io", "", "", "", r"^name is 300 characters \(limit 255\)$"),
        ("Ok", "a@x.io", "", "C" * 1000, "", r"^company is 1000 characters \(limit 255\)$"),
        ("Ok", "a@x.io", "", "", "n" * 200_000, r"^notes is 200000 characters \(limit 10000\)$"),
        (
            "Ok",
            ("e" * 300) + "@x.io",
            "",
            "",
            "",
            r"^no valid email or usable phone \(email 'e{30,}…': email is 30\d characters \(limit 255\)\)$",
        ),
    ]
    for i in range(20):
        name, email, phone, company, notes, why = huge[i % 4]
        cases.append(
            (
                [name, email.replace("@", f"{i}@", 1) if email else "", phone, company, notes, ""],
                why,
            )
        )
    controls = ["\x00", "\x07", "\x1b", "\x7f", "\x08"]
    for i in range(20):
        ch = controls[i % 5]
        field = ["name", "company", "notes"][i % 3]
        row = [f"Ctl {i}", f"ctl{i}@x.io", "", "", "", ""]
        row[{"name": 0, "company": 3, "notes": 4}[field]] += ch
        cases.append((row, rf"^control character U\+{ord(ch):04X} in {field}$"))
    for i in range(12):
        cases.append(
            (
                [f"Wide {i}", f"wide{i}@x.io", "", "", "", "", "surplus", "more"],
                r"^8 fields where the header has 6",
            )
        )
    return cases


def test_malformed_rows_are_staged_failed_with_line_and_reason(db: Path, tmp_path: Path) -> None:
    cases = malformed_rows()
    assert len(cases) >= 150
    valid = [[f"Valid {i}", f"valid{i}@x.io", "(415) 555-2671", "", "", ""] for i in range(40)]
    rows: list[list[str]] = []
    expected: dict[int, str] = {}
    for i, (row, why) in enumerate(cases):
        rows.append(valid[i] if i < len(valid) else [f"Valid x{i}", f"vx{i}@x.io", "", "", "", ""])
        rows.append(row)
        expected[len(rows) + 1] = why  # +1: the header is line 1
    path = write_csv(
        tmp_path / "bad.csv", ["name", "email", "phone", "company", "notes", "route"], rows
    )
    result = load_leads(path, db_path=db, routes=ROUTES, batch_rows=50)

    assert result.failed == len(cases)
    assert result.staged == len(cases)  # one valid row before each bad one
    assert {p.line for p in result.problems} == set(expected)
    for problem in result.problems:
        assert re.search(expected[problem.line], problem.reason), (problem.line, problem.reason)

    staged = rows_of(db)
    failed = [r for r in staged if r["status"] == outbox.FAILED_PERMANENT]
    assert len(failed) == len(cases)
    for row in failed:
        line = int(re.match(r"^line (\d+): ", row["error_reason"]).group(1))
        assert re.search(expected[line], row["error_reason"].split(": ", 1)[1])
    assert all(
        r["status"] == "pending" and r["error_reason"] is None
        for r in staged
        if r["status"] != "failed_permanent"
    )
    # nothing is lost: the huge note and the surplus fields are kept as staged
    assert max(len(r["notes"] or "") for r in staged) == 200_000
    assert any("_surplus_fields" in (r["extra"] or "") for r in failed)


def test_multiline_quoted_field_reports_its_first_line(db: Path, tmp_path: Path) -> None:
    path = tmp_path / "ml.csv"
    path.write_text('name,email,notes\nAnn,a@x.io,"two\nlines"\nBob,,\n', encoding="utf-8")
    result = load_leads(path, db_path=db, routes=ROUTES)
    assert result.staged == 1
    assert [p.line for p in result.problems] == [4]


def test_unclosed_quote_is_named_in_the_reason(db: Path, tmp_path: Path) -> None:
    # found by the reliability drill: the reason used to be only "no valid email or usable
    # phone", while the real mistake (a quote never closed) had swallowed the next row
    path = tmp_path / "quote.csv"
    path.write_text('name,email,phone\n"Ann,ann@x.io,\nBob,bob@x.io,\n', encoding="utf-8")
    result = load_leads(path, db_path=db, routes=ROUTES)
    assert result.staged == 0 and result.failed == 1
    assert "unclosed quote" in result.problems[0].reason


# ---------------------------------------------------------------- the outbox schema


def test_sql_insert_with_raw_columns_only_is_pending(db: Path) -> None:
    con = duckdb.connect(str(db))
    outbox.ensure_schema(con)
    con.execute("INSERT INTO staging.leads (name, email) VALUES ('Ann Lee', 'ann@x.io')")
    con.execute("INSERT INTO staging.leads (lead_id, phone) VALUES ('mine-1', '4155552671')")
    rows = con.execute(
        "SELECT lead_id, account, status, attempts, created_at IS NOT NULL, updated_at IS NOT NULL "
        "FROM staging.leads ORDER BY lead_id"
    ).fetchall()
    con.close()
    assert rows[0] == ("mine-1", "default", "pending", 0, True, True)
    assert rows[1][0].startswith("sql-") and rows[1][1:] == ("default", "pending", 0, True, True)


def test_migration_adds_columns_without_losing_rows(db: Path) -> None:
    con = duckdb.connect(str(db))
    # An older outbox: fewer columns, one row.
    con.execute("CREATE SCHEMA staging")
    con.execute(
        "CREATE TABLE staging.leads (lead_id VARCHAR PRIMARY KEY, email VARCHAR, status VARCHAR)"
    )
    con.execute("INSERT INTO staging.leads VALUES ('old-1', 'old@x.io', 'sent')")
    outbox.ensure_schema(con)
    outbox.ensure_schema(con)  # idempotent
    cols = table_columns(con, "leads")
    row = con.execute(
        "SELECT lead_id, email, status, attempts, account FROM staging.leads"
    ).fetchall()
    con.close()
    assert sorted(c.name for c in outbox.LEADS_COLUMNS) == sorted(cols)
    assert row == [("old-1", "old@x.io", "sent", 0, "default")]


def test_example_csv_loads(db: Path) -> None:
    routes = parse_profiles({"routes": {"default": {}, "ads": {"non_us_phone": "reject"}}})
    result = load_leads(EXAMPLES / "leads.csv", db_path=db, routes=routes)
    assert (result.staged, result.failed) == (5, 1)


def test_cli_load_prints_counts_and_lines(db: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", ["name", "email"], [["Ann", "a@x.io"], ["Bob", "nope"]])
    runner = CliRunner()
    result = runner.invoke(app, ["leads", "load", str(path), "--db", str(db)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "staged 1" in text and "already staged 0" in text and "failed 1" in text
    assert "c.csv: UTF-8, comma-separated" in text
    assert "3 │ no valid email or usable phone (email 'nope'" in text
    again = runner.invoke(app, ["leads", "load", str(path), "--db", str(db)])
    assert "staged 0, re-staged 0, already staged 2, failed 0" in " ".join(again.output.split())


def test_cli_load_windows_1252_loads_with_a_note(db: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "l1.csv", ["name", "email"], [["Zoë", "z@x.io"]], "cp1252")
    result = CliRunner().invoke(app, ["leads", "load", str(path), "--db", str(db)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Windows-1252 (detected), comma-separated" in text
    assert "note: not UTF-8 (byte 0xeb on line 2): read as Windows-1252" in text
    assert rows_of(db)[0]["name"] == "Zoë"


def test_routebook_is_used_for_validation(db: Path, tmp_path: Path) -> None:
    book = ProfileBook()
    path = write_csv(tmp_path / "x.csv", ["email", "route"], [["a@x.io", "elsewhere"]])
    result = load_leads(path, db_path=db, routes=book)
    assert result.failed == 1
    assert "unknown route 'elsewhere'" in result.problems[0].reason
