"""The `hcp-webhooks-drain` flow: spooled HCP webhook deliveries -> the warehouse, every minute.

Thin on purpose: the work is `pipelines.webhooks.drain.drain`, the same function as
`hcp webhooks drain`, and the same drain `hcp sync` runs before its read. It
reads no HCP endpoint and needs no API key (only account names), so it is cheap enough to run
every 60 s and makes the objects HCP cannot filter (invoices, leads, employees) fresh between
full reads. The DuckDB lock is taken per batch inside the drain, only while it writes; the
receiver never waits for it (the spool is its own SQLite file).

Must never: read HCP, or do a job `pipelines/` owns (parsing, deciding, loading).

Run it once: `python -m flows.webhooks`; on a schedule: `hcp serve`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.accounts import account_names
from pipelines import config
from pipelines.webhooks.drain import drain


@task(
    name="drain-webhooks",
    task_run_name="drain-webhooks",
    retries=2,
    retry_delay_seconds=10,
    cache_policy=NO_CACHE,
)
def drain_task(db_path: str, accounts: list[str], spool_path: str | None = None) -> list[dict]:
    """Drain every account's pending deliveries; a retry re-reads what is still pending."""
    logger = get_run_logger()
    results = drain(db_path, accounts, spool_path=spool_path)
    for result in results:
        logger.info("%s", result.line())
    return [asdict(r) | {"applied": r.applied} for r in results]


@flow(name="hcp-webhooks-drain")
def webhooks_drain_flow(
    accounts: list[str] | None = None,
    db_path: str | None = None,
    spool_path: str | None = None,
) -> list[dict[str, Any]]:
    """Apply the webhook spool to the warehouse for every configured account (or `accounts`).

    Args:
        accounts: account names; default: every configured account.
        db_path: the DuckDB file; default `DESTINATION__DUCKDB__CREDENTIALS` or `hcp_sync.duckdb`.
        spool_path: the spool; default `sources.housecallpro.webhook_spool`, else
            `<db>.webhooks.sqlite` beside the DuckDB file (no file: nothing to drain).
    """
    db = str(config.db_path(db_path))
    return drain_task(db, account_names(accounts), spool_path)


if __name__ == "__main__":
    webhooks_drain_flow()
