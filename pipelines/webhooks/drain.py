"""The drain: spooled webhook deliveries -> `hcp.webhook_events` and the raw tables, by merge.

Every delivery becomes one row of `hcp.webhook_events` (status `applied`, `stale`, `deferred`,
`unknown_event` or `malformed`); the record it carries is merged into its raw table through dlt
with the same hints as that table's read (`sources.housecallpro.record_resources`), so child
tables such as `customers__addresses` follow. Which event wins:

- among the events of one record in a drain, the newest `event_occurred_at` (ties: the later
  delivery);
- against the warehouse row: when both the record and the row have `updated_at`, an older
  record is stale; a row an event wrote keeps that event's time (`_hcp_event_at`) and an older
  event is stale; a row a read wrote (no `_hcp_event_at`) is as new as the start of that read
  (its `_dlt_load_id` is the extract's start time, and the read saw HCP after it), so an event
  that occurred before it is stale: this is the rule for invoices, leads and employees, which
  have no `updated_at`.

`*.deleted` merges the record with `_hcp_deleted_at` = the event's time. `job.appointment.*`
carries one appointment, not the job: a dlt merge replaces a job's whole
`jobs__schedule__appointments` list, so applying one appointment would drop the others. Those
events are stored as `deferred`, and when the caller gives the account's client the job is
re-read from HCP and merged whole (`refresh`; the only request a drain makes). `employee.*` and
`pro.*` land in `employees`.

Crash safety: the records are loaded first, then the event rows, then the spool is marked. A
delivery whose row is already in `hcp.webhook_events` (a drain died before `mark_drained`) is
only marked, never written again; one that died before its event row re-applies the same record
(same content, idempotent). `delivery_id` is the sha256 of the body, the spool's own unique key
per account, so it survives a spool that was deleted and started again.

Must never: read HCP beyond the deferred events' jobs, hold the DuckDB lock while reading or
parsing the spool or waiting on HCP, mark a delivery
drained before the warehouse committed it, or apply one account's delivery to another's rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import dlt
from dlt.sources import DltResource

from pipelines import config
from pipelines.config import ConfigError
from pipelines.sync.destination import (
    DATASET,
    LOADER_FILE_FORMAT,
    account_pipeline_name,
    resolve_destination,
    state_dir,
    warehouse_lock,
)
from pipelines.sync.upkeep import finish_interrupted
from pipelines.webhooks.names import EVENT_AT_COLUMN, EVENTS_TABLE
from pipelines.webhooks.refresh import RefreshResult, refresh_deferred_jobs
from pipelines.webhooks.spool import Delivery, Spool
from sources.housecallpro import record_resources
from sources.housecallpro.client import HCPClient
from sources.housecallpro.helpers import parse_ts
from sources.housecallpro.settings import ACCOUNT_COLUMN, BY_TABLE, DELETED_AT_COLUMN

log = logging.getLogger("hcp.webhooks")


OBJECT_OF_EVENT: dict[str, str] = {
    "customer": "customers",
    "job": "jobs",
    "estimate": "estimates",
    "invoice": "invoices",
    "lead": "leads",
    "employee": "employees",
    "pro": "employees",  # HCP's UI names `pro.created`; the payload says `employee.created`
}
"""The event's first segment -> raw table; the record sits under that segment's key."""
RECORD_KEYS: dict[str, tuple[str, ...]] = {"pro": ("employee", "pro")}
DELETING = {"deleted"}
DEFERRED_PREFIX = "job.appointment."

Status = Literal["applied", "stale", "deferred", "unknown_event", "malformed"]
BATCH = 1000

EXTRA_COLUMNS = {
    EVENT_AT_COLUMN: {"name": EVENT_AT_COLUMN, "data_type": "timestamp", "nullable": True},
    DELETED_AT_COLUMN: {"name": DELETED_AT_COLUMN, "data_type": "timestamp", "nullable": True},
}

EVENT_COLUMNS: dict[str, dict[str, Any]] = {
    name: {"name": name, "data_type": typ, "nullable": name not in (ACCOUNT_COLUMN, "delivery_id")}
    for name, typ in (
        (ACCOUNT_COLUMN, "text"),
        ("delivery_id", "text"),
        ("spool_id", "bigint"),
        ("event", "text"),
        ("event_occurred_at", "timestamp"),
        ("company_id", "text"),
        ("object", "text"),
        ("record_id", "text"),
        ("payload", "json"),
        ("received_at", "timestamp"),
        ("applied_at", "timestamp"),
        ("status", "text"),
        ("note", "text"),
    )
}


@dataclass
class Event:
    """One delivery, parsed: what `hcp.webhook_events` stores, and the record to apply."""

    delivery: Delivery
    status: Status = "malformed"
    event: str | None = None
    occurred_at: datetime | None = None
    company_id: str | None = None
    table: str | None = None
    record: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    note: str | None = None
    job_id: str | None = None
    """For a `job.appointment.*` event: the job it changed (the record it does not carry)."""

    @property
    def delivery_id(self) -> str:
        return hashlib.sha256(self.delivery.body).hexdigest()

    @property
    def record_id(self) -> str | None:
        if self.record is None or self.table is None:
            return self.job_id
        key = self.record.get(BY_TABLE[self.table].primary_key)
        return None if key is None else str(key)

    def row(self, applied_at: datetime) -> dict[str, Any]:
        return {
            ACCOUNT_COLUMN: self.delivery.account,
            "delivery_id": self.delivery_id,
            "spool_id": self.delivery.delivery_id,
            "event": self.event,
            "event_occurred_at": self.occurred_at,
            "company_id": self.company_id,
            "object": self.table,
            "record_id": self.record_id,
            "payload": self.payload,
            "received_at": self.delivery.received_at,
            "applied_at": applied_at if self.status == "applied" else None,
            "status": self.status,
            "note": self.note,
        }


@dataclass
class DrainResult:
    """What one account's drain did: deliveries marked drained, and each status's count."""

    account: str
    drained: int = 0
    duplicates: int = 0
    """Deliveries already in `hcp.webhook_events` (an earlier drain died before marking)."""
    statuses: dict[str, int] = field(default_factory=dict)
    refresh: RefreshResult = field(default_factory=RefreshResult)
    """Deferred appointment events applied by re-reading their jobs (this drain's and older)."""

    @property
    def applied(self) -> int:
        return self.statuses.get("applied", 0)

    def line(self) -> str:
        parts = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items()) if n)
        line = f"{self.account}: {self.drained} webhook deliveries drained" + (
            f" ({parts})" if parts else ""
        )
        if self.refresh.applied or self.refresh.stale:
            line += (
                f"; {self.refresh.applied} appointment events applied by re-reading "
                f"{self.refresh.jobs} jobs"
            )
        if self.refresh.error:
            line += f"; appointment events left deferred: {self.refresh.error}"
        return line


def parse(delivery: Delivery) -> Event:
    """A delivery's body -> an `Event` with its status decided as far as the body alone can."""
    ev = Event(delivery)
    try:
        payload = json.loads(delivery.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        ev.note = f"not JSON ({exc}): {delivery.body[:300].decode('utf-8', 'replace')}"
        return ev
    if not isinstance(payload, dict):
        ev.note = "not a JSON object"
        return ev
    ev.payload = payload
    event, company = payload.get("event"), payload.get("company_id")
    ev.company_id = None if company is None else str(company)
    if not isinstance(event, str) or not event:
        ev.note = "no event"
        return ev
    ev.event = event
    ev.occurred_at = parse_ts(payload.get("event_occurred_at"))
    if ev.occurred_at is None:
        ev.note = (
            f"event_occurred_at missing or not a timestamp: {payload.get('event_occurred_at')!r}"
        )
        return ev
    head = event.split(".", 1)[0]
    if head not in OBJECT_OF_EVENT:
        ev.status, ev.note = "unknown_event", f"no raw table for {head!r} events"
        return ev
    ev.table = OBJECT_OF_EVENT[head]
    if event.startswith(DEFERRED_PREFIX):
        appointment = payload.get("appointment")
        job_id = appointment.get("job_id") if isinstance(appointment, dict) else None
        if job_id is None:
            ev.table, ev.note = None, "no 'appointment' record with a job_id"
            return ev
        ev.status, ev.job_id = "deferred", str(job_id)
        ev.note = (
            f"appointment {appointment.get('id')} of job {job_id}: the job is re-read from HCP "
            "(one appointment cannot be merged into its list)"
        )
        return ev
    keys = RECORD_KEYS.get(head, (head,))
    record = next((payload[k] for k in keys if isinstance(payload.get(k), dict)), None)
    if record is None or record.get(BY_TABLE[ev.table].primary_key) is None:
        ev.note = f"no {keys[0]!r} record with an id"
        return ev
    ev.record = record
    ev.status = "applied"  # provisional: `decide` may make it stale
    return ev


@dataclass(frozen=True)
class RowVersion:
    """What the warehouse knows of a row's age."""

    updated_at: datetime | None
    event_at: datetime | None
    loaded_at: datetime | None


def is_older(ev: Event, row: RowVersion | None) -> bool:
    """True when the warehouse row is newer than the event's record (see the module docstring)."""
    if row is None:
        return False
    assert ev.record is not None and ev.occurred_at is not None
    updated = parse_ts(ev.record.get("updated_at"))
    if updated is not None and row.updated_at is not None:
        if updated < row.updated_at:
            return True
        if updated > row.updated_at:
            return False
    if row.event_at is not None:
        return ev.occurred_at < row.event_at
    if updated is not None and row.updated_at is not None:
        return False  # same updated_at as a read saw: applying it again changes nothing
    return row.loaded_at is not None and ev.occurred_at < row.loaded_at


def decide(events: list[Event], rows: Mapping[tuple[str, str], RowVersion]) -> None:
    """Newest event per record wins; a record older than its warehouse row is stale."""
    newest: dict[tuple[str, str], Event] = {}
    for ev in events:
        if ev.status != "applied":
            continue
        key = (ev.table or "", ev.record_id or "")
        best = newest.get(key)
        if best is None or (ev.occurred_at, ev.delivery.delivery_id) > (
            best.occurred_at,
            best.delivery.delivery_id,
        ):
            if best is not None:
                best.status, best.note = "stale", f"superseded by {ev.event} at {ev.occurred_at}"
            newest[key] = ev
        else:
            ev.status, ev.note = "stale", f"superseded by {best.event} at {best.occurred_at}"
    for key, ev in newest.items():
        if is_older(ev, rows.get(key)):
            ev.status, ev.note = "stale", "the warehouse row is newer"


def records_to_apply(events: Iterable[Event]) -> dict[str, list[dict[str, Any]]]:
    """Applied events -> rows by raw table, each with its account, event time and deletion."""
    out: dict[str, list[dict[str, Any]]] = {}
    for ev in events:
        if ev.status != "applied" or ev.record is None or ev.table is None:
            continue
        deleted = ev.event is not None and ev.event.rsplit(".", 1)[-1] in DELETING
        row = {
            **ev.record,
            ACCOUNT_COLUMN: ev.delivery.account,
            EVENT_AT_COLUMN: ev.occurred_at,
            DELETED_AT_COLUMN: ev.occurred_at if deleted else None,
        }
        out.setdefault(ev.table, []).append(row)
    return out


@dlt.source(name="housecallpro", max_table_nesting=3)
def webhook_records(records: dict[str, list[dict[str, Any]]]) -> list[DltResource]:
    """The applied records, under the sync's source name so they share its schema."""
    return record_resources(records, EXTRA_COLUMNS)


@dlt.source(name="housecallpro", max_table_nesting=3)
def webhook_event_rows(rows: list[dict[str, Any]]) -> DltResource:
    """`hcp.webhook_events`, one row per delivery, merged on (account, delivery_id)."""
    return dlt.resource(
        rows,
        name=EVENTS_TABLE,
        primary_key=[ACCOUNT_COLUMN, "delivery_id"],
        write_disposition="merge",
        columns=EVENT_COLUMNS,
        max_table_nesting=0,
    )


def _load_time(load_id: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(load_id), UTC)
    except (TypeError, ValueError):
        return None


def _as_utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_ts(value) if isinstance(value, str) else None


class _Warehouse:
    """The few reads the drain needs, through the pipeline's destination client."""

    def __init__(self, pipeline: dlt.Pipeline) -> None:
        self.pipeline = pipeline

    def _columns(self, client: Any, table: str) -> set[str]:
        if not client.sql_client.has_dataset():
            return set()
        for name, columns in client.get_storage_tables([table]):
            if name == table and columns:
                return {c.lower() for c in columns}
        return set()

    def _select(
        self, table: str, wanted: Sequence[str], key: str, account: str, ids: Sequence[str]
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        if not ids:
            return [], []
        with self.pipeline.destination_client() as client:
            have = self._columns(client, table)
            if key not in have:
                return [], []
            cols = [c for c in wanted if c in have]
            sql = client.sql_client  # type: ignore[attr-defined]
            names = ", ".join(sql.escape_column_name(c) for c in [key, *cols])
            marks = ", ".join(["%s"] * len(ids))
            query = (
                f"SELECT {names} FROM {sql.make_qualified_table_name(table)} "
                f"WHERE {sql.escape_column_name(ACCOUNT_COLUMN)} = %s "
                f"AND {sql.escape_column_name(key)} IN ({marks})"
            )
            return cols, [tuple(r) for r in sql.execute_sql(query, account, *ids) or []]

    def recorded(self, account: str, delivery_ids: Sequence[str]) -> set[str]:
        _, rows = self._select(EVENTS_TABLE, [], "delivery_id", account, list(delivery_ids))
        return {str(r[0]) for r in rows}

    def versions(self, account: str, events: Iterable[Event]) -> dict[tuple[str, str], RowVersion]:
        by_table: dict[str, set[str]] = {}
        for ev in events:
            if ev.status == "applied" and ev.table and ev.record_id:
                by_table.setdefault(ev.table, set()).add(ev.record_id)
        out: dict[tuple[str, str], RowVersion] = {}
        for table, ids in by_table.items():
            key = BY_TABLE[table].primary_key
            wanted = ["updated_at", EVENT_AT_COLUMN, "_dlt_load_id"]
            cols, rows = self._select(table, wanted, key, account, sorted(ids))
            for row in rows:
                got = dict(zip(cols, row[1:], strict=True))
                out[(table, str(row[0]))] = RowVersion(
                    updated_at=_as_utc(got.get("updated_at")),
                    event_at=_as_utc(got.get(EVENT_AT_COLUMN)),
                    loaded_at=_load_time(got.get("_dlt_load_id")),
                )
        return out


def _load(pipeline: dlt.Pipeline, source: Any, loader_file_format: str | None) -> None:
    pipeline.extract(source, loader_file_format=loader_file_format)
    pipeline.normalize()
    pipeline.load()


def drain_into(
    pipeline: dlt.Pipeline,
    spool: Spool,
    account: str,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    loader_file_format: str | None = LOADER_FILE_FORMAT,
    lock: Callable[[], Any] | None = None,
    client: HCPClient | None = None,
) -> DrainResult:
    """Drain `account`'s pending deliveries into `pipeline`'s warehouse (the sync's pipeline for
    that account), in batches, until none is pending; then, given `client` (that account's),
    re-read the jobs of deferred appointment events (`refresh`). `lock()` is entered only
    around the warehouse reads and writes of each batch (the caller may already hold it)."""
    result = DrainResult(account)
    seen: set[int] = set()
    while True:
        # `seen`: a delivery whose mark did not stick is not read again in this drain
        batch = [d for d in spool.pending(BATCH, account=account) if d.delivery_id not in seen]
        if not batch:
            break
        seen.update(d.delivery_id for d in batch)
        events = [parse(d) for d in batch]
        with lock() if lock is not None else nullcontext():
            warehouse = _Warehouse(pipeline)
            done = warehouse.recorded(account, [e.delivery_id for e in events])
            fresh = [e for e in events if e.delivery_id not in done]
            result.duplicates += len(events) - len(fresh)
            decide(fresh, warehouse.versions(account, fresh))
            records = records_to_apply(fresh)
            if records:
                _load(pipeline, webhook_records(records), loader_file_format)
            if fresh:
                applied_at = now()
                rows = [e.row(applied_at) for e in fresh]
                _load(pipeline, webhook_event_rows(rows), loader_file_format)
        spool.mark_drained([d.delivery_id for d in batch], now=now())
        result.drained += len(batch)
        for ev in fresh:
            result.statuses[ev.status] = result.statuses.get(ev.status, 0) + 1
        log.info("%s", result.line())
    if client is not None:
        result.refresh = refresh_deferred_jobs(
            pipeline,
            client,
            account,
            load=lambda records: _load(pipeline, webhook_records(records), loader_file_format),
            now=now,
            lock=lock,
        )
    return result


def account_pipeline(
    account: str, db_path: str | Path | None = None, *, dataset: str = DATASET
) -> tuple[dlt.Pipeline, Path | None]:
    """The sync's dlt pipeline of `account` (`hcp_<account>`, same state folder and dataset)."""
    dest, duck = resolve_destination(None, db_path)
    pdir = state_dir(duck, dest, dataset)
    pipeline = dlt.pipeline(
        pipeline_name=account_pipeline_name(account),
        destination=dest,
        dataset_name=dataset,
        pipelines_dir=str(pdir),
    )
    return pipeline, duck


def configured_spool(db_path: Path | None) -> Path | None:
    """The spool the receiver writes (`config.webhook_spool_path`, the one rule for where it is),
    or None when that file does not exist (no receiver ever ran: nothing to drain)."""
    path = config.webhook_spool_path(warehouse=db_path)
    return path if path.is_file() else None


def drain(
    db_path: str | Path | None,
    accounts: Sequence[str],
    *,
    spool_path: str | Path | None = None,
    dataset: str = DATASET,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[DrainResult]:
    """Drain and apply the spool for each account without reading HCP (the drain-only flow and
    `hcp webhooks drain`). The DuckDB lock is held only while a batch is written."""
    results: list[DrainResult] = []
    for account in accounts:
        pipeline, duck = account_pipeline(account, db_path, dataset=dataset)
        path = Path(spool_path) if spool_path else configured_spool(duck)
        if path is None or not path.is_file():
            results.append(DrainResult(account))
            continue
        with Spool(path) as spool:
            if not spool.pending(1, account=account):
                results.append(DrainResult(account))
                continue
            with warehouse_lock(duck):
                finish_interrupted(pipeline)  # as a sync would, before loading anything new
            with _account_client(account) as client:
                results.append(
                    drain_into(
                        pipeline,
                        spool,
                        account,
                        now=now,
                        loader_file_format=LOADER_FILE_FORMAT if duck is not None else None,
                        lock=lambda duck=duck: warehouse_lock(duck),
                        client=client,
                    )
                )
    return results


@contextmanager
def _account_client(account: str) -> Iterator[HCPClient | None]:
    """The account's HCP client, for re-reading the jobs of appointment events; None (and the
    events stay deferred for the next sync) when the account has no API key configured here."""
    try:
        client = HCPClient.from_account(config.load_account(account))
    except ConfigError as exc:
        log.info("%s: appointment events stay deferred (no HCP client: %s)", account, exc)
        yield None
        return
    try:
        yield client
    finally:
        client.close()
