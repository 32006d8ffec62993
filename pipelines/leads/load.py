"""Lead files -> `staging.leads`: header-driven, streamed, idempotent, re-stageable.

- Read as the platforms export them (`files.py`): encoding from the BOM, else UTF-8, else
  detected (Windows-1252 from old Excel loads with a note); delimiter comma, tab, semicolon or
  pipe from the header line. The summary says which encoding, delimiter and preset it used.
- Columns are found by header name: the route's `[routes.X.fields]` first, then a platform
  preset recognised from the header (`presets.py`: Facebook Lead Ads, Google Ads, LinkedIn Lead
  Gen Forms), then the generic `ALIASES`; other columns go to `extra` (JSON) under their
  lower-snake-case names, for per-route mapping.
- Streamed in batches of `BATCH_ROWS`, each its own transaction, so memory stays flat however
  long the file. A load cut short (killed) is completed by loading the file again: ids are stable.
- `lead_id` is the caller's id (`external_id` / `id` / `lead_id`, a preset's id column) or a
  hash of the normalised content, so loading the same file twice stages nothing new.
- A row that cannot be sent (no contact, bad values, control characters, huge fields, extra
  fields, a platform's test lead) is staged as `failed_permanent` with `line N: <reason>`:
  nothing is lost. Loading the file again once it maps correctly re-stages those rows
  (`outbox.restage_leads`).
- `preview_file` shows how a file would load without opening the database.

It never talks to HCP and never changes a lead the push has touched: a known lead_id is left as
it is, except a row the loader itself failed that now validates.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
import unicodedata
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from pipelines import config
from pipelines.leads import outbox
from pipelines.leads.files import (
    DELIMITERS,
    Encoding,
    FileFormatError,
    detect_encoding,
    open_text,
    sniff_delimiter,
)
from pipelines.leads.mapping import LOAD_TARGETS, InvalidLead, StagedLead, effective_lead_source
from pipelines.leads.presets import Preset, recognise
from pipelines.leads.profiles import ProfileBook, load_profiles, normalise_column
from pipelines.warehouse import connect

BATCH_ROWS = 5_000
PREVIEW_ROWS = 10
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
    """What a load did: counts for the summary, problems with line numbers, how it read the file."""

    file: str
    account: str
    rows: int = 0
    staged: int = 0  # new rows, status pending
    already_staged: int = 0  # lead_id was staged before (or earlier in the same file)
    failed: int = 0  # new rows staged as failed_permanent
    restaged: int = 0  # rows an earlier load failed that now validate: back to pending
    problems: list[RowProblem] = field(default_factory=list)  # first MAX_REPORTED new failures
    duration_s: float = 0.0
    encoding: str = ""  # "UTF-16 LE (BOM)", "Windows-1252 (detected)", ...
    delimiter: str = ""  # "comma", "tab", "semicolon", "pipe"
    preset: str | None = None  # "Facebook Lead Ads" when the header was recognised
    notes: list[str] = field(default_factory=list)  # warnings about the file (a guessed encoding)


@dataclass(frozen=True)
class Header:
    """Which column holds which staged field, and why (for the preview)."""

    names: list[str]
    fields: dict[str, int]  # staged field -> column index
    extras: dict[str, int]  # normalised extra column name -> column index
    preset: Preset | None = None
    how: dict[int, str] = field(default_factory=dict)  # column index -> what it became, and why


def resolve_header(
    raw: list[str], route_fields: Mapping[str, str] | None = None, route_name: str = "default"
) -> Header:
    """Map header cells to staged fields; `LoadError` when the first line is not a header.

    Priority: the route's `fields` (a load target such as `email` fills that field; any other
    target keeps the column in `extra` for the push to map), a recognised preset, the aliases.
    """
    names = [normalise_column(h) for h in raw]
    preset = recognise(names)
    route_fields = route_fields or {}
    lookup = {alias: f for f, aliases in ALIASES.items() for alias in aliases}
    preset_rank = {c: i for i, c in enumerate(preset.columns)} if preset else {}
    choices: list[tuple[int, int, int, str, str]] = []  # (priority, rank, index, field, why)
    for index, name in enumerate(names):
        if name in route_fields:
            if route_fields[name] in LOAD_TARGETS:
                choices.append((0, 0, index, route_fields[name], f"route {route_name!r}"))
        elif preset and name in preset.columns:
            choices.append((1, preset_rank[name], index, preset.columns[name], preset.name))
        elif name in lookup:
            choices.append((2, 0, index, lookup[name], "alias"))
    fields: dict[str, int] = {}
    how: dict[int, str] = {}
    for _, _, index, target, why in sorted(choices):
        if target not in fields:
            fields[target] = index
            how[index] = f"{target} ({why})"
    extras: dict[str, int] = {}
    for index, name in enumerate(names):
        if index in how:
            continue
        if name and name not in extras:
            extras[name] = index
            target = route_fields.get(name)
            how[index] = f"extra.{name}" + (
                f" (route {route_name!r} maps it to {target})" if target else ""
            )
        else:
            how[index] = "not staged (empty or repeated column name)"
    if not any(f in fields for f in CONTACT_FIELDS):
        shown = ", ".join(repr(h) for h in raw[:8]) or "(empty line)"
        raise LoadError(
            "missing header: the first line must name the columns, e.g. "
            f"name,email,phone,lead_source (found {shown}). Recognised names: "
            + ", ".join(a for aliases in ALIASES.values() for a in aliases)
            + '; or map a column in the route\'s [routes.NAME.fields], e.g. contact_email = "email"'
        )
    return Header(names, fields, extras, preset, how)


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


@dataclass(frozen=True)
class FileHead:
    """The first item `iter_rows` yields: how the file is read and its header cells."""

    encoding: Encoding
    delimiter: str
    cells: list[str]


def iter_rows(path: Path) -> Generator[tuple[int, list[str]] | FileHead, None, None]:
    """Yield the `FileHead`, then (line number, cells) per record; `LoadError` for a file that
    cannot be read (encoding, empty)."""
    try:
        encoding = detect_encoding(path)
    except FileFormatError as exc:
        raise LoadError(str(exc)) from exc
    with open_text(path, encoding) as text:
        line_no = 0
        try:
            first = text.readline()
            line_no = 1
            while first and not first.strip():
                first = text.readline()
                line_no += 1
            if not first:
                raise LoadError(f"{path.name} is empty: the first line must name the columns")
            delimiter = sniff_delimiter(first)
            yield FileHead(encoding, delimiter, next(csv.reader([first], delimiter=delimiter)))
            reader = csv.reader(text, delimiter=delimiter)
            base = line_no
            start = base + 1
            for cells in reader:
                line_no = base + reader.line_num
                yield start, cells
                start = line_no + 1
        except UnicodeDecodeError as exc:  # checked before; a file changed meanwhile
            raise LoadError(
                f"{path.name} is not {encoding.label} after line {line_no} ({exc})"
            ) from exc
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
    elif header.preset is not None:
        problem = header.preset.test_reason(dict(zip(header.names, cells, strict=False)))
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
    if not values["lead_source"] and header.preset is not None:
        values["lead_source"] = _platform_source(header.preset, values, extra, routes)
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


def _platform_source(
    preset: Preset, values: dict[str, str | None], extra: dict[str, str], routes: ProfileBook
) -> str | None:
    """The platform's name as Lead Source, unless the row's route gives one (the push applies
    the route's `lead_source` or a mapped `lead_source` column; they come first)."""
    try:
        profile = routes.get(values.get("route"))
        route_source = effective_lead_source(StagedLead(lead_id="", extra=extra), profile)
    except (KeyError, InvalidLead):
        return None  # an unknown route or a bad mapped value: the row's validation reports it
    return None if route_source else preset.name


def _flush(con: duckdb.DuckDBPyConnection, batch: _Batch, result: LoadResult) -> None:
    if not batch.rows and not batch.duplicates:
        return
    result.already_staged += batch.duplicates
    if batch.rows:
        frame = pd.DataFrame(list(batch.rows.values()), columns=list(INSERT_COLUMNS), dtype=object)
        con.begin()  # re-staging and inserting one batch is one transaction
        restaged = outbox.restage_leads(con, frame)
        inserted = outbox.stage_leads(con, frame)
        con.commit()
        result.restaged += len(restaged)
        result.already_staged += len(batch.rows) - len(inserted) - len(restaged)
        for lead_id, status in inserted:
            if status == outbox.FAILED_PERMANENT:
                result.failed += 1
                if len(result.problems) < MAX_REPORTED:
                    reason = batch.rows[lead_id]["error_reason"].split(": ", 1)[1]
                    result.problems.append(RowProblem(batch.lines[lead_id], lead_id, reason))
            else:
                result.staged += 1
    batch.__init__()  # type: ignore[misc]


def _check_route(routes: ProfileBook, route: str | None) -> str:
    """The name of the route whose `fields` shape the header; `LoadError` when unknown."""
    try:
        routes.get(route)
    except KeyError as exc:
        raise LoadError(exc.args[0]) from exc
    return route.strip() if route and route.strip() else routes.default_profile


def open_lead_file(
    path: Path, routes: ProfileBook, route: str | None
) -> tuple[FileHead, Header, Generator[tuple[int, list[str]] | FileHead, None, None]]:
    """Read a file's head and resolve its header (no database): `LoadError` for a bad file."""
    if not path.is_file():
        raise LoadError(f"{path} does not exist or is not a file")
    route_name = _check_route(routes, route)
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_SIZE_LIMIT))
    rows = iter_rows(path)
    head = next(rows)
    assert isinstance(head, FileHead)
    header = resolve_header(head.cells, routes.get(route_name).fields, route_name)
    return head, header, rows


def _records(
    rows: Iterator[tuple[int, list[str]] | FileHead],
) -> Iterator[tuple[int, list[str]]]:
    for item in rows:
        assert not isinstance(item, FileHead)
        if any(c.strip() for c in item[1]):  # blank lines are skipped
            yield item


def _describe(result: LoadResult, head: FileHead, header: Header) -> None:
    result.encoding = head.encoding.label
    result.delimiter = DELIMITERS[head.delimiter]
    result.preset = header.preset.name if header.preset else None
    if head.encoding.note:
        result.notes.append(head.encoding.note)


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
    """Stage one lead file into `staging.leads`; `LoadError` (nothing staged) for a bad file or
    header.

    `lead_source` / `route` fill rows that have none. Returns counts and the problem rows.
    """
    path = Path(csv_path)
    routes = routes or load_profiles()
    result = LoadResult(file=str(path), account=account)
    started = time.perf_counter()
    # a bad file fails here, before the database is opened
    head, header, rows = open_lead_file(path, routes, route)
    _describe(result, head, header)
    with connect(config.db_path(db_path), on_wait=on_wait) as con:
        outbox.ensure_schema(con)
        batch = _Batch()
        for line, cells in _records(rows):
            result.rows += 1
            batch.add(line, build_row(line, cells, header, account, lead_source, route, routes))
            if len(batch) >= batch_rows:
                _flush(con, batch, result)  # one transaction per batch
        _flush(con, batch, result)
    result.duration_s = time.perf_counter() - started
    return result


@dataclass(frozen=True)
class RowPreview:
    line: int
    lead_id: str
    outcome: str  # "would stage" | "would fail: <reason>"


@dataclass
class Preview:
    """How a file would load: the columns' mapping and the first rows' outcome."""

    result: LoadResult  # encoding, delimiter, preset, notes; no counts
    columns: list[tuple[str, str]]  # (header cell, what it becomes)
    rows: list[RowPreview]


def preview_file(
    csv_path: str | Path,
    *,
    account: str = "default",
    lead_source: str | None = None,
    route: str | None = None,
    routes: ProfileBook | None = None,
    rows: int = PREVIEW_ROWS,
) -> Preview:
    """What `load_leads` would do with the file's first `rows` records; never opens the
    database. `LoadError` exactly where the load would refuse the file."""
    path = Path(csv_path)
    routes = routes or load_profiles()
    head, header, records = open_lead_file(path, routes, route)
    result = LoadResult(file=str(path), account=account)
    _describe(result, head, header)
    columns = [(cell, header.how[i]) for i, cell in enumerate(head.cells)]
    shown: list[RowPreview] = []
    for line, cells in _records(records):
        row = build_row(line, cells, header, account, lead_source, route, routes)
        reason = row["error_reason"]
        outcome = f"would fail: {reason.split(': ', 1)[1]}" if reason else "would stage"
        shown.append(RowPreview(line, row["lead_id"], outcome))
        if len(shown) >= rows:
            break
    records.close()  # the file is closed now, not when the generator is collected
    return Preview(result, columns, shown)
