"""Pages that shift while a read pages through them (issue 17), shape by shape, behind respx.

HCP pages by number over a live listing, newest first. Each test serves a `LiveListing` whose
rows change between two page requests in one of the shapes that skip a record, and asserts
what a user relies on: the read still returns every record that existed throughout (or says it
is not steady), costs the API minimum when nothing changes, and says what a change cost.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from pipelines.sync.results import SyncResult, collect
from pipelines.sync.upkeep import fully_read
from sources.housecallpro.client import HCPClient
from sources.housecallpro.errors import IncompleteRead
from sources.housecallpro.figures import ObjectFigures, ReadTracker
from sources.housecallpro.helpers import (
    MAX_PASSES,
    ReadOutcome,
    parse_ts,
    read_all,
    read_newest_first,
)
from sources.housecallpro.settings import BY_TABLE, LOOKBACK_S

BASE = "https://hcp.test"
T0 = datetime(2026, 9, 1, tzinfo=UTC)
JOBS = BY_TABLE["jobs"]  # a cursor object: updated_at desc
TAGS = BY_TABLE["tags"]  # read in full, HCP's default order (created_at desc)


def stamp(seconds: int) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


Change = Callable[["LiveListing"], None]


class LiveListing:
    """`n` rows, newest first (`updated_at` one second apart), served by page number.

    `changes[k]` runs before the k-th request (1-based) is answered; `hold` makes the request
    for one page wait until another page was answered, so concurrent pages arrive in the order
    a test needs. `truncate` serves that many rows fewer than `total_items` says.
    """

    def __init__(self, n: int, path: str) -> None:
        self.path = path
        self.rows = [{"id": f"r{i:04d}", "updated_at": stamp(-i)} for i in range(n)]
        self.clock = 0
        self.changes: dict[int, Change] = {}
        self.asked: list[int] = []
        self.hold: tuple[int, int] | None = None
        """(page that waits, page it waits for), first pass only."""
        self.truncate = 0
        self._answered: dict[int, threading.Event] = {}
        self._lock = threading.Lock()

    # the changes a test applies -------------------------------------------------------------
    def edit(self, rid: str) -> None:
        """An edit: `updated_at` moves to now, so the row moves to the front."""
        self.clock += 1
        row = next(r for r in self.rows if r["id"] == rid)
        self.rows.remove(row)
        self.rows.insert(0, {**row, "updated_at": stamp(self.clock)})

    def create(self, rid: str) -> None:
        self.clock += 1
        self.rows.insert(0, {"id": rid, "updated_at": stamp(self.clock)})

    def delete(self, rid: str) -> None:
        self.rows = [r for r in self.rows if r["id"] != rid]

    def ids(self) -> set[str]:
        return {r["id"] for r in self.rows}

    # serving --------------------------------------------------------------------------------
    def __call__(self, request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        size = int(request.url.params["page_size"])
        if self.hold and page == self.hold[0] and len(self.asked) < 3:
            waited_for = self._event(self.hold[1])
            assert waited_for.wait(timeout=10), "the page this one waits for was never asked"
        with self._lock:
            self.asked.append(page)
            change = self.changes.get(len(self.asked))
            if change is not None:
                change(self)
            total = len(self.rows)
            served = self.rows[(page - 1) * size : page * size]
            if self.truncate and page * size >= total - self.truncate:
                served = served[: max(0, total - self.truncate - (page - 1) * size)]
        self._event(page).set()
        body = {
            "page": page,
            "page_size": size,
            "total_pages": math.ceil(total / size),
            "total_items": total,
            self.path.strip("/"): served,
        }
        return httpx.Response(200, json=body)

    def _event(self, page: int) -> threading.Event:
        with self._lock:
            return self._answered.setdefault(page, threading.Event())


def serve(n: int, path: str) -> LiveListing:
    listing = LiveListing(n, path)
    respx.get(f"{BASE}{path}").mock(side_effect=listing)
    return listing


def client(concurrency: int = 4) -> HCPClient:
    return HCPClient("k", BASE, rate_limit=0, concurrency=concurrency, max_retries=0)


def full_read(listing: LiveListing, obj: Any, concurrency: int = 4) -> tuple[list, ReadOutcome]:
    outcome = ReadOutcome()
    if obj is JOBS:
        pages = read_newest_first(client(concurrency), obj, None, concurrent=True, outcome=outcome)
    else:
        pages = read_all(client(concurrency), obj, outcome=outcome)
    return [r for rows in pages for r in rows], outcome


# --------------------------------------------------------------------------- nothing changes


@pytest.mark.parametrize("obj", [JOBS, TAGS], ids=["cursor", "full"])
@pytest.mark.parametrize("concurrency", [1, 4])
@respx.mock
def test_a_steady_full_read_costs_ceil_n_over_200_and_nothing_more(obj, concurrency) -> None:
    listing = serve(450, obj.path)
    rows, outcome = full_read(listing, obj, concurrency)
    assert {r["id"] for r in rows} == listing.ids() and len(rows) == 450
    assert sorted(listing.asked) == [1, 2, 3]
    cursor = stamp(0) if obj is JOBS else None  # a full object has no cursor
    assert (outcome.steady, outcome.passes, outcome.cursor) == (True, 1, cursor)


@respx.mock
def test_a_steady_incremental_read_costs_one_request() -> None:
    listing = serve(450, JOBS.path)
    outcome = ReadOutcome()
    pages = read_newest_first(client(), JOBS, stamp(-60), concurrent=False, outcome=outcome)
    assert sum(len(p) for p in pages) == 61
    assert listing.asked == [1]
    assert (outcome.steady, outcome.cursor) == (True, stamp(0))


# --------------------------------------------------------------------------- shapes that skip


@respx.mock
def test_an_edit_moving_an_unread_record_to_the_front_is_fetched_by_the_next_incremental() -> None:
    # sequential pages: r0300 is edited after page 1, jumps to the front and is not on page 2
    # or 3; every other record is (they only move back); the cursor stays at page 1's newest,
    # so the next incremental read, 1 request, fetches the edited record
    listing = serve(450, JOBS.path)
    listing.changes[2] = lambda live: live.edit("r0300")
    rows, outcome = full_read(listing, JOBS, concurrency=1)
    seen = {r["id"] for r in rows}
    assert seen == listing.ids() - {"r0300"}
    assert (outcome.steady, outcome.passes, outcome.cursor) == (True, 1, stamp(0))
    assert listing.asked == [1, 2, 3]

    stop_at = parse_ts(outcome.cursor) - timedelta(seconds=LOOKBACK_S)
    nxt = list(read_newest_first(client(), JOBS, stop_at, concurrent=False))
    assert "r0300" in {r["id"] for rows in nxt for r in rows}
    assert listing.asked == [1, 2, 3, 1]


@respx.mock
def test_an_edit_during_concurrent_pages_is_caught_by_the_ids_and_read_again() -> None:
    # pages 2 and 3 are asked after r0420 (on page 3) moved to the front: page 2 repeats r0199
    # and page 3 starts at r0399's old place, so 449 distinct ids for 450: a sequential re-read
    listing = serve(450, JOBS.path)
    listing.changes[2] = lambda live: live.edit("r0420")
    rows, outcome = full_read(listing, JOBS)
    assert {r["id"] for r in rows} == listing.ids()
    assert (outcome.steady, outcome.passes) == (True, 2)
    assert "449 distinct ids" in outcome.changed[0]
    assert sorted(listing.asked) == [1, 1, 2, 2, 3, 3]  # one more pass: ceil(450 / 200)
    assert outcome.cursor == stamp(1)  # the second pass's page 1 holds the edited record


@pytest.mark.parametrize("obj", [JOBS, TAGS], ids=["cursor", "full"])
@respx.mock
def test_a_delete_pulling_a_record_back_past_a_page_boundary_is_read_again(obj) -> None:
    # sequential: r0010 (page 1, already read) is deleted, r0200 moves onto page 1 and page 2
    # starts at r0201; total_items fell from 450 to 449, so the read goes again
    listing = serve(450, obj.path)
    listing.changes[2] = lambda live: live.delete("r0010")
    rows, outcome = full_read(listing, obj, concurrency=1)
    assert {r["id"] for r in rows} >= listing.ids()
    assert "r0200" in {r["id"] for r in rows}
    assert (outcome.steady, outcome.passes) == (True, 2)
    assert "450 -> 449" in outcome.changed[0]
    assert listing.asked == [1, 2, 3, 1, 2, 3]


@pytest.mark.parametrize(
    ("obj", "change", "why"),
    [
        # a create pushes r0399 from page 2 onto page 3, already read: page 2 reports 451
        (TAGS, lambda live: live.create("new_1"), "total_items moved"),
        # r0420 (read on page 3) moves to the front and pushes r0399 onto page 3: total_items
        # stays 450, but page 2 repeats r0199, so the ids say 449
        (JOBS, lambda live: live.edit("r0420"), "449 distinct ids"),
    ],
    ids=["create", "edit"],
)
@respx.mock
def test_a_change_between_concurrent_pages_answered_out_of_order_is_read_again(
    obj, change, why
) -> None:
    listing = serve(450, obj.path)
    listing.hold = (2, 3)  # page 3 is answered before page 2, the change between them
    listing.changes[3] = change
    rows, outcome = full_read(listing, obj)
    assert listing.asked[:3] == [1, 3, 2]
    assert {r["id"] for r in rows} == listing.ids()
    assert (outcome.steady, outcome.passes) == (True, 2)
    assert why in outcome.changed[0]


@respx.mock
def test_a_record_newer_than_page_1_on_a_later_page_marks_a_concurrent_pass_changed() -> None:
    # before pages 2..3: 201 creates and 201 deletes (all of page 1 and r0449), so total_items
    # holds at 450 and the read sees 450 distinct ids, yet page 2 starts with a record created
    # after page 1 was read: the counting proof's one escape, caught by the cursor -> read again
    listing = serve(450, JOBS.path)

    def churn(live: LiveListing) -> None:
        for k in range(201):
            live.create(f"new_{k}")
        for k in [*range(200), 449]:
            live.delete(f"r{k:04d}")

    listing.changes[2] = churn
    rows, outcome = full_read(listing, JOBS)
    assert (outcome.steady, outcome.passes) == (True, 2)
    assert "newer than page 1" in outcome.changed[0]
    assert {r["id"] for r in rows} >= listing.ids()


@respx.mock
def test_a_listing_that_changes_during_every_pass_is_not_steady_and_flags_nothing() -> None:
    listing = serve(450, TAGS.path)
    for k in range(2, 3 * MAX_PASSES + 1, 3):  # a delete inside every pass
        listing.changes[k] = lambda live, k=k: live.delete(live.rows[0]["id"])
    _, outcome = full_read(listing, TAGS, concurrency=1)
    assert (outcome.steady, outcome.passes) == (False, MAX_PASSES)
    assert len(listing.asked) == 3 * MAX_PASSES  # each pass ceil(n / 200): the cost, bounded
    figures = {"tags": ObjectFigures("tags", status="ok", mode="full", unsteady=True)}
    assert fully_read(figures) == []
    figures["tags"].unsteady = False
    assert fully_read(figures) == ["tags"]


# --------------------------------------------------------------------------- truncated listings


@respx.mock
def test_a_truncated_steady_listing_still_raises_incomplete_read() -> None:
    listing = serve(450, TAGS.path)
    listing.truncate = 30
    with pytest.raises(IncompleteRead, match="read 420 rows but total_items says 450"):
        full_read(listing, TAGS)
    assert sorted(listing.asked) == [1, 2, 3]  # no re-read hides it


@respx.mock
def test_a_truncated_listing_that_also_changed_raises_on_the_re_read() -> None:
    # the first pass's count proves nothing (a delete moved total_items); the re-read is
    # steady, and its count still disagrees: IncompleteRead, not a quiet shortfall
    listing = serve(450, TAGS.path)
    listing.truncate = 30
    listing.changes[2] = lambda live: live.delete("r0005")
    with pytest.raises(IncompleteRead, match="total_items says 449"):
        full_read(listing, TAGS, concurrency=1)
    assert listing.asked == [1, 2, 3, 1, 2, 3]


def test_the_sync_message_names_a_read_that_was_never_steady() -> None:
    tracker = ReadTracker()
    tracker.start("tags", "full")
    tracker.settle("tags", MAX_PASSES, steady=False)
    tracker.finish("tags")
    tracker.start("leads", "full")
    tracker.settle("leads", 1, steady=True)
    tracker.finish("leads")
    result = SyncResult("main", False, 1, "")
    collect(result, tracker, ["tags", "leads"], None)
    assert result.ok and result.objects["tags"].passes == MAX_PASSES
    assert "listing of tags changed during every re-read" in result.message
    assert "no deletion flagged" in result.message and "leads" not in result.message
