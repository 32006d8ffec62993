"""Read strategies of the HCP source, on top of the one client (`client.py`).

Each function turns one row of `settings.OBJECTS` into pages of records. None of them pages by
hand: `HCPClient.iter_pages` owns paging; this module only decides which listings to make and
when to stop, and reports each page through `on_page` (counting lives in `figures.py`). Must
never: swallow an error silently (the caller's tracker records it and the sync reports it), or
fetch a page an incremental read does not need.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sources.housecallpro.client import HCPClient
from sources.housecallpro.settings import HCPObject

log = logging.getLogger("hcp.source")

Record = dict[str, Any]


def parse_ts(value: Any) -> datetime | None:
    """HCP timestamps are RFC3339 (`2026-09-01T12:00:00Z`); compare instants, not strings."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def read_newest_first(
    client: HCPClient,
    obj: HCPObject,
    stop_at: Any | None,
    *,
    concurrent: bool,
    on_page: Callable[[int], None] | None = None,
) -> Iterator[list[Record]]:
    """Pages of `obj` sorted by its cursor, newest first, ending at `stop_at`.

    HCP has no updated-since filter (HCP_API.md §5), so the read sorts descending and stops as
    soon as a page's oldest row is older than `stop_at` (the saved cursor minus the lookback);
    rows older than that were loaded by an earlier run and are dropped here. With a cursor the
    pages are fetched one by one, so a run with no changes costs exactly one request; without one
    (first run, full read) pages 2..N are fetched concurrently.
    """
    cursor = obj.cursor or "updated_at"
    params = {**obj.params, "sort_by": cursor, "sort_direction": "desc"}
    limit = parse_ts(stop_at)
    pages = client.iter_pages(
        obj.path,
        params,
        page_size=obj.page_size,
        envelope_key=obj.envelope_key,
        page_size_param=obj.page_size_param,
        concurrent=concurrent and limit is None,
    )
    try:
        for page in pages:
            items = page.items
            if on_page is not None:
                on_page(len(items))
            if limit is None:
                if items:
                    yield items
                continue
            fresh = [r for r in items if (parse_ts(r.get(cursor)) or limit) >= limit]
            if fresh:
                yield fresh
            oldest = parse_ts(items[-1].get(cursor)) if items else None
            if oldest is None or oldest < limit:
                return
    finally:
        pages.close()  # stops the client's page generator: no request past this point


def read_all(
    client: HCPClient,
    obj: HCPObject,
    *,
    on_page: Callable[[int], None] | None = None,
) -> Iterator[list[Record]]:
    """Every page of `obj`, pages 2..N fetched concurrently (objects without a usable cursor)."""
    pages = client.iter_pages(
        obj.path,
        obj.params or None,
        page_size=obj.page_size,
        envelope_key=obj.envelope_key,
        page_size_param=obj.page_size_param,
        concurrent=True,
    )
    try:
        for page in pages:
            if on_page is not None:
                on_page(len(page.items))
            if page.items:
                yield page.items
    finally:
        pages.close()


def _listing(
    client: HCPClient,
    obj: HCPObject,
    params: dict[str, Any],
    on_page: Callable[[int], None] | None,
) -> list[Record]:
    """All items of one small listing (a category's children or materials), sequential pages."""
    out: list[Record] = []
    for page in client.iter_pages(
        obj.path,
        {**obj.params, **params},
        page_size=obj.page_size,
        envelope_key=obj.envelope_key,
        page_size_param=obj.page_size_param,
    ):
        if on_page is not None:
            on_page(len(page.items))
        out += page.items
    return out


def walk_tree(
    client: HCPClient,
    obj: HCPObject,
    *,
    parent_param: str = "parent_uuid",
    on_page: Callable[[int], None] | None = None,
) -> Iterator[list[Record]]:
    """Material categories, level by level.

    A listing without `parent_uuid` returns only the root level (HCP_API.md §3), so each
    category's children are one more listing; the listings of a level run concurrently, within
    the client's concurrency. Costs one request per category plus one for the root level (a
    leaf's empty listing is the only way to learn it is a leaf).
    """
    level = _listing(client, obj, {}, on_page)
    seen: set[str] = set()
    with ThreadPoolExecutor(client.concurrency, thread_name_prefix="hcp-tree") as pool:
        while level:
            level = [r for r in level if r.get(obj.primary_key) not in seen]
            if not level:
                return
            seen.update(str(r[obj.primary_key]) for r in level)
            yield level
            keys = [r[obj.primary_key] for r in level]
            children = pool.map(lambda k: _listing(client, obj, {parent_param: k}, on_page), keys)
            level = [row for rows in children for row in rows]


def read_per_parent(
    client: HCPClient,
    obj: HCPObject,
    parent_keys: Iterable[str],
    *,
    parent_param: str,
    on_page: Callable[[int], None] | None = None,
) -> list[Record]:
    """One listing per parent key (materials need `material_category_uuid`), concurrently."""
    keys = list(parent_keys)
    if not keys:
        return []
    with ThreadPoolExecutor(
        min(client.concurrency, len(keys)), thread_name_prefix="hcp-children"
    ) as pool:
        listings = pool.map(lambda k: _listing(client, obj, {parent_param: k}, on_page), keys)
        return [row for rows in listings for row in rows]


def read_days(
    client: HCPClient,
    obj: HCPObject,
    *,
    days_back: int,
    days_ahead: int,
    time_zone: str | None,
    on_page: Callable[[int], None] | None = None,
) -> Iterator[list[Record]]:
    """Routes: HCP's default day, then `days_back`/`days_ahead` days around it, concurrently.

    `/routes` lists one day (`date=YYYY-MM-DD`, default today in the company's zone). "Today" is
    taken from the default listing's own `date` so it matches HCP's clock; when that day has no
    routes, from the wall clock in the company's time zone.
    """
    first = _listing(client, obj, {}, on_page)
    if first:
        yield first
    if days_back <= 0 and days_ahead <= 0:
        return
    today: date | None = None
    if first and first[0].get("date"):
        today = date.fromisoformat(str(first[0]["date"])[:10])
    if today is None:
        today = datetime.now(ZoneInfo(time_zone) if time_zone else UTC).date()
    days = [
        (today + timedelta(days=k)).isoformat()
        for k in range(-max(0, days_back), max(0, days_ahead) + 1)
        if k != 0
    ]
    with ThreadPoolExecutor(
        min(client.concurrency, len(days)), thread_name_prefix="hcp-days"
    ) as pool:
        for rows in pool.map(lambda d: _listing(client, obj, {"date": d}, on_page), days):
            if rows:
                yield rows
