"""The bare floor a sync is measured against: httpx paging + DuckDB upsert by id, nothing else.

No dlt, no retries, no rate limiter, no child tables, no types: every object is paged with
plain httpx (pages 2..N and per-category listings on a thread pool of `concurrency`) and each
record is upserted as one JSON document keyed by its primary key. Whatever a real sync costs
above this is the price of dlt's normalisation, typing, child tables and state.
"""

from __future__ import annotations

import json
import math
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import httpx

from sources.housecallpro.settings import OBJECTS, HCPObject


def _items(body: dict[str, Any], obj: HCPObject) -> tuple[list[dict[str, Any]], int]:
    key = obj.envelope_key or "data"
    pages = body.get("total_pages", body.get("total_pages_count", 1)) or 0
    return body.get(key, []), int(pages)


def _listing(
    http: httpx.Client, obj: HCPObject, params: dict[str, Any], pool: ThreadPoolExecutor
) -> list[dict[str, Any]]:
    base = {
        **{f"{k}[]": v for k, v in obj.params.items()},
        **params,
        obj.page_size_param: obj.page_size,
    }
    first, pages = _items(http.get(obj.path, params={**base, "page": 1}).json(), obj)
    rest = pool.map(
        lambda n: _items(http.get(obj.path, params={**base, "page": n}).json(), obj)[0],
        range(2, pages + 1),
    )
    return first + [r for page in rest for r in page]


def read_everything(
    base_url: str, api_key: str, concurrency: int = 4
) -> dict[str, list[dict[str, Any]]]:
    """Every object's records, with the same listings a sync needs (tree walk, per category)."""
    out: dict[str, list[dict[str, Any]]] = {}
    headers = {"Authorization": f"Token {api_key}"}
    limits = httpx.Limits(max_connections=concurrency * 2)
    with (
        httpx.Client(base_url=base_url, headers=headers, limits=limits, timeout=60) as http,
        ThreadPoolExecutor(concurrency) as pages,
        ThreadPoolExecutor(concurrency) as objects,
    ):

        def one(obj: HCPObject) -> tuple[str, list[dict[str, Any]]]:
            if obj.strategy == "single":
                return obj.table, [http.get(obj.path).json()]
            if obj.strategy == "tree":
                rows, level = [], _listing(http, obj, {}, pages)
                while level:
                    rows += level
                    level = [
                        r
                        for kids in pages.map(
                            lambda c: _listing(http, obj, {"parent_uuid": c["uuid"]}, pages), level
                        )
                        for r in kids
                    ]
                return obj.table, rows
            if obj.strategy == "per_parent":
                return obj.table, []  # filled below from the categories
            return obj.table, _listing(http, obj, {}, pages)

        for table, rows in objects.map(one, OBJECTS):
            out[table] = rows
        cats = out.get("material_categories", [])
        out["materials"] = [
            r
            for rows in pages.map(
                lambda c: _listing(
                    http,
                    next(o for o in OBJECTS if o.table == "materials"),
                    {"material_category_uuid": c["uuid"]},
                    pages,
                ),
                cats,
            )
            for r in rows
        ]
    return out


def upsert(db_path: Path, data: dict[str, list[dict[str, Any]]]) -> int:
    """`INSERT OR REPLACE` every record as (pk, JSON document), one table per object."""
    con = duckdb.connect(str(db_path))
    total = 0
    try:
        con.execute("create schema if not exists floor")
        with tempfile.TemporaryDirectory() as tmp:
            for obj in OBJECTS:
                rows = data.get(obj.table, [])
                con.execute(
                    f'create table if not exists floor."{obj.table}" (pk varchar primary key, doc json)'
                )
                if not rows:
                    continue
                path = Path(tmp) / f"{obj.table}.jsonl"
                with path.open("w") as fh:
                    for row in rows:
                        fh.write(json.dumps(row) + "\n")
                con.execute(
                    f'insert or replace into floor."{obj.table}" '
                    f"select distinct on (json ->> '$.{obj.primary_key}') "
                    f"json ->> '$.{obj.primary_key}', json from read_json_objects('{path}')"
                )
                total += len(rows)
    finally:
        con.close()
    return total


def floor_sync(base_url: str, api_key: str, db_path: Path, concurrency: int = 4) -> int:
    return upsert(db_path, read_everything(base_url, api_key, concurrency))


def pages_needed(counts: dict[str, int]) -> int:
    """Requests of a full read: the same arithmetic as the sync's API minimum."""
    cats = counts.get("material_categories", 0)
    total = 0
    for obj in OBJECTS:
        if obj.strategy == "tree":
            total += 1 + cats
        elif obj.strategy == "per_parent":
            total += cats
        else:
            total += max(1, math.ceil(counts.get(obj.table, 0) / obj.page_size))
    return total
