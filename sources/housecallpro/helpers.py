"""Read strategies of the HCP source, on top of the one client (`client.py`).

Each function turns one row of `settings.OBJECTS` into pages of records. None of them pages by
hand: `HCPClient.iter_pages` owns paging; this module only decides which listings to make and
when to stop, and reports each page through `on_page` (counting lives in `figures.py`). Must
never: swallow an error silently (the caller's tracker records it and the sync reports it),
fetch a page an incremental read does not need, or call a read steady that may have skipped a
record (`ReadOutcome.steady`: deletion flags and cursors rely on it).

Pages that shift while they are read. HCP pages by number over a live listing (HCP_API.md
§5), so a change between two page fetches moves rows across page boundaries. Every listing
read here is newest first (`updated_at desc` for cursor objects; HCP's default `created_at
desc` for the rest, where an edit does not move a record), so an insertion (a create, or an
edit under `updated_at`) lands at the front and a deletion pulls the rows behind it forward.
`_read_passes` reads a listing in passes and judges each one from what it saw:

* Sequential pass: steady when `total_items` never fell from one page to the next. Between two
  fetches an unread row moves by (insertions - deletions ahead of it) >= (insertions -
  deletions) >= 0, so it can only move into pages still to come; the pass ends only when its
  pages cover the latest `total_items` (or a short page), so it reads every record present
  for the whole pass. A record edited after page 1 may be skipped under `updated_at`; its new
  `updated_at` is newer than anything page 1 held, and the cursor is page 1's newest value
  (`ReadOutcome.cursor`), so the next incremental read fetches it. A keyless listing read to
  its end must also show at least page 1's `total_items` distinct ids (were an edit to move a
  record after all, the skipped record would be missing from that count).
* Concurrent pass (pages 2..N at once, fetch order unknown): steady when every page reported
  the same `total_items` T, the pass saw T distinct ids, and (cursor objects) no row after
  page 1 is newer than page 1's oldest. Proof: T distinct ids seen, T records when page 1 was
  read; if one of those was not seen, a seen record did not exist when page 1 was read, so it
  was created later and sits at the front, newer than all of page 1 (that is the third test;
  HCP stamps to the second, so only a page 1 whose oldest row shares that second escapes it;
  an edited record existed at page 1 and is no such record). Without a cursor in the rows (invoices, leads, lookups)
  such a record lands on page 2 or later only after `page_size` more creates, with as many
  deletes to hold T: 2 x 200 + 2 changes inside one read, which this argument does not cover.

A pass that is not steady is followed by a sequential pass (at most `MAX_PASSES` in all),
yielding only records not yielded yet or newer than their yielded version. A steady pass
costs nothing extra: an unchanged listing costs the API minimum (1 request for an incremental
read that stops on page 1, ceil(n / page size) for a full read); a changed one costs one more
pass per changed pass. When no pass is steady, `ReadOutcome.steady` is false: the rows are
loaded, but no deletion is flagged from the read and a cursor does not move.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sources.housecallpro.client import HCPClient, PagingLog
from sources.housecallpro.settings import HCPObject

log = logging.getLogger("hcp.source")

Record = dict[str, Any]

MAX_PASSES = 3
"""Passes over one listing before a read that never saw it steady gives up (rows loaded, no
deletion flags, cursor kept). The first pass plus two repairs: a repair is sequential, so only
a deletion during it (or an edit under a sort that moves records) keeps it from being steady."""


@dataclass
class ReadOutcome:
    """What the reader learnt about its listings; shared by every listing of one object read.

    `steady`: every listing had a steady pass (module docstring), so a record missing from the
    rows is not in HCP. `cursor`: the newest cursor value on page 1 of the steady pass (raw, as
    HCP wrote it), the one value a cursor may move to. `passes`: passes made, repairs included.
    """

    steady: bool = True
    cursor: Any = None
    passes: int = 0
    changed: list[str] = field(default_factory=list)
    """Why each repaired pass was not steady, for the log and the tracker."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    """A tree or per-parent read shares one outcome between its listings' threads."""

    def begin_pass(self) -> None:
        with self._lock:
            self.passes += 1

    def not_steady(self, reason: str, *, final: bool) -> None:
        with self._lock:
            self.changed.append(reason)
            if final:
                self.steady = False

    def note_cursor(self, raw: Any) -> None:
        value = parse_ts(raw)
        with self._lock:
            if value is not None and (self.cursor is None or value > parse_ts(self.cursor)):
                self.cursor = raw


def parse_ts(value: Any) -> datetime | None:
    """HCP timestamps are RFC3339 (`2026-09-01T12:00:00Z`); compare instants, not strings."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class _Pass:
    """One pass over a listing: what it saw, and whether that proves it saw every record."""

    key: str | None
    """The cursor field the listing is sorted by, newest first (None: HCP's default order)."""
    primary_key: str
    paging: PagingLog = field(default_factory=PagingLog)
    ids: set[str] = field(default_factory=set)
    pages: int = 0
    page1_oldest: datetime | None = None
    page1_newest: Any = None
    """Page 1's newest cursor value, raw."""
    newer_than_page1: bool = False

    def see(self, items: list[Record]) -> None:
        self.ids.update(str(r.get(self.primary_key)) for r in items)
        self.pages += 1
        if self.key is None:
            return
        stamped = [(t, r.get(self.key)) for r in items if (t := parse_ts(r.get(self.key)))]
        if self.pages == 1:
            if stamped:
                self.page1_oldest = min(t for t, _ in stamped)
                self.page1_newest = max(stamped, key=lambda s: s[0])[1]
        elif self.page1_oldest is not None and any(t > self.page1_oldest for t, _ in stamped):
            self.newer_than_page1 = True

    def unsteady(self) -> str | None:
        """Why this pass may have skipped a record (module docstring), or None: it did not."""
        paging = self.paging
        if not paging.totals_steady:
            moved = " -> ".join(str(t) for t in paging.totals)
            return f"total_items moved while paging ({moved})"
        first = paging.first_total
        if not paging.complete or first is None:
            return None  # stopped at the cursor (sequential), or a listing without totals
        if (self.key is None or paging.concurrent) and len(self.ids) < first:
            return f"{len(self.ids)} distinct ids, but total_items {first} when page 1 was read"
        if paging.concurrent and self.newer_than_page1:
            return "a row after page 1 is newer than page 1: changed while paging"
        return None


def _read_passes(
    client: HCPClient,
    obj: HCPObject,
    params: dict[str, Any],
    *,
    key: str | None,
    limit: datetime | None,
    concurrent: bool,
    on_page: Callable[[int], None] | None,
    outcome: ReadOutcome,
) -> Iterator[list[Record]]:
    """Pages of one listing, read in passes until one is steady (module docstring).

    The first pass is concurrent when asked; repairs are sequential. A repair yields a record
    only when no earlier pass yielded it, or (cursor objects) yielded an older version.
    """
    yielded: dict[str, datetime | None] = {}
    for number in range(1, MAX_PASSES + 1):
        one = _Pass(key, obj.primary_key)
        outcome.begin_pass()
        pages = client.iter_pages(
            obj.path,
            params or None,
            page_size=obj.page_size,
            envelope_key=obj.envelope_key,
            page_size_param=obj.page_size_param,
            concurrent=concurrent and number == 1,
            paging=one.paging,
        )
        try:
            for page in pages:
                items = page.items
                if on_page is not None:
                    on_page(len(items))
                one.see(items)
                rows, stop = _within(items, key, limit)
                rows = _not_yielded(rows, obj.primary_key, key, yielded)
                if rows:
                    yield rows
                if stop:
                    break
        finally:
            pages.close()  # stops the client's page generator: no request past this point
        reason = one.unsteady()
        if reason is None:
            outcome.note_cursor(one.page1_newest)
            return
        outcome.not_steady(reason, final=number == MAX_PASSES)
        log.warning("%s %s (pass %d of %d)", obj.path, reason, number, MAX_PASSES)
    log.warning(
        "%s changed during each of %d passes: rows loaded, but no deletion is flagged from "
        "this read and no cursor moves",
        obj.path,
        MAX_PASSES,
    )


def _within(
    items: list[Record], key: str | None, limit: datetime | None
) -> tuple[list[Record], bool]:
    """The rows of a page at or after `limit` on `key`, and whether the read is over (the page
    reached rows older than `limit`: an earlier run loaded those)."""
    if limit is None or key is None:
        return items, False
    fresh = [r for r in items if (parse_ts(r.get(key)) or limit) >= limit]
    oldest = parse_ts(items[-1].get(key)) if items else None
    return fresh, oldest is None or oldest < limit


def _not_yielded(
    rows: list[Record], primary_key: str, key: str | None, yielded: dict[str, datetime | None]
) -> list[Record]:
    out = []
    for row in rows:
        rid = str(row.get(primary_key))
        stamp = parse_ts(row.get(key)) if key else None
        if rid in yielded:
            before = yielded[rid]
            if stamp is None or (before is not None and stamp <= before):
                continue
        yielded[rid] = stamp
        out.append(row)
    return out


def read_newest_first(
    client: HCPClient,
    obj: HCPObject,
    stop_at: Any | None,
    *,
    concurrent: bool,
    on_page: Callable[[int], None] | None = None,
    outcome: ReadOutcome | None = None,
) -> Iterator[list[Record]]:
    """Pages of `obj` sorted by its cursor, newest first, ending at `stop_at`.

    HCP has no updated-since filter (HCP_API.md §5), so the read sorts descending and stops as
    soon as a page's oldest row is older than `stop_at` (the saved cursor minus the lookback);
    rows older than that were loaded by an earlier run and are dropped here. With a cursor the
    pages are fetched one by one, so a run with no changes costs exactly one request; without one
    (first run, full read) pages 2..N are fetched concurrently. `outcome` says whether the read
    was steady and which value the cursor may move to.
    """
    cursor = obj.cursor or "updated_at"
    limit = parse_ts(stop_at)
    yield from _read_passes(
        client,
        obj,
        {**obj.params, "sort_by": cursor, "sort_direction": "desc"},
        key=cursor,
        limit=limit,
        concurrent=concurrent and limit is None,
        on_page=on_page,
        outcome=outcome if outcome is not None else ReadOutcome(),
    )


def read_all(
    client: HCPClient,
    obj: HCPObject,
    *,
    on_page: Callable[[int], None] | None = None,
    outcome: ReadOutcome | None = None,
) -> Iterator[list[Record]]:
    """Every page of `obj`, pages 2..N fetched concurrently (objects without a usable cursor)."""
    yield from _read_passes(
        client,
        obj,
        obj.params,
        key=None,
        limit=None,
        concurrent=True,
        on_page=on_page,
        outcome=outcome if outcome is not None else ReadOutcome(),
    )


def _listing(
    client: HCPClient,
    obj: HCPObject,
    params: dict[str, Any],
    on_page: Callable[[int], None] | None,
    outcome: ReadOutcome | None = None,
) -> list[Record]:
    """All items of one small listing (a category's children or materials), sequential pages."""
    out: list[Record] = []
    for rows in _read_passes(
        client,
        obj,
        {**obj.params, **params},
        key=None,
        limit=None,
        concurrent=False,
        on_page=on_page,
        outcome=outcome if outcome is not None else ReadOutcome(),
    ):
        out += rows
    return out


def walk_tree(
    client: HCPClient,
    obj: HCPObject,
    *,
    parent_param: str = "parent_uuid",
    on_page: Callable[[int], None] | None = None,
    outcome: ReadOutcome | None = None,
) -> Iterator[list[Record]]:
    """Material categories, level by level.

    A listing without `parent_uuid` returns only the root level (HCP_API.md §3), so each
    category's children are one more listing; the listings of a level run concurrently, within
    the client's concurrency. Costs one request per category plus one for the root level (a
    leaf's empty listing is the only way to learn it is a leaf).
    """
    level = _listing(client, obj, {}, on_page, outcome)
    seen: set[str] = set()
    with ThreadPoolExecutor(client.concurrency, thread_name_prefix="hcp-tree") as pool:
        while level:
            level = [r for r in level if r.get(obj.primary_key) not in seen]
            if not level:
                return
            seen.update(str(r[obj.primary_key]) for r in level)
            yield level
            keys = [r[obj.primary_key] for r in level]
            children = pool.map(
                lambda k: _listing(client, obj, {parent_param: k}, on_page, outcome), keys
            )
            level = [row for rows in children for row in rows]


def read_per_parent(
    client: HCPClient,
    obj: HCPObject,
    parent_keys: Iterable[str],
    *,
    parent_param: str,
    on_page: Callable[[int], None] | None = None,
    outcome: ReadOutcome | None = None,
) -> list[Record]:
    """One listing per parent key (materials need `material_category_uuid`), concurrently."""
    keys = list(parent_keys)
    if not keys:
        return []
    with ThreadPoolExecutor(
        min(client.concurrency, len(keys)), thread_name_prefix="hcp-children"
    ) as pool:
        listings = pool.map(
            lambda k: _listing(client, obj, {parent_param: k}, on_page, outcome), keys
        )
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
