"""`pipelines.csvsafe`: no exported CSV cell starts a spreadsheet formula; numbers stay numbers.

Also the guard that keeps it the one home of the rule: a CSV writer anywhere in the project's
code (outside the loader's input fixtures) must be `csvsafe`'s.
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest

from pipelines.csvsafe import FORMULA_STARTS, safe_cell, safe_writer

ROOT = Path(__file__).resolve().parents[1]

HOSTILE = [
    '=HYPERLINK("http://x","y")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_text_starting_a_formula_gets_a_quote(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["Google", "", "1-800-PLUMBER", "Yelp =x", "'already"])
def test_other_text_is_untouched(text: str) -> None:
    assert safe_cell(text) == text


def test_numbers_stay_numbers_text_that_looks_numeric_does_not() -> None:
    for number in (Decimal("-12.50"), -3, 0, 2.5, -0.25, Decimal("1800.00")):
        assert safe_cell(number) is number
    # public-typed text is prefixed even when it reads as a number (documented in the module)
    assert safe_cell("-5") == "'-5"
    assert safe_cell(None) == ""
    assert safe_cell(True) == "True"  # a bool is not a figure
    assert safe_cell(-1) == -1 and not isinstance(safe_cell(False), bool)


def test_writer_round_trip_numbers_bare_text_quoted() -> None:
    buf = io.StringIO(newline="")
    writer = safe_writer(buf)
    writer.writerows([["lead_source", "amount_paid", "jobs"], ["=1+1", Decimal("-12.50"), -3]])
    assert buf.getvalue().splitlines()[1] == '"\'=1+1",-12.50,-3'
    rows = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
    assert rows[1] == ["'=1+1", "-12.50", "-3"] and Decimal(rows[1][1]) == Decimal("-12.50")


def test_separator_inside_text_cannot_start_a_new_cell() -> None:
    """Opened where the list separator is `;`, `Google;=1+2` must stay one cell."""
    buf = io.StringIO(newline="")
    safe_writer(buf).writerow(["Google;=1+2", "Yelp", Decimal("-1.00")])
    for cell in next(csv.reader(io.StringIO(buf.getvalue()), delimiter=";")):
        assert not cell.startswith(FORMULA_STARTS), cell


def test_quoting_cannot_be_switched_off() -> None:
    with pytest.raises(ValueError, match="QUOTE_NONNUMERIC"):
        safe_writer(io.StringIO(), quoting=csv.QUOTE_MINIMAL)


# Files that write CSV *input* for the lead loader on purpose, raw: they stand in for a user's
# upload (see pipelines/csvsafe.py). Anything else writing CSV must use pipelines.csvsafe.
LOADER_INPUTS = {"benchmarks/drill_inputs.py", "benchmarks/bench_leads.py"}
WRITES_CSV = re.compile(r"csv\.writer\(|DictWriter\(|\.to_csv\(|\.write_csv\(|\bCOPY\b[^;]*\bTO\b")


def test_every_csv_writer_goes_through_csvsafe() -> None:
    roots = ["pipelines", "sources", "flows", "sandbox", "transforms", "benchmarks", "scripts"]
    files = [p for r in roots for p in (ROOT / r).rglob("*.py")] + [ROOT / "run.py"]
    assert len(files) > 20  # the scan found the code
    offenders = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        if rel in LOADER_INPUTS or rel == "pipelines/csvsafe.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if WRITES_CSV.search(line):
                offenders.append(f"{rel}:{number}: {line.strip()}")
    assert not offenders, "write CSV through pipelines.csvsafe.safe_writer:\n" + "\n".join(
        offenders
    )
    for rel in LOADER_INPUTS:  # the exemption list does not outlive its files
        assert WRITES_CSV.search((ROOT / rel).read_text(encoding="utf-8")), rel
