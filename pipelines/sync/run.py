"""HCP -> warehouse for one or more accounts: the function `hcp sync` and the Prefect flow call.

One dlt pipeline per account (`hcp_<account>`, its own cursors and state), all into dataset
`hcp`, where every row carries `account` (first part of every primary key). DuckDB by default,
any dlt destination by name (`postgres`, `motherduck`, `bigquery`, ...) with dlt's own
credentials settings. Before a load, a warehouse synced before the `account` column existed is
migrated once (column added, rows backfilled as `default`). After a load, records missing from
a complete full read of their object are flagged in `_hcp_deleted_at` (never after a failed or
partial read, never from an incremental one). The key is checked first (GET /company, whose body is also the `company`
row, so the check costs no extra request). A failed object keeps its cursor and is reported;
objects that succeeded stay loaded; a rerun finishes the job. `full_refresh` re-reads and
merges; it never drops a table (no dlt `refresh=`).

Must never: run two syncs on one DuckDB file at once (the cross-process lock is held throughout),
or keep dlt state where a user would not look for it (`~/.dlt`): state lives under
`DLT_DATA_DIR` or beside the DuckDB file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination.reference import Destination
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines.config import Account, destination_credentials
from pipelines.config import db_path as configured_db_path
from pipelines.config import destination as configured_destination
from pipelines.verify import EXIT_OK, EXIT_OTHER, result_for_error
from pipelines.warehouse import LockTimeout, duckdb_lock
from sources.housecallpro import housecallpro
from sources.housecallpro.client import HCPClient
from sources.housecallpro.errors import HCPError
from sources.housecallpro.helpers import ObjectReport, ReadTracker, RequestCounter
from sources.housecallpro.settings import (
    ACCOUNT_COLUMN,
    BY_TABLE,
    DELETED_AT_COLUMN,
    DELETION_TABLES,
    JOB_LINE_ITEMS,
    OBJECTS,
    TABLES,
    history_table,
)

log = logging.getLogger("hcp.sync")

DATASET = "hcp"
LOADER_FILE_FORMAT = "jsonl"
"""DuckDB parses dlt's default `insert_values` SQL slowly (20 s for 3,000 jobs); it reads jsonl
with `read_json` in a fraction of that (BENCHMARKS: docs/benchmarks-sync.md). Other
destinations use their own preferred format (PostgreSQL cannot load jsonl)."""
LEGACY_ACCOUNT = "default"
"""Account of rows synced before the `account` column existed (one key = account `default`)."""
ProgressCallback = Callable[[str, ObjectReport], None]


@dataclass
class ObjectResult:
    """One object's outcome in a sync: the figures of the summary table."""

    table: str
    status: str  # ok | skipped | failed | not run
    mode: str = ""
    rows: int = 0
    pages: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "skipped")


@dataclass
class SyncResult:
    """A sync of one account: per-object results, the exit code `hcp sync` uses, one message."""

    account: str
    ok: bool
    exit_code: int
    message: str
    objects: dict[str, ObjectResult] = field(default_factory=dict)
    seconds: float = 0.0
    requests: int = 0
    company_name: str | None = None
    pipeline_name: str = ""
    deleted: dict[str, int] = field(default_factory=dict)
    """Records newly flagged `_hcp_deleted_at` in this run, per table."""

    @property
    def failed(self) -> list[ObjectResult]:
        return [o for o in self.objects.values() if o.status == "failed"]

    @property
    def skipped(self) -> list[ObjectResult]:
        return [o for o in self.objects.values() if o.status == "skipped"]


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


def pipelines_dir_for(db_path: Path | None, destination_key: str) -> Path:
    """Where dlt keeps this pipeline's local state: `DLT_DATA_DIR` or beside the DuckDB file.

    The folder is keyed by the warehouse, so two DuckDB files never share cursors (a cursor
    describes what one warehouse holds).
    """
    base = os.environ.get("DLT_DATA_DIR")
    if base:
        root = Path(base).expanduser() / "pipelines"
    elif db_path is not None:
        root = db_path.parent / ".dlt-data" / "pipelines"
    else:
        root = Path.cwd() / ".dlt-data" / "pipelines"
    return root / destination_key


def _destination_key(db_path: Path | None, destination: Any, dataset: str = DATASET) -> str:
    if db_path is not None and destination is None:
        digest = hashlib.sha1(str(db_path.resolve()).encode()).hexdigest()[:8]
        key = f"{db_path.stem}-{digest}"
    else:
        name = getattr(destination, "destination_name", None) or str(destination)
        key = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:60]
        # two PostgreSQL servers (or databases) must not share cursors: key by credentials too
        creds = destination_credentials(name) if isinstance(destination, str) else None
        if creds:
            key += "-" + hashlib.sha1(creds.encode()).hexdigest()[:8]
    if dataset != DATASET:
        key += f"-{dataset}"
    return key


def resolve_destination(
    destination: Destination | str | None, db_path: str | Path | None
) -> tuple[Any, Path | None]:
    """(dlt destination, DuckDB file or None): DuckDB at the configured file unless another
    destination is named by the argument or by `[sync] destination` / `SYNC__DESTINATION`."""
    if destination is None or isinstance(destination, str):
        name = configured_destination(destination)
        if name == "duckdb":
            duck = configured_db_path(db_path)
            return dlt.destinations.duckdb(str(duck)), duck
        return name, None
    return destination, None


@contextmanager
def _maybe_lock(db_path: Path | None) -> Iterator[None]:
    with duckdb_lock(db_path) if db_path is not None else nullcontext():
        yield


_DLT_DEFAULTS = {
    # dlt gzips its intermediate files by default: pure CPU for a local load (~1 s in 5 of
    # normalize at scale 1); a user's own setting still wins
    "EXTRACT__DATA_WRITER__DISABLE_COMPRESSION": "true",
    "NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION": "true",
}


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
    for key, value in _DLT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    selected = parse_objects(objects)
    dest, duck = resolve_destination(destination, db_path)
    pdir = (
        Path(pipelines_dir)
        if pipelines_dir
        else pipelines_dir_for(duck, _destination_key(duck, None if duck else dest, dataset))
    )
    pipeline_name = f"hcp_{account.name}"
    paths = {o.path: o.table for o in OBJECTS}
    paths[JOB_LINE_ITEMS.path] = JOB_LINE_ITEMS.table
    counter = RequestCounter(paths)
    own_client = client is None
    if client is None:
        client = HCPClient.from_account(account, timeout=timeout, max_retries=max_retries)
    result = SyncResult(account.name, False, EXIT_OTHER, "", pipeline_name=pipeline_name)
    try:
        with _maybe_lock(duck), client.observing(counter):
            _run(
                result,
                client,
                counter,
                selected,
                dest,
                pdir,
                full_refresh=full_refresh,
                progress=progress,
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
                client_key=account.api_key,
                dataset=dataset,
                loader_file_format=LOADER_FILE_FORMAT if duck is not None else None,
            )
    finally:
        if own_client:
            client.close()
    result.seconds = time.monotonic() - started
    result.requests = sum(o.requests for o in result.objects.values())
    return result


def _run(
    result: SyncResult,
    client: HCPClient,
    counter: RequestCounter,
    selected: list[str],
    destination: Any,
    pipelines_dir: Path,
    *,
    full_refresh: bool,
    progress: ProgressCallback | None,
    options: dict[str, Any],
    workers: int,
    client_key: str,
    dataset: str = DATASET,
    loader_file_format: str | None = LOADER_FILE_FORMAT,
) -> None:
    try:
        company = client.get("/company")
    except HCPError as exc:
        verdict = result_for_error(exc, client.base_url)
        result.exit_code, result.message = verdict.exit_code, verdict.message
        return
    result.company_name = company.get("name") if isinstance(company, dict) else None
    tracker = ReadTracker(on_progress=progress)
    pipeline = dlt.pipeline(
        pipeline_name=result.pipeline_name,
        destination=destination,
        dataset_name=dataset,
        pipelines_dir=str(pipelines_dir),
    )
    step_error: str | None = None
    load_id: str | None = None
    try:
        _drop_duplicate_extracted(pipeline)
        if pipeline.has_pending_data:
            # a run killed between extract and load left a package: load it first, so its
            # cursors and rows land together before we read on from them
            log.info("loading the package a previous run left behind")
            pipeline.normalize()
            pipeline.load()
        migrate_account_column(pipeline)  # after: a package left by an older version has no account
        source = housecallpro(
            api_key=client_key,
            base_url=client.base_url,
            client=client,
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
    _collect(result, tracker, counter, selected, step_error)
    if step_error is None and load_id is not None:
        complete = [
            t
            for t in DELETION_TABLES
            if t in result.objects
            and result.objects[t].status == "ok"
            and result.objects[t].mode in ("full", "tree", "per_parent")
        ]
        try:
            flagged = flag_deleted(pipeline, result.account, load_id, complete)
        except Exception as exc:  # noqa: BLE001 - reported as this account's failure, not raised
            log.error("flagging deleted records of %s failed: %s", result.account, exc)
            result.ok, result.exit_code = False, EXIT_OTHER
            result.message = f"loaded, but flagging deleted records failed: {exc}"
        else:
            result.deleted = flagged


def _with_extras(selected: list[str], available: list[str]) -> list[str]:
    """The selected tables plus the optional ones that ride on them (`<t>_history`,
    `job_line_items`), when the source built them (history / line items are enabled)."""
    out = list(selected)
    for table in selected:
        for extra in (history_table(table), JOB_LINE_ITEMS.table if table == "jobs" else None):
            if extra and extra in available and extra not in out:
                out.append(extra)
    return out


def _data_tables(pipeline: dlt.Pipeline) -> list[str]:
    """Tables this pipeline knows (its schema) plus every raw table name, for a warehouse whose
    local state is gone."""
    names = set(TABLES) | {c for o in OBJECTS for c in o.children}
    if pipeline.default_schema_name:
        names |= set(pipeline.default_schema.data_table_names())
    return sorted(n for n in names if not n.startswith("_dlt"))


def migrate_account_column(pipeline: dlt.Pipeline) -> list[str]:
    """Add `account` to tables synced before it existed and backfill it as `default`.

    Before this column, one key (account `default`) filled the warehouse. Without the backfill
    the merge on (`account`, id) would never match those rows (NULL = x is never true) and
    every re-read record would be duplicated; dlt itself would also try to add the key column
    as NOT NULL to a table with rows. Idempotent: a table that has the column is left alone.
    Returns the tables migrated.
    """
    migrated: list[str] = []
    names = _data_tables(pipeline)
    with pipeline.destination_client() as client:
        if getattr(client, "sql_client", None) is None:
            log.warning("%s: no SQL client, `account` backfill skipped", pipeline.destination)
            return migrated
        migrated += _add_account_column(client, names)
        # dlt's merge stages rows in `<dataset>_staging`; its tables need the column as well
        with client.with_staging_dataset():  # type: ignore[attr-defined]
            _add_account_column(client, names)
    return migrated


def _add_account_column(client: Any, names: Sequence[str]) -> list[str]:
    sql = client.sql_client
    if not sql.has_dataset():
        return []
    lacking = [
        name
        for name, columns in client.get_storage_tables(names)
        if columns and ACCOUNT_COLUMN not in {c.lower() for c in columns}
    ]
    for name in lacking:
        table = sql.make_qualified_table_name(name)
        column = sql.escape_column_name(ACCOUNT_COLUMN)
        typ = client.type_mapper.to_destination_type(
            {"name": ACCOUNT_COLUMN, "data_type": "text"}, {"name": name}
        )
        log.warning("migrating %s: adding %s = %r", table, ACCOUNT_COLUMN, LEGACY_ACCOUNT)
        with sql.begin_transaction():
            sql.execute_sql(f"ALTER TABLE {table} ADD COLUMN {column} {typ}")
            sql.execute_sql(
                f"UPDATE {table} SET {column} = %s WHERE {column} IS NULL", LEGACY_ACCOUNT
            )
    return lacking


def flag_deleted(
    pipeline: dlt.Pipeline, account: str, load_id: str, tables: Sequence[str]
) -> dict[str, int]:
    """Flag this account's rows that a complete full read (load `load_id`) did not return.

    A full read re-merges every record it returns, so each of them now carries `load_id`; a row
    of the same account with an older `_dlt_load_id` was not returned: HCP no longer lists it.
    It gets `_hcp_deleted_at` (once: the first run that missed it). A record that comes back is
    re-merged as a fresh row, whose `_hcp_deleted_at` is NULL. Callers pass only tables whose
    read completed in this run; a failed or partial read must never reach here.
    """
    flagged: dict[str, int] = {}
    if not tables:
        return flagged
    with pipeline.destination_client() as client:
        sql = client.sql_client  # type: ignore[attr-defined]
        existing = {
            name
            for name, columns in client.get_storage_tables(tables)  # type: ignore[attr-defined]
            if columns and DELETED_AT_COLUMN in {c.lower() for c in columns}
        }
        now = datetime.now(UTC)
        for name in tables:
            if name not in existing:
                continue
            table = sql.make_qualified_table_name(name)
            deleted = sql.escape_column_name(DELETED_AT_COLUMN)
            acct = sql.escape_column_name(ACCOUNT_COLUMN)
            where = f"{acct} = %s AND _dlt_load_id <> %s AND {deleted} IS NULL"
            rows = sql.execute_sql(f"SELECT count(*) FROM {table} WHERE {where}", account, load_id)
            count = int(rows[0][0]) if rows else 0
            if count:
                sql.execute_sql(
                    f"UPDATE {table} SET {deleted} = %s WHERE {where}", now, account, load_id
                )
                log.warning("%s: %d record(s) of %s no longer listed by HCP", name, count, account)
            flagged[name] = count
    return flagged


def _drop_duplicate_extracted(pipeline: dlt.Pipeline) -> None:
    """Undo the one crash window of dlt's normalize step that a rerun cannot get past.

    Normalize ends by renaming `load/new/<id>` to `load/normalized/<id>` (atomic) and then
    deleting `normalize/extracted/<id>`. A SIGKILL between the two leaves both; the rerun then
    normalizes the extracted copy again and fails with "Directory not empty" on the rename. The
    normalized copy is complete, so the extracted duplicate is dropped.
    """
    work = Path(pipeline.working_dir)
    for extracted in (work / "normalize" / "extracted").glob("*"):
        if any(
            (work / "load" / done / extracted.name).exists() for done in ("normalized", "loaded")
        ):
            log.warning("dropping extracted package %s: already normalized", extracted.name)
            shutil.rmtree(extracted)


def _collect(
    result: SyncResult,
    tracker: ReadTracker,
    counter: RequestCounter,
    selected: list[str],
    step_error: str | None,
) -> None:
    """Per-object figures from the tracker (pages, rows, status) and the counter (requests)."""
    tables = list(selected) + [t for t in tracker.reports if t not in selected]
    for table in tables:
        rep = tracker.reports.get(table) or ObjectReport(table)
        count = counter.get(table)
        status = rep.status
        if status in ("running", "pending"):
            # transformers have no end-of-read hook; a clean extract means they finished
            status = "failed" if step_error else ("ok" if rep.started is not None else "not run")
        error = rep.error or (step_error if status == "failed" else None)
        parent = BY_TABLE[table].read_from if table in BY_TABLE else None
        if (
            status == "ok"
            and BY_TABLE.get(table) is not None
            and BY_TABLE[table].strategy == "per_parent"
            and parent
            and tracker.reports.get(parent)
            and tracker.reports[parent].status == "failed"
        ):
            status, error = "failed", f"incomplete: parent {parent} failed"
        retries = count.retries - (1 if status == "failed" and count.retries else 0)
        result.objects[table] = ObjectResult(
            table=table,
            status=status,
            mode=rep.mode,
            rows=rep.rows,
            pages=rep.pages,
            requests=count.requests,
            retries=max(0, retries),
            rate_limited=count.rate_limited,
            seconds=rep.seconds,
            error=error,
        )
    failed = result.failed
    if step_error and not failed:
        result.message = step_error
    elif failed:
        names = ", ".join(o.table for o in failed)
        result.message = (
            f"{len(failed)} object(s) failed: {names}. Objects that succeeded are loaded; "
            "failed ones kept their cursor, so running `hcp sync` again finishes the job."
        )
    else:
        rows = sum(o.rows for o in result.objects.values())
        result.message = f"Synced {len(result.objects)} objects, {rows} rows."
    result.ok = not failed and step_error is None
    result.exit_code = EXIT_OK if result.ok else EXIT_OTHER


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
            if isinstance(exc, LockTimeout):
                raise  # the warehouse is busy: no other account could run either
            log.exception("sync of %s failed", account.name)
            results.append(
                SyncResult(account.name, False, EXIT_OTHER, f"{type(exc).__name__}: {exc}")
            )
    return results


def summarize(results: Sequence[SyncResult]) -> tuple[int, str]:
    """(exit code, one line) for several accounts: 0 when all succeeded, else the first failed
    account's code, and the line names every failed account."""
    failed = [r for r in results if not r.ok]
    if not failed:
        return EXIT_OK, f"{len(results)} account(s) synced: {', '.join(r.account for r in results)}"
    names = ", ".join(r.account for r in failed)  # each one's reason was printed with it
    ok = [r.account for r in results if r.ok]
    line = f"{len(failed)} of {len(results)} account(s) failed: {names}"
    if ok:
        line += f". Synced: {', '.join(ok)}"
    return failed[0].exit_code or EXIT_OTHER, line
