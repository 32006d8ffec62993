"""Lead files as the platforms export them: encodings, delimiters, presets, test leads, the
preview, and re-staging rows once a file maps correctly (issue 17).

Fixtures are written by the tests in the platforms' shapes, with made-up people only.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.leads.files import detect_encoding, sniff_delimiter
from pipelines.leads.load import load_leads, preview_file
from pipelines.leads.profiles import parse_profiles
from tests.utils import write_lead_file

FACEBOOK_HEADER = [
    "id",
    "created_time",
    "ad_id",
    "ad_name",
    "adset_id",
    "adset_name",
    "campaign_id",
    "campaign_name",
    "form_id",
    "form_name",
    "is_organic",
    "platform",
    "what_service_do_you_need?",
    "full_name",
    "email",
    "phone_number",
]
GOOGLE_HEADER = [
    "Lead ID",
    "Campaign",
    "Ad group",
    "Form name",
    "Full name",
    "User email",
    "User phone",
    "Postal code",
    "Submit time",
    "Is test",
]
LINKEDIN_HEADER = [
    "First Name",
    "Last Name",
    "Email Address",
    "Phone Number",
    "Company Name",
    "Job Title",
    "Country/Region",
    "LinkedIn Profile URL",
    "Campaign Name",
    "Form Name",
]
NO_ROUTES = parse_profiles({"routes": {"default": {}}})


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's database file, in a working folder of its own (no leads_routes.toml there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path / "leads.duckdb"


def write_export(path: Path, header: list[str], rows: list[list[str]], **how: object) -> Path:
    """Platforms end lines with CRLF (the csv module's own default)."""
    return write_lead_file(path, header, rows, lineterminator="\r\n", **how)  # type: ignore[arg-type]


def facebook_export(path: Path) -> Path:
    """Ads Manager's download: UTF-16 LE with a BOM, tab-separated; one Testing Tool lead."""
    ad = ["2024-05-01T10:00:00-0700", "ag:1", "Spring AC", "as:1", "Metro", "c:1", "AC tune-up"]
    rows = [
        [
            "l:2001",
            *ad,
            "f:1",
            "Quote form",
            "false",
            "fb",
            "ac_repair",
            "Renée Côté",
            "renee@example.com",
            "+14155552671",
        ],  # fmt: skip
        [
            "l:2002",
            *ad,
            "f:1",
            "Quote form",
            "false",
            "ig",
            "heating",
            "Bo Li",
            "",
            "(415) 555-2672",
        ],  # fmt: skip
        [
            "l:2003",
            "2024-05-02T09:00:00-0700",
            "",
            "",
            "",
            "",
            "",
            "",
            "f:1",
            "Quote form",
            "true",
            "fb",
        ]  # fmt: skip
        + [f"<test lead: dummy data for {f}>" for f in ("what_service_do_you_need?", "full_name")]
        + ["test@fb.com", "<test lead: dummy data for phone_number>"],
    ]
    return write_export(
        path,
        FACEBOOK_HEADER,
        rows,
        encoding="utf-16-le",
        delimiter="\t",
        bom=codecs.BOM_UTF16_LE,
    )


def google_export(path: Path) -> Path:
    rows = [
        [
            "g-1",
            "Search",
            "Plumbing",
            "Quote",
            "Jane Roe",
            "jane@example.com",
            "+1 415-555-2671",
            "94107",
            "2024-05-01 10:00:00",
            "FALSE",
        ],  # fmt: skip
        [
            "g-2",
            "Search",
            "Plumbing",
            "Quote",
            "Test Person",
            "test@example.com",
            "+1 415-555-2673",
            "94107",
            "2024-05-01 10:05:00",
            "TRUE",
        ],  # fmt: skip
        [
            "g-3",
            "PMax",
            "",
            "Quote",
            "Sam Poe",
            "",
            "415 555 2674",
            "94110",
            "2024-05-01 11:00:00",
            "FALSE",
        ],  # fmt: skip
    ]
    return write_export(path, GOOGLE_HEADER, rows)


def rows_of(db: Path) -> dict[str, dict]:
    con = duckdb.connect(str(db))
    try:
        cur = con.execute("SELECT * FROM staging.leads")
        names = [d[0] for d in cur.description]
        return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}
    finally:
        con.close()


def flat(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------- encodings and delimiters


@pytest.mark.parametrize(
    ("bom", "encoding", "label"),
    [
        (codecs.BOM_UTF8, "utf-8", "UTF-8 (BOM)"),
        (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16 LE (BOM)"),
        (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 BE (BOM)"),
        (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32 LE (BOM)"),
        (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32 BE (BOM)"),
        (b"", "utf-8", "UTF-8"),
    ],
)
def test_byte_order_marks(db: Path, tmp_path: Path, bom: bytes, encoding: str, label: str) -> None:
    path = write_export(
        tmp_path / "b.csv",
        ["name", "email"],
        [["Zoë Ångström", "z@x.io"]],
        encoding=encoding,
        bom=bom,
    )
    assert detect_encoding(path).label == label
    result = load_leads(path, db_path=db, routes=NO_ROUTES)
    assert (result.staged, result.encoding) == (1, label)
    assert [r["name"] for r in rows_of(db).values()] == ["Zoë Ångström"]


def test_windows_1252_with_accented_names_loads_with_a_note(db: Path, tmp_path: Path) -> None:
    names = ["Renée Côté", "François Müller", "José “Pepe” Núñez", "Zoë Ångström"]
    rows = [[n, f"p{i}@example.com"] for i, n in enumerate(names)]
    path = write_export(tmp_path / "excel.csv", ["Name", "Email"], rows, encoding="cp1252")
    result = load_leads(path, db_path=db, routes=NO_ROUTES)
    assert (result.staged, result.failed) == (4, 0)
    assert result.encoding == "Windows-1252 (detected)"
    assert result.notes and "read as Windows-1252" in result.notes[0]
    assert sorted(r["name"] for r in rows_of(db).values()) == sorted(names)


def test_semicolon_file_with_quoted_header(db: Path, tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    # the quoted name holds commas: counting them would pick the wrong delimiter
    path.write_text(
        '"Name, full (first, last)";Email;Phone\n"Lee, Ann";ann@example.com;4155552671\n',
        encoding="utf-8",
    )
    result = load_leads(path, db_path=db, routes=NO_ROUTES)
    assert (result.staged, result.delimiter) == (1, "semicolon")
    [row] = rows_of(db).values()
    assert (row["email"], json.loads(row["extra"])) == (
        "ann@example.com",
        {"name_full_first_last": "Lee, Ann"},
    )


@pytest.mark.parametrize(
    ("line", "delimiter"),
    [
        ("name,email,phone", ","),
        ("name\temail\tphone", "\t"),
        ("name;email;phone", ";"),
        ("name|email|phone", "|"),
        ('"a;b;c",email', ","),
        ('"a,b,c";email;phone', ";"),
        ("email", ","),
    ],
)
def test_sniff_delimiter(line: str, delimiter: str) -> None:
    assert sniff_delimiter(line) == delimiter


# ---------------------------------------------------------------- platform presets


def test_facebook_utf16_tsv_loads_with_no_mapping(db: Path, tmp_path: Path) -> None:
    result = load_leads(facebook_export(tmp_path / "fb.csv"), db_path=db, routes=NO_ROUTES)
    assert (result.rows, result.staged, result.failed) == (3, 2, 1)
    assert (result.preset, result.encoding, result.delimiter) == (
        "Facebook Lead Ads",
        "UTF-16 LE (BOM)",
        "tab",
    )
    leads = rows_of(db)
    assert set(leads) == {"l:2001", "l:2002", "l:2003"}  # Facebook's id is the lead_id
    renee = leads["l:2001"]
    assert (renee["name"], renee["email"], renee["phone"]) == (
        "Renée Côté",
        "renee@example.com",
        "+14155552671",
    )
    assert renee["lead_source"] == "Facebook Lead Ads" and renee["status"] == "pending"
    assert json.loads(renee["extra"])["what_service_do_you_need"] == "ac_repair"
    assert leads["l:2002"]["status"] == "pending"  # phone only
    test = leads["l:2003"]
    assert (test["status"], test["error_reason"]) == (
        "failed_permanent",
        "line 4: test lead from Facebook Lead Ads",
    )


def test_google_ads_csv_with_a_test_row(db: Path, tmp_path: Path) -> None:
    result = load_leads(google_export(tmp_path / "google.csv"), db_path=db, routes=NO_ROUTES)
    assert (result.staged, result.failed, result.preset) == (2, 1, "Google Ads")
    assert [(p.line, p.reason) for p in result.problems] == [(3, "test lead from Google Ads")]
    leads = rows_of(db)
    assert (leads["g-1"]["name"], leads["g-1"]["email"], leads["g-1"]["phone"]) == (
        "Jane Roe",
        "jane@example.com",
        "+1 415-555-2671",
    )
    assert {r["lead_source"] for r in leads.values()} == {"Google Ads"}
    assert json.loads(leads["g-3"]["extra"])["postal_code"] == "94110"
    assert leads["g-2"]["status"] == "failed_permanent"


def test_linkedin_csv(db: Path, tmp_path: Path) -> None:
    rows = [
        [
            "Ana",
            "Ruiz",
            "ana@example.com",
            "+1 312 555 0142",
            "Acme HVAC",
            "Owner",
            "US",
            "https://www.linkedin.com/in/example-ana",
            "Spring",
            "Contact us",
        ],  # fmt: skip
        [
            "Kai",
            "Berg",
            "",
            "",
            "Berg Co",
            "CFO",
            "US",
            "https://www.linkedin.com/in/example-kai",
            "Spring",
            "Contact us",
        ],  # fmt: skip
    ]
    path = write_export(tmp_path / "li.csv", LINKEDIN_HEADER, rows)
    result = load_leads(path, db_path=db, routes=NO_ROUTES)
    assert (result.staged, result.failed, result.preset) == (1, 1, "LinkedIn Lead Gen Forms")
    assert result.problems[0].reason == "no valid email or usable phone"
    ana = next(r for r in rows_of(db).values() if r["first_name"] == "Ana")
    assert (ana["last_name"], ana["email"], ana["phone"], ana["company"], ana["lead_source"]) == (
        "Ruiz",
        "ana@example.com",
        "+1 312 555 0142",
        "Acme HVAC",
        "LinkedIn Lead Gen Forms",
    )
    assert json.loads(ana["extra"])["job_title"] == "Owner"


def test_a_plain_file_is_not_taken_for_a_platform(db: Path, tmp_path: Path) -> None:
    path = write_export(tmp_path / "crm.csv", ["id", "First Name", "Last Name", "Email"], [["1", "A", "B", "a@x.io"]])  # fmt: skip
    result = load_leads(path, db_path=db, routes=NO_ROUTES)
    assert result.preset is None
    assert rows_of(db)["1"]["lead_source"] is None


def test_lead_source_order_flag_route_then_platform(db: Path, tmp_path: Path) -> None:
    path = google_export(tmp_path / "google.csv")
    load_leads(path, db_path=db, routes=NO_ROUTES, lead_source="Spring promo")
    assert rows_of(db)["g-1"]["lead_source"] == "Spring promo"
    other = tmp_path / "other.duckdb"
    routes = parse_profiles({"routes": {"default": {"lead_source": "Paid search"}}})
    load_leads(path, db_path=other, routes=routes)
    assert rows_of(other)["g-1"]["lead_source"] is None  # the push sends the route's own


def test_route_fields_override_the_preset(db: Path, tmp_path: Path) -> None:
    routes = parse_profiles(
        {
            "routes": {
                "default": {"fields": {"User phone": "work_number", "Postal code": "address.zip"}}
            }
        }
    )
    path = google_export(tmp_path / "google.csv")
    load_leads(path, db_path=db, routes=routes)
    jane = rows_of(db)["g-1"]
    assert jane["phone"] is None  # the route sends it as the work number instead
    assert json.loads(jane["extra"])["user_phone"] == "+1 415-555-2671"
    preview = preview_file(path, routes=routes)
    assert dict(preview.columns)["User phone"] == (
        "extra.user_phone (route 'default' maps it to work_number)"
    )
    assert dict(preview.columns)["User email"] == "email (Google Ads)"


# ---------------------------------------------------------------- the preview


def test_cli_preview_shows_the_mapping_and_stages_nothing(db: Path, tmp_path: Path) -> None:
    path = google_export(tmp_path / "google.csv")
    result = CliRunner().invoke(app, ["leads", "load", "--preview", str(path), "--db", str(db)])
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "google.csv: recognised as a Google Ads export; UTF-8, comma-separated" in text
    for cell, becomes in [
        ("Lead ID", "lead_id (Google Ads)"),
        ("User email", "email (Google Ads)"),
        ("User phone", "phone (Google Ads)"),
        ("Full name", "name (Google Ads)"),
        ("Postal code", "extra.postal_code"),
    ]:
        assert f"{cell} │ {becomes}" in text
    assert "2 │ g-1 │ would stage" in text
    assert "3 │ g-2 │ would fail: test lead from Google Ads" in text
    assert "nothing was staged" in text
    assert not db.exists()


# ---------------------------------------------------------------- re-staging


def test_reload_after_a_route_mapping_restages_failed_rows_once(db: Path, tmp_path: Path) -> None:
    rows = [[f"c-{i}", f"Person {i}", f"p{i}@example.com"] for i in range(6)]
    path = write_export(tmp_path / "crm.csv", ["id", "name", "Contact Email"], rows)
    first = load_leads(path, db_path=db, routes=NO_ROUTES)
    assert (first.staged, first.failed) == (0, 6)  # the email column is not recognised
    con = duckdb.connect(str(db))
    # what the push may have done meanwhile: none of these may change
    con.execute("UPDATE staging.leads SET status = 'sent', hcp_customer_id = 'cus_1', attempts = 1 WHERE lead_id = 'c-0'")  # fmt: skip
    con.execute("UPDATE staging.leads SET status = 'sending', attempts = 1 WHERE lead_id = 'c-1'")
    con.execute("UPDATE staging.leads SET error_reason = 'HCP refused it: bad', attempts = 1 WHERE lead_id = 'c-2'")  # fmt: skip
    con.execute("UPDATE staging.leads SET status = 'linked', hcp_customer_id = 'cus_3', attempts = 1 WHERE lead_id = 'c-3'")  # fmt: skip
    con.close()
    before = rows_of(db)

    routes = parse_profiles({"routes": {"default": {"fields": {"Contact Email": "email"}}}})
    second = load_leads(path, db_path=db, routes=routes)
    assert (second.staged, second.restaged, second.already_staged, second.failed) == (0, 2, 4, 0)
    after = rows_of(db)
    for lead_id in ("c-4", "c-5"):
        assert after[lead_id]["status"] == "pending" and after[lead_id]["error_reason"] is None
        assert after[lead_id]["email"] == f"p{lead_id[-1]}@example.com"
        assert after[lead_id]["updated_at"] >= before[lead_id]["updated_at"]
    for lead_id in ("c-0", "c-1", "c-2", "c-3"):
        assert after[lead_id] == before[lead_id]

    third = load_leads(path, db_path=db, routes=routes)
    assert (third.restaged, third.already_staged) == (0, 6)
    assert rows_of(db) == after


def test_reload_of_a_platform_file_restages_by_its_id(db: Path, tmp_path: Path) -> None:
    # a Google file whose phones a strict route rejected; the route is relaxed, the file reloaded
    rows = [
        [
            "g-9",
            "Search",
            "Ads",
            "Quote",
            "Ola Nord",
            "ola@example.com",
            "+47 22 12 34 56",
            "",
            "",
            "FALSE",
        ]
    ]
    path = write_export(tmp_path / "g.csv", GOOGLE_HEADER, rows)
    strict = parse_profiles({"routes": {"default": {"non_us_phone": "reject"}}})
    assert load_leads(path, db_path=db, routes=strict).failed == 1
    result = load_leads(path, db_path=db, routes=NO_ROUTES)
    assert result.restaged == 1
    assert rows_of(db)["g-9"]["status"] == "pending"


def test_a_test_lead_is_not_restaged(db: Path, tmp_path: Path) -> None:
    path = google_export(tmp_path / "google.csv")
    load_leads(path, db_path=db, routes=NO_ROUTES)
    again = load_leads(path, db_path=db, routes=NO_ROUTES)
    assert (again.restaged, again.already_staged) == (0, 3)
    assert rows_of(db)["g-2"]["status"] == "failed_permanent"


def test_cli_summary_counts_restaged(db: Path, tmp_path: Path) -> None:
    path = write_export(tmp_path / "crm.csv", ["id", "name", "Contact Email"], [["c-1", "Ann", "a@example.com"]])  # fmt: skip
    runner = CliRunner()
    assert runner.invoke(app, ["leads", "load", str(path), "--db", str(db)]).exit_code == 0
    (tmp_path / "routes.toml").write_text(
        '[routes.default.fields]\n"Contact Email" = "email"\n', encoding="utf-8"
    )
    result = runner.invoke(
        app,
        ["leads", "load", str(path), "--db", str(db), "--routes", str(tmp_path / "routes.toml")],
    )
    assert result.exit_code == 0, result.output
    assert "staged 0, re-staged 1, already staged 0, failed 0" in flat(result.output)
