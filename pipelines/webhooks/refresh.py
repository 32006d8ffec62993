"""Deferred `job.appointment.*` events -> the job re-read from HCP and merged whole.

An appointment event carries one appointment, and a dlt merge replaces a job's whole
`jobs__schedule__appointments` list, so merging the appointment alone would drop the job's
others. The drain therefore records such events as `deferred`, and this step reads each of their
jobs once (`GET /jobs/{id}?expand[]=appointments`, the shape the jobs read stores) and merges it
through the same resources as the read. The events then become `applied` (or `stale` when HCP
answers 404: the job is gone, and the next full read flags it).

Crash safety: the deferred events are selected from `hcp.webhook_events` (not from the spool),
the jobs are loaded, and only then are the events marked. A refresh killed in between re-reads
the same jobs next time; a merge of the same record changes nothing.

Must never: hold the warehouse lock while waiting on HCP, mark an event applied before its
job committed, or stop the drain for an HCP error (the events stay `deferred` and the next
drain or sync tries again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dlt

from pipelines.webhooks.names import EVENT_AT_COLUMN, EVENTS_TABLE
from sources.housecallpro.client import HCPClient
from sources.housecallpro.errors import HCPError, NotFound
from sources.housecallpro.settings import ACCOUNT_COLUMN, DELETED_AT_COLUMN

log = logging.getLogger("hcp.webhooks")

JOBS_PER_REFRESH = 200
"""At most this many jobs are re-read per drain (one request each); the rest wait for the next."""


@dataclass
class RefreshResult:
    """What one refresh did: events applied or found stale, jobs re-read, and the first error."""

    applied: int = 0
    stale: int = 0
    jobs: int = 0
    error: str | None = None


def deferred_events(pipeline: dlt.Pipeline, account: str) -> dict[str, list[str]]:
    """The account's deferred events in the warehouse: job id -> delivery ids (oldest first)."""
    with pipeline.destination_client() as client:
        sql = client.sql_client  # type: ignore[attr-defined]
        if not sql.has_dataset():
            return {}
        tables = dict(client.get_storage_tables([EVENTS_TABLE]))  # type: ignore[attr-defined]
        if not tables.get(EVENTS_TABLE):
            return {}
        query = (
            f"SELECT record_id, delivery_id FROM {sql.make_qualified_table_name(EVENTS_TABLE)} "
            f"WHERE {sql.escape_column_name(ACCOUNT_COLUMN)} = %s AND status = 'deferred' "
            "AND record_id IS NOT NULL ORDER BY spool_id"
        )
        out: dict[str, list[str]] = {}
        for job_id, delivery_id in sql.execute_sql(query, account) or []:
            out.setdefault(str(job_id), []).append(str(delivery_id))
        return out


def _mark(
    pipeline: dlt.Pipeline,
    account: str,
    delivery_ids: Sequence[str],
    status: str,
    note: str,
    applied_at: datetime | None,
) -> None:
    if not delivery_ids:
        return
    with pipeline.destination_client() as client:
        sql = client.sql_client  # type: ignore[attr-defined]
        marks = ", ".join(["%s"] * len(delivery_ids))
        sql.execute_sql(
            f"UPDATE {sql.make_qualified_table_name(EVENTS_TABLE)} "
            "SET status = %s, note = %s, applied_at = %s "
            f"WHERE {sql.escape_column_name(ACCOUNT_COLUMN)} = %s AND status = 'deferred' "
            f"AND delivery_id IN ({marks})",
            status,
            note,
            applied_at,
            account,
            *delivery_ids,
        )


def refresh_deferred_jobs(
    pipeline: dlt.Pipeline,
    client: HCPClient,
    account: str,
    *,
    load: Callable[[dict[str, list[dict[str, Any]]]], None],
    now: Callable[[], datetime],
    lock: Callable[[], Any] | None = None,
) -> RefreshResult:
    """Re-read the jobs of `account`'s deferred appointment events and merge them whole.

    `load(records)` merges `{"jobs": [...]}` as the drain merges event records; `lock()` is
    entered around the warehouse reads and writes only, never around the HTTP requests."""
    result = RefreshResult()
    with lock() if lock is not None else nullcontext():
        pending = deferred_events(pipeline, account)
    if not pending:
        return result
    fetched: dict[str, dict[str, Any]] = {}
    gone: list[str] = []
    for job_id in list(pending)[:JOBS_PER_REFRESH]:
        try:
            job = client.get(f"/jobs/{job_id}", {"expand": ["appointments"]})
        except NotFound:
            gone.append(job_id)
            continue
        except HCPError as exc:
            result.error = f"re-reading job {job_id} for its appointment events: {exc}"
            log.warning("%s; the events stay deferred until the next drain", result.error)
            break
        if isinstance(job, dict) and job.get("id") is not None:
            fetched[job_id] = job
        else:
            gone.append(job_id)
    if not fetched and not gone:
        return result
    read_at = now()
    with lock() if lock is not None else nullcontext():
        if fetched:
            rows = [
                {**job, ACCOUNT_COLUMN: account, EVENT_AT_COLUMN: read_at, DELETED_AT_COLUMN: None}
                for job in fetched.values()
            ]
            load({"jobs": rows})
        for job_id, job in fetched.items():
            count = len(((job.get("schedule") or {}).get("appointments")) or [])
            note = f"job {job_id} re-read from HCP at {read_at:%Y-%m-%d %H:%M:%S}Z ({count} appointments)"
            _mark(pipeline, account, pending[job_id], "applied", note, read_at)
            result.applied += len(pending[job_id])
        for job_id in gone:
            note = f"job {job_id} not found in HCP (404): the next full read flags it deleted"
            _mark(pipeline, account, pending[job_id], "stale", note, None)
            result.stale += len(pending[job_id])
    result.jobs = len(fetched)
    log.info(
        "%s: %d appointment events applied by re-reading %d jobs (%d stale)",
        account,
        result.applied,
        result.jobs,
        result.stale,
    )
    return result
