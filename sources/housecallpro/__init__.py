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

Every row carries `account` (the configured account name), first in every primary key, and dlt
propagates it into child tables, so several accounts share one dataset without colliding.
Optional extras ride on the reads above and never fetch a record twice: `<object>_history`
(a transformer over the object's own items, scd2, retiring only keys it re-read) and
`job_line_items` (a transformer over the incremental jobs read: one request per changed job).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.common.normalizers.json.relational import DataItemNormalizer
from dlt.sources import DltResource

from sources.housecallpro.client import HCPClient
from sources.housecallpro.errors import AuthError, HCPError, NotFound, PermissionDenied
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
    ACCOUNT_COLUMN,
    BY_TABLE,
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENCY,
    DEFAULT_RATE_LIMIT,
    DELETED_AT_COLUMN,
    DELETION_STRATEGIES,
    ESTIMATES_FULL_READ_EVERY_S,
    HISTORY_JSON_COLUMNS,
    HISTORY_TABLES,
    JOB_LINE_ITEMS,
    LOOKBACK_S,
    OBJECTS,
    ROUTES_DAYS_AHEAD,
    ROUTES_DAYS_BACK,
    HCPObject,
    history_table,
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
    rate_limit: float = DEFAULT_RATE_LIMIT,
    concurrency: int = DEFAULT_CONCURRENCY,
    client: Any = None,
    tracker: Any = None,
    company: Any = None,
    account: str = "default",
    history: Sequence[str] = (),
    job_line_items: bool = False,
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
        account: the account name written into every row's `account` column (first part of
            every primary key).
        history: objects whose every version is also kept in `<object>_history` (scd2;
            `history = ["jobs", "invoices"]` under `[sources.housecallpro]`).
        job_line_items: also read `/jobs/{id}/line_items` for each job the jobs read yields
            (one request per changed job) into `job_line_items`.
    """
    unknown = sorted(set(history) - set(HISTORY_TABLES))
    if unknown:
        raise ValueError(f"history: unknown object(s) {unknown}; choose from {HISTORY_TABLES}")
    # child tables get the root row's account too, so they can be filtered without a join
    DataItemNormalizer.update_normalizer_config(
        dlt.current.source_schema(), {"propagation": {"root": {ACCOUNT_COLUMN: ACCOUNT_COLUMN}}}
    )
    if client is None:
        client = HCPClient(api_key, base_url, rate_limit=rate_limit, concurrency=concurrency)
    tracker = tracker if tracker is not None else ReadTracker()
    resources: dict[str, DltResource] = {}
    for obj in OBJECTS:
        if obj.strategy == "incremental":
            every = estimates_full_read_every_s if obj.table in PERIODIC_FULL_READ else 0
            resources[obj.table] = _incremental(
                obj, client, tracker, account, full_refresh, lookback_s, every
            )
        elif obj.strategy == "per_parent":
            continue  # built after its parent, below
        elif obj.strategy == "single":
            resources[obj.table] = _single(obj, client, tracker, account, company)
        elif obj.strategy == "daily":
            zone = company.get("time_zone") if isinstance(company, dict) else None
            days = (routes_days_back, routes_days_ahead, zone)
            resources[obj.table] = _full(obj, client, tracker, account, days)
        else:
            resources[obj.table] = _full(obj, client, tracker, account)
    for obj in OBJECTS:
        if obj.strategy == "per_parent":
            assert obj.read_from is not None
            resources[obj.table] = _per_parent(
                obj, resources[obj.read_from], client, tracker, account
            )
    out = [resources[o.table] for o in OBJECTS]
    out += [_history(BY_TABLE[t], resources[t]) for t in HISTORY_TABLES if t in history]
    if job_line_items:
        out.append(_job_line_items(resources["jobs"], client, tracker, account, lookback_s))
    return out


def _tag(rows: Iterable[dict[str, Any]], account: str) -> None:
    """Stamp the account on rows fresh from the client (they are ours to change)."""
    for row in rows:
        row[ACCOUNT_COLUMN] = account


def _columns(obj: HCPObject) -> dict[str, dict[str, Any]]:
    columns: dict[str, dict[str, Any]] = {
        ACCOUNT_COLUMN: {"name": ACCOUNT_COLUMN, "data_type": "text", "nullable": False},
        **obj.columns,
    }
    if obj.strategy in DELETION_STRATEGIES:
        columns[DELETED_AT_COLUMN] = {
            "name": DELETED_AT_COLUMN,
            "data_type": "timestamp",
            "nullable": True,
        }
    return columns


def _hints(obj: HCPObject) -> dict[str, Any]:
    hints: dict[str, Any] = {
        "name": obj.table,
        "primary_key": [ACCOUNT_COLUMN, obj.primary_key],
        "write_disposition": "merge",
        "columns": _columns(obj),
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
    account: str,
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
                _tag(rows, account)
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
    account: str,
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
                pages = read_days(
                    client, obj, days_back=back, days_ahead=ahead, time_zone=zone, on_page=on_page
                )
            elif walk:
                pages = walk_tree(
                    client, obj, parent_param=obj.parent_param or "parent_uuid", on_page=on_page
                )
            else:
                pages = read_all(client, obj, on_page=on_page)
            for rows in pages:
                _tag(rows, account)
                yield rows
        except HCPError as exc:
            _fail(tracker, obj, exc)
            return
        tracker.finish(obj.table)

    return read


def _per_parent(
    obj: HCPObject, parent: DltResource, client: HCPClient, tracker: ReadTracker, account: str
) -> DltResource:
    """Materials: one listing per category the parent resource yields (HCP_API.md §3)."""
    parent_obj = next(o for o in OBJECTS if o.table == obj.read_from)
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
            rows = read_per_parent(
                client,
                obj,
                keys,
                parent_param=param,
                on_page=lambda n: tracker.page(obj.table, n),
            )
        except HCPError as exc:
            _fail(tracker, obj, exc)
            return []
        _tag(rows, account)
        return rows

    return read


def _single(
    obj: HCPObject,
    client: HCPClient,
    tracker: ReadTracker,
    account: str,
    company: dict[str, Any] | None,
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
        yield {**body, ACCOUNT_COLUMN: account}
        tracker.finish(obj.table)

    return read


VALID_FROM, VALID_TO = "valid_from", "valid_to"
"""Validity columns of `<object>_history` (UTC; `valid_to` is NULL for the current version)."""


def _history(obj: HCPObject, parent: DltResource) -> DltResource:
    """`<object>_history`: every version of `obj` seen, with `valid_from` / `valid_to`.

    A transformer over the object's own resource, so the rows are the ones just read (no second
    request). dlt's scd2 retires every active row absent from a load by default; with
    `merge_key = (account, key)` it retires only rows whose key this load re-read, so an
    incremental read (a few changed jobs) leaves every other job's current version open. A
    version is the record's content hash: re-reading an unchanged record adds nothing.
    """
    json_cols = {
        name: {"name": name, "data_type": "json"}
        for name in HISTORY_JSON_COLUMNS.get(obj.table, ())
    }
    columns = {
        ACCOUNT_COLUMN: {"name": ACCOUNT_COLUMN, "data_type": "text", "nullable": False},
        **obj.columns,
        **json_cols,
    }

    @dlt.transformer(
        name=history_table(obj.table),
        data_from=parent,
        write_disposition={
            "disposition": "merge",
            "strategy": "scd2",
            "validity_column_names": [VALID_FROM, VALID_TO],
        },
        merge_key=[ACCOUNT_COLUMN, obj.primary_key],
        columns=columns,
        max_table_nesting=1,
    )
    def versions(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return rows

    return versions


def _job_line_items(
    jobs: DltResource,
    client: HCPClient,
    tracker: ReadTracker,
    account: str,
    lookback_s: int,
) -> DltResource:
    """`/jobs/{id}/line_items` for each job the (incremental) jobs read yields.

    The jobs read re-yields the jobs of its lookback window (already loaded last run); the
    resource state remembers `updated_at` of the jobs asked within that window, so an unchanged
    job is never asked twice. A job whose line items could not be read is kept in the state
    (`pending`) and asked again on the next run, because the jobs cursor has moved past it.
    Line items are replaced per job (merge key `account, job_id`), so removed ones disappear.
    """
    obj = JOB_LINE_ITEMS
    table = obj.table

    @dlt.transformer(
        name=table,
        data_from=jobs,
        primary_key=[ACCOUNT_COLUMN, obj.primary_key],
        merge_key=[ACCOUNT_COLUMN, "job_id"],
        write_disposition="merge",
        columns={
            ACCOUNT_COLUMN: {"name": ACCOUNT_COLUMN, "data_type": "text", "nullable": False},
            **obj.columns,
        },
    )
    def read(parents: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        state = dlt.current.resource_state()
        seen: dict[str, str] = state.setdefault("seen", {})
        pending: dict[str, str] = state.setdefault("pending", {})
        if tracker.report(table).status == "pending":
            tracker.start(table, "per_job")
            todo = dict(pending)  # failed last time: ask again once per run
        else:
            todo = {}
        for job in parents:
            job_id, updated = str(job["id"]), str(job.get("updated_at") or "")
            if seen.get(job_id) != updated or not updated:
                todo[job_id] = updated
        if not todo:
            return

        def one(job_id: str) -> tuple[str, list[dict[str, Any]] | HCPError]:
            try:
                body = client.get(obj.path.format(id=job_id))
            except NotFound:
                return job_id, []  # the job is gone: no line items to keep
            except HCPError as exc:
                return job_id, exc
            items = body.get(obj.envelope_key or "data", []) if isinstance(body, dict) else []
            tracker.page(table, len(items))
            return job_id, items

        with ThreadPoolExecutor(
            min(client.concurrency, len(todo)), thread_name_prefix="hcp-line-items"
        ) as pool:
            results = list(pool.map(one, list(todo)))
        rows: list[dict[str, Any]] = []
        for job_id, got in results:
            if isinstance(got, HCPError):
                pending[job_id] = todo[job_id]
                log.error("%s of job %s failed: %s", table, job_id, got)
                tracker.finish(table, "failed", f"job {job_id}: {got}")
                continue
            pending.pop(job_id, None)
            seen[job_id] = todo[job_id]
            for item in got:
                rows.append({**item, "job_id": job_id, ACCOUNT_COLUMN: account})
        _prune(seen, lookback_s)
        if rows:
            yield rows

    return read


def _prune(seen: dict[str, str], lookback_s: int) -> None:
    """Keep only jobs inside the lookback window of the newest one: older ones are never re-read
    by an incremental jobs read, so remembering them would only grow the state."""
    stamps = [t for t in (parse_ts(v) for v in seen.values() if v) if t is not None]
    if not stamps:
        return
    horizon = max(stamps).timestamp() - lookback_s - 1
    for job_id, value in list(seen.items()):
        stamp = parse_ts(value) if value else None
        if stamp is None or stamp.timestamp() < horizon:
            del seen[job_id]
