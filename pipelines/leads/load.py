"""CSV -> `staging.leads`: header-driven, streamed, idempotent.

- Columns are found by header name with aliases (`ALIASES`); other columns go to `extra` (JSON)
  under their lower-snake-case names, for per-route mapping.
- UTF-8 with or without BOM; any other encoding is refused with a clear message before anything
  is staged (a streaming pre-check of the bytes).
- Streamed in batches of `BATCH_ROWS`, each its own transaction, so memory stays flat however
  long the file. A load cut short (killed) is completed by loading the file again: ids are stable.
- `lead_id` is the caller's id (`external_id` / `id` / `lead_id`) or a hash of the normalised
  content, so loading the same file twice stages nothing new.
- A row that cannot be sent (no contact, bad values, control characters, huge fields, extra
  fields) is staged as `failed_permanent` with the reason and its line number: nothing is lost.

It never talks to HCP and never changes a lead already staged (the insert is `outbox.stage_leads`:
a known lead_id is left as it is, whatever its status).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from pipelines import config
from pipelines.leads import outbox
from pipelines.leads.mapping import InvalidLead, StagedLead
from pipelines.leads.profiles import ProfileBook, load_profiles, normalise_column
from pipelines.warehouse import connect

BATCH_ROWS = 5_000
MAX_REPORTED = 1_000  # problems kept in the result; the table keeps them all
FIELD_SIZE_LIMIT = 16 * 1024 * 1024  # csv's default (128 KiB) would abort on one huge field

ALIASES: dict[str, tuple[str, ...]] = {
    "lead_id": ("external_id", "lead_id", "id"),
    "name": ("name", "full_name", "fullname", "contact_name"),
    "first_name": ("first_name", "firstname", "first", "given_name"),
    "last_name": ("last_name", "lastname", "last", "surname", "family_name"),
    "email": ("email", "email_address", "e_mail"),
    "phone": ("phone", "mobile", "mobile_number", "phone_number", "mobile_phone", "cell"),
    "lead_source": ("lead_source", "source"),
    "company": ("company", "company_name"),
    "notes": ("notes", "note", "comments"),
    "route": ("route",),
}
CONTACT_FIELDS = ("name", "first_name", "last_name", "email", "phone", "company")
INSERT_COLUMNS = (
    "lead_id",
    "account",
    *outbox.RAW_COLUMNS,
    "extra",
    "status",
    "error_reason",
)


class LoadError(Exception):
    """The file as a whole cannot be loaded (encoding, header); nothing was staged."""


@dataclass(frozen=True)
class RowProblem:
    line: int
    lead_id: str
    reason: str


@dataclass
class LoadResult:
    """What a load did: counts for the summary, problems with line numbers."""

    file: str
    account: str
    rows: int = 0
    staged: int = 0  # new rows, status pending
    already_staged: int = 0  # lead_id was staged before (or earlier in the same file)
    failed: int = 0  # new rows staged as failed_permanent
    problems: list[RowProblem] = field(default_factory=list)  # first MAX_REPORTED new failures
    duration_s: float = 0.0


@dataclass(frozen=True)
class Header:
    """Which CSV column holds which staged field."""

    names: list[str]
    fields: dict[str, int]  # staged field -> column index
    extras: dict[str, int]  # normalised extra column name -> column index


def resolve_header(raw: list[str]) -> Header:
    """Map header cells to staged fields; `LoadError` when the first line is not a header."""
    names = [normalise_column(h) for h in raw]
    fields: dict[str, int] = {}
    extras: dict[str, int] = {}
    lookup = {alias: f for f, aliases in ALIASES.items() for alias in aliases}
    for index, name in enumerate(names):
        target = lookup.get(name)
        if target and target not in fields:
            fields[target] = index
        elif name and name not in extras:
            extras[name] = index
    if not any(f in fields for f in CONTACT_FIELDS):
        shown = ", ".join(repr(h) for h in raw[:8]) or "(empty line)"
        raise LoadError(
            "missing header: the first line must name the columns, e.g. "
            f"name,email,phone,lead_source (found {shown}). Recognised names: "
            + ", ".join(a for aliases in ALIASES.values() for a in aliases)
        )
    return Header(names, fields, extras)


def _norm(value: str | None) -> str:
    return " ".join(unicodedata.normalize("NFC", value or "").split())


def content_id(account: str, values: dict[str, str | None], extra: dict[str, str]) -> str:
    """A stable id from the normalised content: same lead, same id, whatever the file order."""
    phone = "".join(ch for ch in (values.get("phone") or "") if ch.isdigit() or ch == "+")
    key = [
        account,
        _norm(values.get("name")).casefold(),
        _norm(values.get("first_name")).casefold(),
        _norm(values.get("last_name")).casefold(),
        _norm(values.get("email")).casefold(),
        phone,
        _norm(values.get("company")).casefold(),
        _norm(values.get("notes")),
        sorted((k, _norm(v)) for k, v in extra.items() if _norm(v)),
    ]
    digest = hashlib.sha256(json.dumps(key, ensure_ascii=False).encode()).hexdigest()
    return f"h-{digest[:24]}"


def _open_text(path: Path) -> io.TextIOWrapper:
    return io.TextIOWrapper(path.open("rb"), encoding="utf-8-sig", errors="strict", newline="")


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _first_bad_line(path: Path) -> tuple[int, str] | None:
    """Where the first non-UTF-8 byte is (line, hex byte), or None: one streaming pass."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as raw:
        for number, line in enumerate(raw, start=1):
            try:
                decoder.decode(line)
            except UnicodeDecodeError as exc:
                return number, line[exc.start : exc.start + 1].hex()
    return None


def check_encoding(path: Path) -> None:
    """`LoadError` unless the file is UTF-8 (BOM or not); reads it once, in constant memory."""
    with path.open("rb") as raw:
        head = raw.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise LoadError(
            f"{path.name} is UTF-16; save it as UTF-8 (Excel: 'CSV UTF-8 (Comma delimited)')"
        )
    bad = _first_bad_line(path)
    if bad is not None:
        raise LoadError(
            f"{path.name} is not UTF-8 (byte 0x{bad[1]} on line {bad[0]}; Latin-1 or "
            "Windows-1252?). Save it as UTF-8 (Excel: 'CSV UTF-8 (Comma delimited)') and load "
            "again; nothing was staged."
        )


def iter_rows(path: Path) -> Iterator[tuple[int, list[str]] | Header]:
    """Yield the `Header`, then (line number, cells) per record; `LoadError` on a bad encoding."""
    with _open_text(path) as text:
        line_no = 0
        try:
            first = text.readline()
            line_no = 1
            while first and not first.strip():
                first = text.readline()
                line_no += 1
            if not first:
                raise LoadError(f"{path.name} is empty: the first line must name the columns")
            delimiter = _sniff_delimiter(first)
            header_cells = next(csv.reader([first], delimiter=delimiter))
            yield resolve_header(header_cells)
            reader = csv.reader(text, delimiter=delimiter)
            base = line_no
            start = base + 1
            for cells in reader:
                line_no = base + reader.line_num
                yield start, cells
                start = line_no + 1
        except UnicodeDecodeError as exc:  # check_encoding runs first; a file changed meanwhile
            raise LoadError(f"{path.name} is not UTF-8 after line {line_no} ({exc})") from exc
        except csv.Error as exc:
            raise LoadError(f"{path.name}: unreadable CSV after line {line_no} ({exc})") from exc


class _Batch:
    """Rows waiting to be inserted, deduplicated by lead_id within the batch."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.lines: dict[str, int] = {}
        self.duplicates = 0

    def add(self, line: int, row: dict[str, Any]) -> None:
        if row["lead_id"] in self.rows:
            self.duplicates += 1
            return
        self.rows[row["lead_id"]] = row
        self.lines[row["lead_id"]] = line

    def __len__(self) -> int:
        return len(self.rows)


def build_row(
    line: int,
    cells: list[str],
    header: Header,
    account: str,
    lead_source: str | None,
    route: str | None,
    routes: ProfileBook,
) -> dict[str, Any]:
    """One CSV record -> one staged row, validated with the same mapping the push uses."""
    values: dict[str, str | None] = {}
    for name, index in header.fields.items():
        cell = cells[index] if index < len(cells) else ""
        values[name] = cell if cell.strip() else None
    extra = {
        name: cells[index]
        for name, index in header.extras.items()
        if index < len(cells) and cells[index] != ""
    }
    problem: str | None = None
    if len(cells) > len(header.names):
        surplus = cells[len(header.names) :]
        extra["_surplus_fields"] = json.dumps(surplus, ensure_ascii=False)
        problem = f"{len(cells)} fields where the header has {len(header.names)} (a stray delimiter or quote?)"
    if values.get("lead_id") is None:
        lead_id = content_id(account, values, extra)
    else:
        lead_id = str(values["lead_id"]).strip()
    values.setdefault("lead_source", None)
    values.setdefault("route", None)
    if not values["lead_source"] and lead_source:
        values["lead_source"] = lead_source
    if not values["route"] and route:
        values["route"] = route
    if problem is None:
        try:
            staged = StagedLead(
                lead_id=lead_id,
                **{c: values.get(c) for c in outbox.RAW_COLUMNS},
                extra=extra,
            )
            routes.map(staged)  # the push's own check, so a row staged pending can be sent
        except InvalidLead as exc:
            problem = exc.reason
        if problem and any("\n" in (values.get(f) or "") for f in CONTACT_FIELDS):
            # a name or email spanning lines is an unclosed quote that swallowed the rows after
            # it (they are inside this one): say so, or the user looks for the wrong mistake
            problem += " (a contact field runs over several lines: an unclosed quote?)"
    row: dict[str, Any] = {c: values.get(c) for c in outbox.RAW_COLUMNS}
    row.update(
        lead_id=lead_id,
        account=account,
        extra=json.dumps(extra, ensure_ascii=False) if extra else None,
        status=outbox.FAILED_PERMANENT if problem else outbox.PENDING,
        error_reason=f"line {line}: {problem}" if problem else None,
    )
    return row


def _flush(con: duckdb.DuckDBPyConnection, batch: _Batch, result: LoadResult) -> None:
    if not batch.rows and not batch.duplicates:
        return
    result.already_staged += batch.duplicates
    if batch.rows:
        frame = pd.DataFrame(list(batch.rows.values()), columns=list(INSERT_COLUMNS), dtype=object)
        inserted = outbox.stage_leads(con, frame)
        result.already_staged += len(batch.rows) - len(inserted)
        for lead_id, status in inserted:
            if status == outbox.FAILED_PERMANENT:
                result.failed += 1
                if len(result.problems) < MAX_REPORTED:
                    reason = batch.rows[lead_id]["error_reason"].split(": ", 1)[1]
                    result.problems.append(RowProblem(batch.lines[lead_id], lead_id, reason))
            else:
                result.staged += 1
    batch.__init__()  # type: ignore[misc]


def load_leads(
    csv_path: str | Path,
    *,
    db_path: str | Path | None = None,
    account: str = "default",
    lead_source: str | None = None,
    route: str | None = None,
    routes: ProfileBook | None = None,
    batch_rows: int = BATCH_ROWS,
    on_wait: Callable[[str], None] | None = None,
) -> LoadResult:
    """Stage one CSV file into `staging.leads`; `LoadError` (nothing staged) for a bad file or header.

    `lead_source` / `route` fill rows that have none. Returns counts and the problem rows.
    """
    path = Path(csv_path)
    if not path.is_file():
        raise LoadError(f"{path} does not exist or is not a file")
    routes = routes or load_profiles()
    if route:
        try:
            routes.get(route)
        except KeyError as exc:
            raise LoadError(exc.args[0]) from exc
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_SIZE_LIMIT))
    result = LoadResult(file=str(path), account=account)
    started = time.perf_counter()
    check_encoding(path)
    rows = iter_rows(path)
    header = next(rows)  # a file without a header fails here, before the database is opened
    assert isinstance(header, Header)
    with connect(config.db_path(db_path), on_wait=on_wait) as con:
        outbox.ensure_schema(con)
        batch = _Batch()
        for item in rows:
            assert not isinstance(item, Header)
            line, cells = item
            if not any(c.strip() for c in cells):
                continue  # blank line
            result.rows += 1
            batch.add(line, build_row(line, cells, header, account, lead_source, route, routes))
            if len(batch) >= batch_rows:
                _flush(con, batch, result)  # one INSERT: its own transaction
        _flush(con, batch, result)
    result.duration_s = time.perf_counter() - started
    return result
