"""HCP -> warehouse for one or more accounts: the function `hcp sync` and the Prefect flow call.

One dlt pipeline per account (`hcp_<account>`), dataset `hcp`, DuckDB by default and any dlt
destination when given. The key is checked first (GET /company, whose body is also the `company`
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
from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination.reference import Destination
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines.config import Account
from pipelines.config import db_path as configured_db_path
from pipelines.dblock import duckdb_lock
from pipelines.verify import EXIT_OK, EXIT_OTHER, result_for_error
from sources.housecallpro import housecallpro
from sources.housecallpro.client import HCPClient
from sources.housecallpro.errors import HCPError
from sources.housecallpro.helpers import ObjectReport, ReadTracker, RequestCounter
from sources.housecallpro.settings import (
    BY_TABLE,
    OBJECTS,
    TABLES,
)

log = logging.getLogger("hcp.sync")

DATASET = "hcp"
LOADER_FILE_FORMAT = "jsonl"
"""DuckDB parses dlt's default `insert_values` SQL slowly (20 s for 3,000 jobs); it reads jsonl
with `read_json` in a fraction of that (BENCHMARKS: docs/benchmarks-sync.md)."""
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


def _destination_key(db_path: Path | None, destination: Any) -> str:
    if db_path is not None and destination is None:
        digest = hashlib.sha1(str(db_path.resolve()).encode()).hexdigest()[:8]
        return f"{db_path.stem}-{digest}"
    name = getattr(destination, "destination_name", None) or str(destination)
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:60]


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
) -> SyncResult:
    """Sync one account into the warehouse; never raises for HCP errors (see `SyncResult`).

    `destination` defaults to DuckDB at `db_path` (flag, config, then `hcp.duckdb`); any dlt
    destination works (PostgreSQL, ...), in which case no DuckDB lock is taken. `client` lets a
    caller share or instrument the HTTP client (tests, benchmarks); by default one is built from
    the account (its rate limit and concurrency). `lookback_s`, `estimates_full_read_every_s`,
    `routes_days_back` and `routes_days_ahead` default to `[sources.housecallpro]` in
    `.dlt/config.toml` (or `SOURCES__HOUSECALLPRO__LOOKBACK_S`, ...), then the source's defaults.
    """
    started = time.monotonic()
    for key, value in _DLT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    selected = parse_objects(objects)
    duck = None if destination is not None else configured_db_path(db_path)
    dest = destination if destination is not None else dlt.destinations.duckdb(str(duck))
    pdir = (
        Path(pipelines_dir)
        if pipelines_dir
        else pipelines_dir_for(duck, _destination_key(duck, destination))
    )
    pipeline_name = f"hcp_{account.name}"
    counter = RequestCounter({o.path: o.table for o in OBJECTS})
    own_client = client is None
    if client is None:
        client = HCPClient.from_account(
            account, timeout=timeout, max_retries=max_retries, on_response=counter
        )
    else:
        counter._chain = client.on_response  # keep the caller's hook
        client.on_response = counter
    result = SyncResult(account.name, False, EXIT_OTHER, "", pipeline_name=pipeline_name)
    try:
        with _maybe_lock(duck):
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
                    }.items()
                    if v is not None
                },
                workers=workers or max(4, client.concurrency * 2),
                client_key=account.api_key,
            )
    finally:
        if own_client:
            client.close()
        else:
            client.on_response = counter._chain
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
        dataset_name=DATASET,
        pipelines_dir=str(pipelines_dir),
    )
    step_error: str | None = None
    try:
        _drop_duplicate_extracted(pipeline)
        if pipeline.has_pending_data:
            # a run killed between extract and load left a package: load it first, so its
            # cursors and rows land together before we read on from them
            log.info("loading the package a previous run left behind")
            pipeline.normalize()
            pipeline.load()
        source = housecallpro(
            api_key=client_key,
            base_url=client.base_url,
            client=client,
            tracker=tracker,
            company=company if isinstance(company, dict) else None,
            full_refresh=full_refresh,
            **options,  # unset ones come from config: [sources.housecallpro] in .dlt/config.toml
        ).with_resources(*selected)
        try:
            pipeline.extract(source, workers=workers, loader_file_format=LOADER_FILE_FORMAT)
        finally:
            tracker.close_running()
        pipeline.normalize()
        pipeline.load()
    except PipelineStepFailed as exc:
        step_error = f"{exc.step} step failed: {exc.exception}"
        log.error("sync of %s failed: %s", result.account, step_error)
    _collect(result, tracker, counter, selected, step_error)


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
        parent = BY_TABLE[table].parent if table in BY_TABLE else None
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
    """Sync each account in turn into the same warehouse (one pipeline, one state per account)."""
    return [sync_account(account, db_path, **kwargs) for account in accounts]
