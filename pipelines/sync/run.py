"""HCP -> warehouse for one or more accounts: the function `hcp sync` and the Prefect flow call.

One dlt pipeline per account (`hcp_<account>`, its own cursors and state), all into dataset
`hcp` (`destination.py`: DuckDB by default, any dlt destination by name), where every row
carries `account` (first part of every primary key). The run, in order: the key is checked
(GET /company, whose body is also the `company` row, so the check costs no extra request); a
package a killed run left behind is loaded and an old warehouse migrated (`upkeep.py`); the
webhook spool is drained
(`pipelines.webhooks.drain`: events applied before the read, so a read that saw HCP later wins);
the source is read, normalized and loaded; records missing from a complete full read are flagged
(`upkeep.flag_deleted`); the figures are collected (`results.py`). A failed object keeps its
cursor and is reported; objects that succeeded stay loaded; a rerun finishes the job.
`full_refresh` re-reads and merges; it never drops a table (no dlt `refresh=`).

Must never: run two syncs on one DuckDB file at once (the cross-process lock is held
throughout), hand the API key to anything but the one client, or raise for an HCP error
(`SyncResult` carries it).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination.reference import Destination
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines.config import Account, ConfigError
from pipelines.sync.destination import (
    DATASET,
    LOADER_FILE_FORMAT,
    account_pipeline_name,
    resolve_destination,
    state_dir,
    warehouse_lock,
)
from pipelines.sync.results import SyncResult, collect
from pipelines.sync.upkeep import (
    finish_interrupted,
    flag_deleted,
    fully_read,
)
from pipelines.verify import EXIT_OTHER, result_for_error
from pipelines.warehouse import LockTimeout
from pipelines.webhooks import drain as webhooks  # a module: drain.py imports pipelines.sync
from pipelines.webhooks.spool import Spool
from sources.housecallpro import housecallpro_from_client
from sources.housecallpro.client import HCPClient
from sources.housecallpro.errors import HCPError
from sources.housecallpro.figures import ProgressCallback, ReadTracker, RequestCounter
from sources.housecallpro.settings import JOB_LINE_ITEMS, OBJECTS, TABLES, history_table

log = logging.getLogger("hcp.sync")


def parse_objects(objects: str | Sequence[str] | None) -> list[str]:
    """`"a,b"` or a list -> known table names in table order; `ValueError` names unknown ones."""
    if objects is None:
        return list(TABLES)
    names = objects.split(",") if isinstance(objects, str) else list(objects)
    wanted = {n.strip() for n in names if n.strip()}
    unknown = sorted(wanted - set(TABLES))
    if unknown:
        raise ValueError(f"unknown object(s) {unknown}; choose from {', '.join(TABLES)}")
    return [t for t in TABLES if t in wanted]


DLT_DEFAULTS = {
    # dlt gzips its intermediate files by default: pure CPU for a local load (issue 21's profile:
    # extract 12.8 -> 7.5 s at scale 10 without it). dlt resolves the extract writer's settings under `sources`, not
    # `extract` (tests/test_dlt_defaults.py checks the files); a user's own setting still wins.
    "SOURCES__DATA_WRITER__DISABLE_COMPRESSION": "true",
    "NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION": "true",
}


def apply_dlt_defaults() -> None:
    """Set `DLT_DEFAULTS` in the environment where the user has not set them."""
    for key, value in DLT_DEFAULTS.items():
        os.environ.setdefault(key, value)


def sync_account(
    account: Account,
    db_path: str | Path | None = None,
    *,
    objects: str | Sequence[str] | None = None,
    full_refresh: bool = False,
    progress: ProgressCallback | None = None,
    destination: Destination | str | None = None,
    pipelines_dir: str | Path | None = None,
    lookback_s: int | None = None,
    estimates_full_read_every_s: float | None = None,
    routes_days_back: int | None = None,
    routes_days_ahead: int | None = None,
    timeout: float = 30.0,
    max_retries: int = 5,
    client: HCPClient | None = None,
    workers: int | None = None,
    dataset: str = DATASET,
    history: Sequence[str] | None = None,
    job_line_items: bool | None = None,
) -> SyncResult:
    """Sync one account into the warehouse; never raises for HCP errors (see `SyncResult`).

    `destination` defaults to DuckDB at `db_path` (flag, config, then `hcp_sync.duckdb`); any dlt
    destination works (PostgreSQL, ...), in which case no DuckDB lock is taken. `client` lets a
    caller share or instrument the HTTP client (tests, benchmarks); by default one is built from
    the account (its rate limit and concurrency). `lookback_s`, `estimates_full_read_every_s`,
    `routes_days_back`, `routes_days_ahead`, `history` and `job_line_items` default to
    `[sources.housecallpro]` in `.dlt/config.toml` (or `SOURCES__HOUSECALLPRO__LOOKBACK_S`, ...),
    then the source's defaults. `dataset` is for tests that need a schema of their own.
    """
    started = time.monotonic()
    apply_dlt_defaults()
    selected = parse_objects(objects)
    dest, duck = resolve_destination(destination, db_path)
    pdir = Path(pipelines_dir) if pipelines_dir else state_dir(duck, dest, dataset)
    pipeline_name = account_pipeline_name(account.name)
    paths = {o.path: o.table for o in OBJECTS}
    paths[JOB_LINE_ITEMS.path] = JOB_LINE_ITEMS.table
    tracker = ReadTracker(on_progress=progress)
    counter = RequestCounter(paths, tracker)
    own_client = client is None
    if client is None:
        client = HCPClient.from_account(account, timeout=timeout, max_retries=max_retries)
    result = SyncResult(account.name, False, EXIT_OTHER, "", pipeline_name=pipeline_name)
    try:
        with warehouse_lock(duck), client.observing(counter):
            _run(
                result,
                client,
                tracker,
                selected,
                dest,
                pdir,
                full_refresh=full_refresh,
                options={
                    k: v
                    for k, v in {
                        "lookback_s": lookback_s,
                        "estimates_full_read_every_s": estimates_full_read_every_s,
                        "routes_days_back": routes_days_back,
                        "routes_days_ahead": routes_days_ahead,
                        "history": history,
                        "job_line_items": job_line_items,
                    }.items()
                    if v is not None
                },
                workers=workers or max(4, client.concurrency * 2),
                dataset=dataset,
                loader_file_format=LOADER_FILE_FORMAT if duck is not None else None,
                spool_path=webhooks.configured_spool(duck),
            )
    finally:
        result.rate_limit = client.limiter.snapshot()
        if own_client:
            client.close()
    result.seconds = time.monotonic() - started
    result.requests = sum(o.requests for o in result.objects.values())
    return result


def _run(
    result: SyncResult,
    client: HCPClient,
    tracker: ReadTracker,
    selected: list[str],
    destination: Any,
    pipelines_dir: Path,
    *,
    full_refresh: bool,
    options: dict[str, Any],
    workers: int,
    dataset: str = DATASET,
    loader_file_format: str | None = LOADER_FILE_FORMAT,
    spool_path: Path | None = None,
) -> None:
    try:
        company = client.get("/company")
    except HCPError as exc:
        verdict = result_for_error(exc, client.base_url, client.account)
        result.exit_code, result.message = verdict.exit_code, verdict.message
        return
    result.company_name = company.get("name") if isinstance(company, dict) else None
    pipeline = dlt.pipeline(
        pipeline_name=result.pipeline_name,
        destination=destination,
        dataset_name=dataset,
        pipelines_dir=str(pipelines_dir),
    )
    step_error: str | None = None
    load_id: str | None = None
    try:
        finish_interrupted(pipeline)
        if spool_path is not None:
            _drain_webhooks(result, pipeline, spool_path, loader_file_format, client)
        source = housecallpro_from_client(
            client,
            tracker=tracker,
            company=company if isinstance(company, dict) else None,
            full_refresh=full_refresh,
            account=result.account,
            **options,  # unset ones come from config: [sources.housecallpro] in .dlt/config.toml
        )
        source = source.with_resources(*_with_extras(selected, list(source.resources)))
        try:
            info = pipeline.extract(source, workers=workers, loader_file_format=loader_file_format)
        finally:
            tracker.close_running()
        load_id = info.loads_ids[-1] if info.loads_ids else None
        pipeline.normalize()
        pipeline.load()
    except PipelineStepFailed as exc:
        step_error = f"{exc.step} step failed: {exc.exception}"
        log.error("sync of %s failed: %s", result.account, step_error)
    collect(result, tracker, selected, step_error)
    if step_error is None and load_id is not None:
        try:
            flagged = flag_deleted(pipeline, result.account, load_id, fully_read(result.objects))
        except Exception as exc:  # noqa: BLE001 - reported as this account's failure, not raised
            log.error("flagging deleted records of %s failed: %s", result.account, exc)
            result.ok, result.exit_code = False, EXIT_OTHER
            result.message = f"loaded, but flagging deleted records failed: {exc}"
        else:
            result.deleted = flagged


def _drain_webhooks(
    result: SyncResult,
    pipeline: dlt.Pipeline,
    spool_path: Path,
    loader_file_format: str | None,
    client: HCPClient,
) -> None:
    """Apply the account's spooled webhook events (re-reading the jobs of appointment events
    with the sync's client); a failed drain is reported and the read still runs (the
    deliveries stay pending, the next sync or drain retries them)."""
    try:
        with Spool(spool_path) as spool:
            drained = webhooks.drain_into(
                pipeline,
                spool,
                result.account,
                loader_file_format=loader_file_format,
                client=client,
            )
    except Exception as exc:  # noqa: BLE001 - reported on the result; the read goes on
        log.error("draining webhooks of %s failed: %s", result.account, exc)
        result.webhooks_error = f"{type(exc).__name__}: {exc}"
        return
    result.webhooks_drained = drained.drained
    result.webhooks_applied = drained.applied + drained.refresh.applied


def _with_extras(selected: list[str], available: list[str]) -> list[str]:
    """The selected tables plus the optional ones that ride on them (`<t>_history`,
    `job_line_items`), when the source built them (history / line items are enabled)."""
    out = list(selected)
    for table in selected:
        for extra in (history_table(table), JOB_LINE_ITEMS.table if table == "jobs" else None):
            if extra and extra in available and extra not in out:
                out.append(extra)
    return out


def sync(
    accounts: Sequence[Account],
    db_path: str | Path | None = None,
    **kwargs: Any,
) -> list[SyncResult]:
    """Sync each account in turn into the same warehouse (one pipeline, one state per account).

    One account failing (bad key, HCP down, even an unexpected error) never stops the others:
    its `SyncResult` says why and the next account runs.
    """
    results = []
    for account in accounts:
        try:
            results.append(sync_account(account, db_path, **kwargs))
        except Exception as exc:  # noqa: BLE001 - isolate accounts; the result carries the error
            if isinstance(exc, (LockTimeout, ConfigError)):
                raise  # the warehouse is busy or misconfigured: no other account could run either
            log.exception("sync of %s failed", account.name)
            results.append(
                SyncResult(account.name, False, EXIT_OTHER, f"{type(exc).__name__}: {exc}")
            )
    return results
