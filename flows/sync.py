"""The `hcp-sync` flow: HCP -> DuckDB for every account (one task each), then the models.

Thin on purpose: the work is `pipelines.sync.sync_account` and `pipelines.transform`, which run
the same without Prefect (`hcp sync`, `hcp transform`). This file adds what a schedule needs:
per-account fan-out (one account's bad key fails its task, not the others), retries with backoff
on transient errors and never on a bad key, the DuckDB lock around each task that opens the
file, a markdown artifact per run, and logs through Prefect's logger.

Must never: do a job `pipelines/` owns (reading, loading, figures), or let a key or an
unredacted error text reach a log line or the artifact.

Run it once: `python -m flows.sync` (or `python flows/sync.py`); on a schedule: `hcp serve`.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture

from flows.accounts import account_names, redact, resolve_account
from flows.artifacts import SYNC_KEY, AccountFigures, publish, sync_markdown
from flows.retry import RETRIES, RETRY_DELAYS_S, RETRY_JITTER, KeyRejected, retry_if_transient
from pipelines import config
from pipelines.sync import SyncResult, parse_objects, sync_account
from pipelines.transform import run_transforms
from pipelines.verify import EXIT_INVALID_TOKEN, EXIT_PERMISSION
from pipelines.warehouse import duckdb_lock
from sources.housecallpro.figures import ObjectFigures, ProgressCallback


class SyncFailed(Exception):
    """At least one account did not sync; the others did, and their data is in the warehouse."""


class ObjectsFailed(Exception):
    """An account's sync finished, but some objects failed (retried like any transient error)."""


def figures_from_result(result: SyncResult, secrets: tuple[str, ...] = ()) -> AccountFigures:
    """`SyncResult` -> the artifact's figures, every error text redacted."""
    objects = tuple(
        replace(o, error=redact(o.error, secrets) if o.error else None)
        for o in result.objects.values()
    )
    return AccountFigures(account=result.account, objects=objects, seconds=result.seconds)


def raise_for_result(result: SyncResult, secrets: tuple[str, ...] = ()) -> None:
    """Turn a sync that did not succeed into the exception that decides whether to retry.

    `sync_account` never raises for HCP errors; a flow task must, or Prefect would call it a
    success. A rejected key (verify's exit codes 2 and 3) is `KeyRejected`: never retried.
    """
    if result.ok:
        return
    message = redact(result.message, secrets)
    if result.exit_code in (EXIT_INVALID_TOKEN, EXIT_PERMISSION):
        raise KeyRejected(message)
    raise ObjectsFailed(message)


def _progress_logger(logger: Any, secrets: tuple[str, ...]) -> ProgressCallback:
    """A `progress` callback that logs each object once, when its read ends (not every page)."""

    def progress(table: str, report: ObjectFigures) -> None:
        if report.status in ("ok", "skipped", "failed"):
            line = f"{table}: {report.status}, {report.rows} rows in {report.pages} page(s)"
            if report.error:
                line += f": {report.error}"
            logger.info(redact(line, secrets))

    return progress


@task(
    name="sync-account",
    task_run_name="sync-{account}",
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS_S,
    retry_jitter_factor=RETRY_JITTER,
    retry_condition_fn=retry_if_transient,
    cache_policy=NO_CACHE,  # a sync always talks to HCP; never reuse an earlier result
)
def sync_account_task(
    account: str,
    db_path: str,
    objects: list[str] | None = None,
    full_refresh: bool = False,
    secret_block: str | None = None,
) -> AccountFigures:
    """Sync one account into `db_path`, holding the DuckDB lock for the whole task."""
    logger = get_run_logger()
    acct = resolve_account(account, secret_block)
    secrets = (acct.api_key,)
    with duckdb_lock(db_path, on_wait=logger.info):
        result = sync_account(
            acct,
            db_path=db_path,
            objects=objects,
            full_refresh=full_refresh,
            progress=_progress_logger(logger, secrets),
        )
    logger.info(
        "%s: %s (%d requests, %.1f s)",
        account,
        redact(result.message, secrets),
        result.requests,
        result.seconds,
    )
    raise_for_result(result, secrets)
    return figures_from_result(result, secrets)


@task(name="transforms", retries=1, retry_delay_seconds=30, cache_policy=NO_CACHE)
def transform_task(db_path: str) -> str:
    """Rebuild the `analytics` models from what landed; returns a one-line summary."""
    logger = get_run_logger()
    with duckdb_lock(db_path, on_wait=logger.info):
        result = run_transforms(
            db_path,
            on_model=lambda m: logger.info("model %s: %d rows", m.name, m.rows),
            on_wait=logger.info,
        )
    failed_audits = len(result.failed_audits)
    for note in result.notes:
        logger.warning("transforms: %s", note)
    summary = f"{len(result.models)} models rebuilt, {failed_audits} audit warning(s)"
    logger.info("transforms: %s", summary)
    return summary


def _error_of(future: PrefectFuture[AccountFigures]) -> str:
    state = future.state
    exc = state.result(raise_on_failure=False) if state.is_failed() else None
    return str(exc) if isinstance(exc, BaseException) else (state.message or state.name)


@flow(name="hcp-sync")
def sync_flow(
    accounts: list[str] | None = None,
    objects: list[str] | None = None,
    full_refresh: bool = False,
    db_path: str | None = None,
    secret_blocks: dict[str, str] | None = None,
    transforms: bool = True,
) -> list[AccountFigures]:
    """Sync every configured account (or `accounts`) into DuckDB, then rebuild the models.

    Args:
        accounts: account names to sync; default: every account configured (dlt config/env,
            plus every account named in `secret_blocks`).
        objects: HCP tables to read (e.g. `["estimates", "invoices"]`); default: all of them.
        full_refresh: re-read the objects in full and merge (never drops tables or history).
        db_path: the DuckDB file; default `DESTINATION__DUCKDB__CREDENTIALS` or `hcp_sync.duckdb`.
        secret_blocks: account name -> name of a Prefect `Secret` block holding its API key.
        transforms: rebuild the `analytics` models after loading.
    """
    logger = get_run_logger()
    started = time.monotonic()
    if objects is not None:
        parse_objects(objects)  # a typo in a deployment's parameters fails before any request
    db = str(config.db_path(db_path))
    names = account_names(accounts, secret_blocks)
    logger.info("syncing %d account(s) into %s: %s", len(names), db, ", ".join(names))

    futures = {
        name: sync_account_task.submit(
            name, db, objects, full_refresh, (secret_blocks or {}).get(name)
        )
        for name in names
    }
    figures: list[AccountFigures] = []
    for name, future in futures.items():
        future.wait()
        if future.state.is_completed():
            figures.append(future.result())
        else:
            figures.append(AccountFigures(account=name, error=_error_of(future)))

    synced = [f for f in figures if f.ok]
    transformed = transform_task(db) if transforms and synced else None

    publish(
        SYNC_KEY,
        sync_markdown(figures, time.monotonic() - started, transformed),
        f"HCP sync of {len(synced)}/{len(figures)} account(s)",
    )
    failed = [f for f in figures if not f.ok]
    if failed:
        raise SyncFailed(
            f"{len(failed)} of {len(figures)} account(s) failed: "
            + "; ".join(f"{f.account}: {f.error}" for f in failed)
        )
    return figures


if __name__ == "__main__":
    sync_flow()
