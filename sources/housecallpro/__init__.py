"""dlt source for Housecall Pro (HCP): every object of DESIGN.md "Tables" into dataset `hcp`.

API docs: https://docs.housecallpro.com/ (notes in HCP_API.md). Get a key in HCP: App Store ->
API Key Management -> Generate API Key (MAX plan); set `SOURCES__HOUSECALLPRO__API_KEY`.

One resource per row of `settings.OBJECTS`, all merged on their primary key, all read through
the one `HCPClient` (rate limit, concurrency, retries). Nested lists become dlt child tables
(`customers__addresses`, `jobs__schedule__appointments`, `estimates__options`, ...).

Incremental objects (customers, jobs, estimates, events) are read newest first and stop at the
saved cursor minus a lookback. The range is applied here (the explicit stop in
`helpers.read_newest_first`), so the dlt cursor is `advance()`d by hand, and only once a read
has finished: a read that fails keeps its old cursor and the next run picks up where it
stopped. The rest are read in full and merged. Must never: advance a cursor past rows it has
not loaded, or stop a sync because an application-key-only object answered 401/403.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.sources import DltResource

from sources.housecallpro.client import DEFAULT_BASE_URL, HCPClient
from sources.housecallpro.errors import AuthError, HCPError, PermissionDenied
from sources.housecallpro.helpers import (
    ObjectReport,
    ReadTracker,
    parse_ts,
    read_all,
    read_days,
    read_newest_first,
    read_per_parent,
    walk_tree,
)
from sources.housecallpro.settings import (
    ESTIMATES_FULL_READ_EVERY_S,
    LOOKBACK_S,
    OBJECTS,
    ROUTES_DAYS_AHEAD,
    ROUTES_DAYS_BACK,
    HCPObject,
)

__all__ = ["housecallpro", "ObjectReport", "ReadTracker"]

log = logging.getLogger("hcp.source")

PERIODIC_FULL_READ = {"estimates"}
"""Objects whose cursor misses some changes (estimate option approvals do not bump the
estimate's `updated_at`, HCP_API.md §5) and are therefore re-read in full now and then."""


@dlt.source(name="housecallpro", max_table_nesting=3)
def housecallpro(
    api_key: str = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    full_refresh: bool = False,
    lookback_s: int = LOOKBACK_S,
    estimates_full_read_every_s: float = ESTIMATES_FULL_READ_EVERY_S,
    routes_days_back: int = ROUTES_DAYS_BACK,
    routes_days_ahead: int = ROUTES_DAYS_AHEAD,
    rate_limit: float = 10.0,
    concurrency: int = 4,
    client: Any = None,
    tracker: Any = None,
    company: Any = None,
) -> Sequence[DltResource]:
    """Every HCP object as a merged dlt resource.

    Args:
        api_key: HCP API key (`Token` auth). Ignored when `client` is given.
        base_url: HCP (or the local sandbox) base URL.
        full_refresh: re-read every object in full and merge; cursors still move forward and no
            table is dropped.
        lookback_s: seconds re-read behind each saved cursor.
        estimates_full_read_every_s: re-read estimates in full when the last full read is older
            than this (option approvals do not bump `updated_at`); 0 disables.
        routes_days_back: also read routes of this many days before today (1 request a day).
        routes_days_ahead: also read routes of this many days after today (1 request a day).
        rate_limit: requests per second of the client built here (not used with `client`).
        concurrency: requests in flight of the client built here (not used with `client`).
        client: an `HCPClient` to share (the sync passes one so requests are counted).
        tracker: a `ReadTracker` receiving per-object pages, rows, status and errors.
        company: the `/company` body when the caller already has it (the sync's key check),
            which saves one request.
    """
    if client is None:
        client = HCPClient(api_key, base_url, rate_limit=rate_limit, concurrency=concurrency)
    tracker = tracker if tracker is not None else ReadTracker()
    resources: dict[str, DltResource] = {}
    for obj in OBJECTS:
        if obj.strategy == "incremental":
            every = estimates_full_read_every_s if obj.table in PERIODIC_FULL_READ else 0
            resources[obj.table] = _incremental(
                obj, client, tracker, full_refresh, lookback_s, every
            )
        elif obj.strategy == "per_parent":
            continue  # built after its parent, below
        elif obj.strategy == "single":
            resources[obj.table] = _single(obj, client, tracker, company)
        elif obj.strategy == "daily":
            zone = company.get("time_zone") if isinstance(company, dict) else None
            days = (routes_days_back, routes_days_ahead, zone)
            resources[obj.table] = _full(obj, client, tracker, days)
        else:
            resources[obj.table] = _full(obj, client, tracker)
    for obj in OBJECTS:
        if obj.strategy == "per_parent":
            assert obj.parent is not None
            resources[obj.table] = _per_parent(obj, resources[obj.parent], client, tracker)
    return [resources[o.table] for o in OBJECTS]


def _hints(obj: HCPObject) -> dict[str, Any]:
    hints: dict[str, Any] = {
        "name": obj.table,
        "primary_key": obj.primary_key,
        "write_disposition": "merge",
        "columns": obj.columns,
        "parallelized": True,
    }
    if obj.nested:
        hints["nested_hints"] = obj.nested
    return hints


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fail(tracker: ReadTracker, obj: HCPObject, exc: HCPError) -> None:
    """An app-key-only object refused (401/403) is skipped with a warning; anything else fails."""
    if obj.app_key_only and isinstance(exc, AuthError | PermissionDenied):
        log.warning(
            "%s skipped: HCP serves %s only to application keys (%s)", obj.table, obj.path, exc
        )
        tracker.finish(obj.table, "skipped", f"needs an application key (HTTP {exc.status})")
        return
    log.error("%s failed: %s", obj.table, exc)
    tracker.finish(obj.table, "failed", str(exc))


def _incremental(
    obj: HCPObject,
    client: HCPClient,
    tracker: ReadTracker,
    full_refresh: bool,
    lookback_s: int,
    full_read_every_s: float,
) -> DltResource:
    cursor_name = obj.cursor or "updated_at"

    @dlt.resource(**_hints(obj))
    def read(
        cursor: dlt.sources.incremental[str] = dlt.sources.incremental(  # noqa: B008
            cursor_name, row_order="desc", lag=lookback_s
        ),
    ) -> Iterator[list[dict[str, Any]]]:
        # We apply the range ourselves (explicit stop at cursor - lookback) and move the cursor
        # only after a complete read, so dlt must neither filter rows nor write the cursor.
        saved = cursor.get_state().get("last_value")
        cursor.advance(None)
        state = dlt.current.resource_state()
        last_full = parse_ts(state.get("last_full_read_at"))
        due = full_read_every_s > 0 and (
            last_full is None or time.time() - last_full.timestamp() >= full_read_every_s
        )
        full = full_refresh or saved is None or due
        stop_at = None if full else cursor.start_value
        tracker.start(obj.table, "full" if full else "incremental")
        started_at = _now_iso()
        newest = parse_ts(saved)
        newest_raw = saved
        try:
            for rows in read_newest_first(
                client,
                obj,
                stop_at,
                concurrent=full,
                on_page=lambda n: tracker.page(obj.table, n),
            ):
                for row in rows:
                    value = parse_ts(row.get(cursor_name))
                    if value is not None and (newest is None or value > newest):
                        newest, newest_raw = value, row[cursor_name]
                yield rows
        except HCPError as exc:
            _fail(tracker, obj, exc)
            return  # cursor untouched: the next run re-reads what this one missed
        if newest_raw is not None and newest_raw != saved:
            cursor.advance(newest_raw)
        if full:
            state["last_full_read_at"] = started_at
        tracker.finish(obj.table)

    return read


def _full(
    obj: HCPObject,
    client: HCPClient,
    tracker: ReadTracker,
    days: tuple[int, int, str | None] | None = None,
) -> DltResource:
    walk = obj.strategy == "tree"

    @dlt.resource(**_hints(obj))
    def read() -> Iterator[list[dict[str, Any]]]:
        tracker.start(obj.table, obj.strategy)

        def on_page(n: int) -> None:
            tracker.page(obj.table, n)

        try:
            if days is not None:
                back, ahead, zone = days
                yield from read_days(
                    client, obj, days_back=back, days_ahead=ahead, time_zone=zone, on_page=on_page
                )
            elif walk:
                yield from walk_tree(
                    client, obj, parent_param=obj.parent_param or "parent_uuid", on_page=on_page
                )
            else:
                yield from read_all(client, obj, on_page=on_page)
        except HCPError as exc:
            _fail(tracker, obj, exc)
            return
        tracker.finish(obj.table)

    return read


def _per_parent(
    obj: HCPObject, parent: DltResource, client: HCPClient, tracker: ReadTracker
) -> DltResource:
    """Materials: one listing per category the parent resource yields (HCP_API.md §3)."""
    parent_obj = next(o for o in OBJECTS if o.table == obj.parent)
    param = obj.parent_param or f"{parent_obj.primary_key}"
    hints = _hints(obj)
    hints.pop("name")

    @dlt.transformer(name=obj.table, data_from=parent, **hints)
    def read(parents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rep = tracker.report(obj.table)
        if rep.status == "pending":
            tracker.start(obj.table, obj.strategy)
        keys = [p[parent_obj.primary_key] for p in parents]
        try:
            return read_per_parent(
                client,
                obj,
                keys,
                parent_param=param,
                on_page=lambda n: tracker.page(obj.table, n),
            )
        except HCPError as exc:
            _fail(tracker, obj, exc)
            return []

    return read


def _single(
    obj: HCPObject, client: HCPClient, tracker: ReadTracker, company: dict[str, Any] | None
) -> DltResource:
    @dlt.resource(**_hints(obj))
    def read() -> Iterator[dict[str, Any]]:
        tracker.start(obj.table, "single")
        try:
            body = company if company is not None else client.get(obj.path)
        except HCPError as exc:
            _fail(tracker, obj, exc)
            return
        tracker.page(obj.table, 1)
        yield body
        tracker.finish(obj.table)

    return read
