"""Rows into the object outbox: from a CSV file or a warehouse query (`hcp push <object> ...`).

Columns: `key` (the caller's own key; without one, a hash of the row's content, so staging the
same content again is a no-op and a changed price is a new row), `operation` (else `--operation`,
else `update`/`rename` when the row names its `uuid`/`id`, `create` otherwise), `uuid` or `id`
(the record an update changes), `account` (else the one given), and the desired fields by
HCP's names. A row that cannot become a request is staged `failed_permanent` with its reason
("line N: ..."), so nothing is lost and the rest proceed; staging its key again once fixed
replaces it (`rows.STAGE_FAILED_SQL`). It never talks to HCP.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from pipelines.leads.files import FileFormatError, detect_encoding, open_text, sniff_delimiter
from pipelines.push import rows
from pipelines.push.engine import FAILED_PERMANENT
from pipelines.push.mapping import InvalidRow, Request, blank, build_request
from pipelines.push.objects import CREATE, OBJECTS, RENAME, UPDATE, unknown_object

META = ("key", "row_key", "operation", "account", "target", "uuid", "id")


class StageError(Exception):
    """The input as a whole cannot be read (a file, a query): one line, actionable."""


@dataclass
class Staged:
    """One input row as staged, with its request (None when it failed)."""

    line: int
    row: dict[str, Any]
    request: Request | None
    reason: str | None


@dataclass
class StageResult:
    object: str
    rows: list[Staged] = field(default_factory=list)
    inserted: int = 0
    restaged: int = 0  # failed by the stager before, replaced by this input's values
    already_staged: int = 0

    @property
    def failed(self) -> list[Staged]:
        return [s for s in self.rows if s.reason]


def read_csv(path: Path) -> list[dict[str, Any]]:
    """A CSV file's rows as dicts (any common encoding; the delimiter sniffed)."""
    if not path.is_file():
        raise StageError(f"{path}: no such file")
    try:
        encoding = detect_encoding(path)
        with open_text(path, encoding) as f:
            header = f.readline()
            f.seek(0)
            reader = csv.DictReader(f, delimiter=sniff_delimiter(header))
            return [dict(r) for r in reader]
    except FileFormatError as exc:
        raise StageError(f"{path}: {exc}") from None


def read_sql(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    """A warehouse query's rows as dicts (read only: the query runs as the user wrote it)."""
    try:
        cur = con.execute(sql)
    except duckdb.Error as exc:
        raise StageError(f"the query failed: {str(exc).splitlines()[0]}") from None
    if cur.description is None:
        raise StageError("the query returns no rows: give a SELECT")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _text(value: Any) -> str | None:
    return None if blank(value) else str(value).strip()


def _content_key(obj: str, op: str, target: str | None, fields: dict[str, Any]) -> str:
    digest = hashlib.sha256(
        json.dumps([obj, op, target, fields], sort_keys=True, default=str).encode()
    ).hexdigest()
    return f"sha256:{digest[:32]}"


def plan_rows(
    object_name: str,
    records: Iterable[dict[str, Any]],
    *,
    account: str = "default",
    operation: str | None = None,
) -> list[Staged]:
    """Each input row as the outbox row it becomes, with its request or why there is none."""
    obj = OBJECTS.get(object_name)
    if obj is None:
        raise StageError(unknown_object(object_name))
    out: list[Staged] = []
    for line, raw in enumerate(records, start=2):
        rec = {str(k).strip().lower(): v for k, v in raw.items() if k is not None}
        target = _text(rec.get("target")) or _text(rec.get(obj.id_field))
        fields = {k: v for k, v in rec.items() if k not in META and not blank(v)}
        other_id = "id" if obj.id_field == "uuid" else "uuid"
        if not blank(rec.get(other_id)):
            fields[other_id] = rec[other_id]  # unknown for this object: the mapping says so
        op = _text(rec.get("operation")) or operation
        if not op:
            op = (RENAME if RENAME in obj.operations else UPDATE) if target else CREATE
        op = op.lower()
        reason = None
        request = None
        try:
            request = build_request(obj.name, op, target, fields)
        except InvalidRow as exc:
            reason = f"line {line}: {exc.reason}"
        key = _text(rec.get("key")) or _text(rec.get("row_key"))
        row = {
            "object": obj.name,
            "row_key": key or _content_key(obj.name, op, target, fields),
            "account": _text(rec.get("account")) or account,
            "operation": op,
            "target": target,
            "fields": {
                k: (str(v) if not isinstance(v, bool | int | float | list) else v)
                for k, v in fields.items()
            },
            "status": FAILED_PERMANENT if reason else None,
            "error_reason": reason,
        }
        out.append(Staged(line, row, request, reason))
    return out


def stage(
    con: duckdb.DuckDBPyConnection,
    object_name: str,
    records: Iterable[dict[str, Any]],
    *,
    account: str = "default",
    operation: str | None = None,
) -> StageResult:
    """Plan and insert rows (one transaction); a (object, key) staged before is left as is."""
    planned = plan_rows(object_name, records, account=account, operation=operation)
    rows.ensure_schema(con)
    result = StageResult(object_name, planned)
    con.execute("BEGIN TRANSACTION")
    result.inserted, result.restaged, result.already_staged = rows.stage_rows(
        con, [s.row for s in planned]
    )
    con.execute("COMMIT")
    return result
