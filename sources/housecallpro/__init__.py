"""dlt source for Housecall Pro (HCP): every object of DESIGN.md "Tables" into dataset `hcp`.

API docs: https://docs.housecallpro.com/ (notes in HCP_API.md). Get a key in HCP: App Store ->
API Key Management -> Generate API Key (MAX plan); set `SOURCES__HOUSECALLPRO__API_KEY`.

As dlt's `rest_api_resources` / `rest_api_source`: `housecallpro_resources(client, ...)` builds
the resources from a client, one per row of `settings.OBJECTS` by `BUILDERS[obj.strategy]` (one
`(obj, ctx)` signature each), all merged on their primary key, all read through the one
`HCPClient` (rate limit, concurrency, retries). `housecallpro(api_key=...)` is the standalone
dlt source (it builds the client from the key); `housecallpro_from_client(client, ...)` is the
same source (name, schema, state, config section) over a client the caller built, so the sync
never hands the key to anything but its client. Nested lists become dlt child tables
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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.common.normalizers.json.relational import DataItemNormalizer
from dlt.sources import DltResource

from sources.housecallpro.client import HCPClient
from sources.housecallpro.errors import AuthError, HCPError, NotFound, PermissionDenied
from sources.housecallpro.figures import ObjectFigures, ReadTracker
from sources.housecallpro.helpers import (
    ReadOutcome,
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
    LOCAL_TIMES,
    LOOKBACK_S,
    OBJECTS,
    ROUTES_DAYS_AHEAD,
    ROUTES_DAYS_BACK,
    HCPObject,
    Strategy,
    history_table,
)

__all__ = [
    "BUILDERS",
    "ObjectFigures",
    "ReadContext",
    "ReadTracker",
    "housecallpro",
    "local_wall_clock",
    "housecallpro_from_client",
    "housecallpro_resources",
    "record_resources",
]

log = logging.getLogger("hcp.source")

PERIODIC_FULL_READ = {"estimates"}
"""Objects whose cursor misses some changes (estimate option approvals do not bump the
estimate's `updated_at`, HCP_API.md §5) and are therefore re-read in full now and then."""


@dataclass
class ReadContext:
    """What every resource builder gets besides its object row: the one client, the tracker,
    the account and the options of this source instance."""

    client: HCPClient
    tracker: ReadTracker
    account: str
    company: dict[str, Any] | None
    full_refresh: bool
    lookback_s: int
    estimates_full_read_every_s: float
    routes_days_back: int
    routes_days_ahead: int
    built: dict[str, DltResource] = field(default_factory=dict)
    """Resources built so far, by table: a read reads from (`read_from`) one built before it."""


Builder = Callable[[HCPObject, ReadContext], DltResource]


def housecallpro_resources(
    client: HCPClient,
    *,
    tracker: ReadTracker | None = None,
    company: dict[str, Any] | None = None,
    account: str = "default",
    full_refresh: bool = False,
    lookback_s: int = LOOKBACK_S,
    estimates_full_read_every_s: float = ESTIMATES_FULL_READ_EVERY_S,
    routes_days_back: int = ROUTES_DAYS_BACK,
    routes_days_ahead: int = ROUTES_DAYS_AHEAD,
    history: Sequence[str] = (),
    job_line_items: bool = False,
) -> list[DltResource]:
    """Every HCP object as a merged dlt resource, read through `client` (arguments: see
    `housecallpro`). One resource per row of `OBJECTS`, built by `BUILDERS[obj.strategy]`, then
    the optional `<object>_history` and `job_line_items` transformers over them. Call it inside
    a `@dlt.source` (as dlt's `rest_api_resources`): it sets that source's schema to give child
    tables their root row's `account`."""
    unknown = sorted(set(history) - set(HISTORY_TABLES))
    if unknown:
        raise ValueError(f"history: unknown object(s) {unknown}; choose from {HISTORY_TABLES}")
    _propagate_account()
    ctx = ReadContext(
        client=client,
        tracker=tracker if tracker is not None else ReadTracker(),
        account=account,
        company=company,
        full_refresh=full_refresh,
        lookback_s=lookback_s,
        estimates_full_read_every_s=estimates_full_read_every_s,
        routes_days_back=routes_days_back,
        routes_days_ahead=routes_days_ahead,
    )
    for obj in OBJECTS:
        ctx.built[obj.table] = BUILDERS[obj.strategy](obj, ctx)
    out = [ctx.built[o.table] for o in OBJECTS]
    out += [_history(BY_TABLE[t], ctx) for t in HISTORY_TABLES if t in history]
    if job_line_items:
        out.append(_job_line_items(JOB_LINE_ITEMS, ctx))
    return out


def _propagate_account() -> None:
    """Child tables get the root row's account too, so they can be filtered without a join."""
    DataItemNormalizer.update_normalizer_config(
        dlt.current.source_schema(), {"propagation": {"root": {ACCOUNT_COLUMN: ACCOUNT_COLUMN}}}
    )


def record_resources(
    records: Mapping[str, Sequence[dict[str, Any]]],
    extra_columns: Mapping[str, dict[str, Any]] | None = None,
) -> list[DltResource]:
    """Records that arrived without a read (webhook deliveries), one merged resource per table,
    with the same hints as that table's read (primary key `account, <pk>`, columns, nested
    hints), so the merge replaces the same rows and their child tables. Each row must already
    carry `account`. `extra_columns` adds column hints (the drain's `_hcp_event_at`). Call it
    inside a `@dlt.source` named `housecallpro`, as `housecallpro_resources`."""
    _propagate_account()
    out: list[DltResource] = []
    for table, rows in records.items():
        for row in rows:
            local_wall_clock(row)
        hints = _hints(BY_TABLE[table])
        hints.pop("parallelized")
        hints["columns"] = {**hints["columns"], **(extra_columns or {})}
        out.append(dlt.resource(list(rows), **hints))
    return out


housecallpro_from_client = dlt.source(name="housecallpro", max_table_nesting=3)(
    housecallpro_resources
)
"""The `housecallpro` source over a client the caller built (the sync: one client, its
observers, the key never handed on). Same name, schema, state and config section as
`housecallpro` (the unset options come from `[sources.housecallpro]`), so warehouses and cursors
are shared; arguments as `housecallpro_resources`."""


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
    tracker: ReadTracker | None = None,
    company: dict[str, Any] | None = None,
    account: str = "default",
    history: Sequence[str] = (),
    job_line_items: bool = False,
) -> Sequence[DltResource]:
    """Every HCP object as a merged dlt resource, over a client built here from the key.

    Args:
        api_key: HCP API key (`Token` auth).
        base_url: HCP (or the local sandbox) base URL.
        full_refresh: re-read every object in full and merge; cursors still move forward and no
            table is dropped.
        lookback_s: seconds re-read behind each saved cursor.
        estimates_full_read_every_s: re-read estimates in full when the last full read is older
            than this (option approvals do not bump `updated_at`); 0 disables.
        routes_days_back: also read routes of this many days before today (1 request a day).
        routes_days_ahead: also read routes of this many days after today (1 request a day).
        rate_limit: requests per second of the client built here.
        concurrency: requests in flight of the client built here.
        tracker: a `ReadTracker` receiving per-object figures (pages, rows, status, errors).
        company: the `/company` body when the caller already has it (the sync's key check),
            which saves one request.
        account: the account name written into every row's `account` column (first part of
            every primary key).
        history: objects whose every version is also kept in `<object>_history` (scd2;
            `history = ["jobs", "invoices"]` under `[sources.housecallpro]`).
        job_line_items: also read `/jobs/{id}/line_items` for each job the jobs read yields
            (one request per changed job) into `job_line_items`.
    """
    options = dict(locals())  # exactly the arguments: dlt has resolved the unset ones from config
    client = HCPClient(
        options.pop("api_key"),
        options.pop("base_url"),
        rate_limit=options.pop("rate_limit"),
        concurrency=options.pop("concurrency"),
    )
    return housecallpro_resources(client, **options)


def _tag(rows: Iterable[dict[str, Any]], account: str) -> None:
    """Stamp the account on rows fresh from the client (they are ours to change), and keep
    their schedules' wall-clock times."""
    for row in rows:
        row[ACCOUNT_COLUMN] = account
        local_wall_clock(row)


def local_wall_clock(row: dict[str, Any]) -> None:
    """`schedule.scheduled_start_local` / `_end_local` without their offset (settings.LOCAL_TIMES):
    `2026-06-26T06:45:00-04:00` -> `2026-06-26T06:45:00`. A value that is not an ISO time is
    left as HCP sent it."""
    schedule = row.get("schedule")
    if not isinstance(schedule, dict):
        return
    for key in LOCAL_TIMES:
        value = schedule.get(key)
        if not isinstance(value, str):
            continue
        try:
            schedule[key] = datetime.fromisoformat(value).replace(tzinfo=None).isoformat()
        except ValueError:
            continue


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


def _incremental(obj: HCPObject, ctx: ReadContext) -> DltResource:
    """Newest first, stopping at the saved cursor minus the lookback; the cursor moves only
    after a complete read (estimates: re-read in full every `estimates_full_read_every_s`)."""
    cursor_name = obj.cursor or "updated_at"
    client, tracker, account = ctx.client, ctx.tracker, ctx.account
    full_refresh = ctx.full_refresh
    full_read_every_s = ctx.estimates_full_read_every_s if obj.table in PERIODIC_FULL_READ else 0

    @dlt.resource(**_hints(obj))
    def read(
        cursor: dlt.sources.incremental[str] = dlt.sources.incremental(  # noqa: B008
            cursor_name, row_order="desc", lag=ctx.lookback_s
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
        outcome = ReadOutcome()
        try:
            for rows in read_newest_first(
                client,
                obj,
                stop_at,
                concurrent=full,
                on_page=lambda n: tracker.page(obj.table, n),
                outcome=outcome,
            ):
                _tag(rows, account)
                yield rows
        except HCPError as exc:
            _fail(tracker, obj, exc)
            return  # cursor untouched: the next run re-reads what this one missed
        tracker.settle(obj.table, outcome.passes, outcome.steady)
        if not outcome.steady:
            # the listing moved during every pass: a record may have been skipped, so the
            # cursor stays where it was and the next run reads this window again
            tracker.finish(obj.table)
            return
        # page 1's newest value of the steady pass, not the newest row seen: a record edited
        # while the read paged may have been skipped, and it is newer than page 1 (helpers.py)
        newest = outcome.cursor
        if newest is not None and (saved is None or parse_ts(newest) > parse_ts(saved)):
            cursor.advance(newest)
        if full:
            state["last_full_read_at"] = started_at
        tracker.finish(obj.table)

    return read


Pages = Callable[[Callable[[int], None], ReadOutcome], Iterator[list[dict[str, Any]]]]


def _listed(obj: HCPObject, ctx: ReadContext, pages: Pages) -> DltResource:
    """A resource of every page `pages(on_page, outcome)` yields, tagged and tracked; an HCP
    error ends the read as failed (or skipped, for an application-key-only object); a read
    that never saw its listing steady is marked so (no deletion flags from it)."""
    tracker = ctx.tracker

    @dlt.resource(**_hints(obj))
    def read() -> Iterator[list[dict[str, Any]]]:
        tracker.start(obj.table, obj.strategy)
        outcome = ReadOutcome()
        try:
            for rows in pages(lambda n: tracker.page(obj.table, n), outcome):
                _tag(rows, ctx.account)
                yield rows
        except HCPError as exc:
            _fail(tracker, obj, exc)
            return
        tracker.settle(obj.table, outcome.passes, outcome.steady)
        tracker.finish(obj.table)

    return read


def _full(obj: HCPObject, ctx: ReadContext) -> DltResource:
    """Every page, pages 2..N concurrently (no usable cursor)."""
    return _listed(
        obj,
        ctx,
        lambda on_page, outcome: read_all(ctx.client, obj, on_page=on_page, outcome=outcome),
    )


def _tree(obj: HCPObject, ctx: ReadContext) -> DltResource:
    """Material categories, walked level by level."""
    param = obj.parent_param or "parent_uuid"
    return _listed(
        obj,
        ctx,
        lambda on_page, outcome: walk_tree(
            ctx.client, obj, parent_param=param, on_page=on_page, outcome=outcome
        ),
    )


def _daily(obj: HCPObject, ctx: ReadContext) -> DltResource:
    """Routes: HCP's default day plus the configured days around it (company time zone)."""
    zone = ctx.company.get("time_zone") if ctx.company is not None else None
    return _listed(
        obj,
        ctx,
        lambda on_page, _outcome: read_days(
            ctx.client,
            obj,
            days_back=ctx.routes_days_back,
            days_ahead=ctx.routes_days_ahead,
            time_zone=zone,
            on_page=on_page,
        ),
    )


def _per_parent(obj: HCPObject, ctx: ReadContext) -> DltResource:
    """Materials: one listing per category the `read_from` resource yields (HCP_API.md §3)."""
    if obj.read_from is None or obj.read_from not in ctx.built:
        raise ValueError(f"{obj.table}: read_from {obj.read_from!r} must be built before it")
    parent_obj = BY_TABLE[obj.read_from]
    param = obj.parent_param or f"{parent_obj.primary_key}"
    client, tracker = ctx.client, ctx.tracker
    hints = _hints(obj)
    hints.pop("name")

    @dlt.transformer(name=obj.table, data_from=ctx.built[obj.read_from], **hints)
    def read(parents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if tracker.of(obj.table).status == "pending":
            tracker.start(obj.table, obj.strategy)
        keys = [p[parent_obj.primary_key] for p in parents]
        outcome = ReadOutcome()
        try:
            rows = read_per_parent(
                client,
                obj,
                keys,
                parent_param=param,
                on_page=lambda n: tracker.page(obj.table, n),
                outcome=outcome,
            )
        except HCPError as exc:
            _fail(tracker, obj, exc)
            return []
        tracker.settle(obj.table, outcome.passes, outcome.steady)
        _tag(rows, ctx.account)
        return rows

    return read


def _single(obj: HCPObject, ctx: ReadContext) -> DltResource:
    """`/company`: one object; the body the sync's key check already fetched when given."""
    client, tracker, company = ctx.client, ctx.tracker, ctx.company

    @dlt.resource(**_hints(obj))
    def read() -> Iterator[dict[str, Any]]:
        tracker.start(obj.table, "single")
        try:
            body = company if company is not None else client.get(obj.path)
        except HCPError as exc:
            _fail(tracker, obj, exc)
            return
        tracker.page(obj.table, 1)
        yield {**body, ACCOUNT_COLUMN: ctx.account}
        tracker.finish(obj.table)

    return read


BUILDERS: dict[Strategy, Builder] = {
    "incremental": _incremental,
    "full": _full,
    "tree": _tree,
    "daily": _daily,
    "single": _single,
    "per_parent": _per_parent,
}
"""One builder per read strategy, all `(obj, ctx) -> DltResource`: a new strategy is one entry."""


VALID_FROM, VALID_TO = "valid_from", "valid_to"
"""Validity columns of `<object>_history` (UTC; `valid_to` is NULL for the current version)."""


def _history(obj: HCPObject, ctx: ReadContext) -> DltResource:
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
        data_from=ctx.built[obj.table],
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


def _job_line_items(obj: HCPObject, ctx: ReadContext) -> DltResource:
    """`/jobs/{id}/line_items` for each job the (incremental) jobs read yields.

    The jobs read re-yields the jobs of its lookback window (already loaded last run); the
    resource state remembers `updated_at` of the jobs asked within that window, so an unchanged
    job is never asked twice. A job whose line items could not be read is kept in the state
    (`pending`) and asked again on the next run, because the jobs cursor has moved past it.
    Line items are replaced per job (merge key `account, job_id`), so removed ones disappear.
    """
    assert obj.read_from is not None
    client, tracker, account, lookback_s = ctx.client, ctx.tracker, ctx.account, ctx.lookback_s
    table = obj.table

    @dlt.transformer(
        name=table,
        data_from=ctx.built[obj.read_from],
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
        if tracker.of(table).status == "pending":
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
