"""Diff before write: an update whose fields the synced raw table already has sends nothing.

The raw table (`hcp.<object>`, written by the sync) is read once per run into memory, keyed by
the record's id/uuid. An update is `unchanged` only when the record is there and every desired
field equals its synced value; a record or table the sync has not seen, or a field it cannot
compare, is sent (a needless write is safe, a skipped one is not). So the diff is as fresh as
the last sync: run the sync before the push (the nightly flow does). It must never: write to
the raw tables (the sync owns them), or talk to HCP.
"""

from __future__ import annotations

from typing import Any

import duckdb

from pipelines.push.objects import PushObject
from pipelines.push.tables import ACCOUNT_SQL

RAW_SCHEMA = "hcp"
PHONE_FIELDS = ("mobile_number", "home_number", "work_number")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [RAW_SCHEMA, table],
    ).fetchall()
    return [r[0] for r in rows]


class Differ:
    """The synced state of one object for one account, and the fields an update would change."""

    def __init__(self, con: duckdb.DuckDBPyConnection, obj: PushObject, account: str) -> None:
        self.con = con
        self.obj = obj
        self.account = account
        self._records: dict[str, dict[str, Any]] | None = None
        self._tags: dict[str, list[str]] = {}

    def records(self) -> dict[str, dict[str, Any]]:
        if self._records is None:
            self._records = self._load()
        return self._records

    def _load(self) -> dict[str, dict[str, Any]]:
        table = self.obj.raw_table
        cols = _columns(self.con, table) if table else []
        if not table or self.obj.id_field not in cols:
            return {}
        where, args = [], []
        if "account" in cols:
            where.append(f"{ACCOUNT_SQL} = ?")
            args.append(self.account)
        if "_hcp_deleted_at" in cols:
            where.append("_hcp_deleted_at IS NULL")
        sql = f"SELECT * FROM {RAW_SCHEMA}.{table}" + (
            f" WHERE {' AND '.join(where)}" if where else ""
        )
        cur = self.con.execute(sql, args)
        names = [d[0] for d in cur.description]
        out = {
            str(r[names.index(self.obj.id_field)]): dict(zip(names, r, strict=True))
            for r in cur.fetchall()
        }
        if "tags" in self.obj.fields and "tags" in _columns_of_child(self.con, table):
            for parent, value in self.con.execute(
                f"SELECT _dlt_parent_id, value FROM {RAW_SCHEMA}.{table}__tags ORDER BY _dlt_list_idx"
            ).fetchall():
                self._tags.setdefault(str(parent), []).append(str(value))
        return out

    def changes(self, target: str, desired: dict[str, Any]) -> dict[str, tuple[Any, Any]] | None:
        """{field: (synced, desired)} for the fields that differ; None when the record is not
        in the raw table (so the update is sent as is)."""
        rec = self.records().get(target)
        if rec is None:
            return None
        out: dict[str, tuple[Any, Any]] = {}
        for name, want in desired.items():
            if name == "tags":
                have: Any = self._tags.get(str(rec.get("_dlt_id")), [])
                if sorted(have) != sorted(want):
                    out[name] = (have, want)
                continue
            have = rec.get(name)
            if not _same(name, have, want):
                out[name] = (have, want)
        return out


def _columns_of_child(con: duckdb.DuckDBPyConnection, table: str | None) -> set[str]:
    """{"tags"} when `hcp.<table>__tags` exists (dlt puts a record's list in a child table)."""
    if not table:
        return set()
    return {"tags"} if _columns(con, f"{table}__tags") else set()


def _same(name: str, have: Any, want: Any) -> bool:
    if have is None or (isinstance(have, str) and not have.strip()):
        return want is None or (isinstance(want, str) and not want.strip())
    if isinstance(want, bool):
        return bool(have) == want and isinstance(have, bool | int)
    if isinstance(want, int):
        try:
            return int(have) == want
        except (TypeError, ValueError):
            return False
    if name in PHONE_FIELDS:
        digits = "".join(ch for ch in str(want) if ch.isdigit())
        return "".join(ch for ch in str(have) if ch.isdigit()) == digits
    return str(have).strip() == str(want).strip()
