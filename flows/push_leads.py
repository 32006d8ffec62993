"""The `hcp-push-leads` flow: `staging.leads` -> HCP customers, failing loudly when too many fail.

Thin on purpose: the work (exactly-once sending, reconciliation, bookkeeping in
`staging.lead_attempts` / `staging.push_runs`) is `pipelines.leads.push.push_leads`, the same as
`hcp leads push`. This file adds what a schedule needs: one task per account, retries on
transient errors (safe: the push reconciles unanswered attempts before sending again), none on a
refused key, the DuckDB lock, a markdown artifact, and a failed run when the share of failed
leads passes `max_failed_share`, so a Prefect automation ("flow run failed") can alert someone.

Run it once: `python -m flows.push_leads`; on a schedule: `hcp serve`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.accounts import account_names, redact, resolve_account
from flows.artifacts import PUSH_KEY, PushFigures, failed_share, publish, push_markdown
from flows.retry import RETRIES, RETRY_DELAYS_S, RETRY_JITTER, KeyRejected, retry_if_transient
from pipelines import config
from pipelines.leads.failures import (
    DEFAULT_MAX_FAILED_SHARE,
    check_max_failed_share,
    raise_if_too_many_failed,
)
from pipelines.leads.push import PushResult, push_leads
from pipelines.verify import EXIT_INVALID_TOKEN, EXIT_PERMISSION
from pipelines.warehouse import duckdb_lock

OUTCOMES = ("sent", "linked", "skipped", "failed_permanent", "failed_retryable", "requeued")
"""What happened to each lead a run handled; disjoint, so they add up to the leads handled."""


class PushStopped(Exception):
    """The push stopped early for a reason other than a refused key (retried after a pause)."""


class PushFailed(Exception):
    """At least one account's push did not finish."""


def check_failed_share(pushes: Sequence[PushFigures], max_failed_share: float) -> None:
    """Raise `TooManyFailedLeads` when strictly more than `max_failed_share` of the leads failed
    (the rule `hcp leads push` applies too: `pipelines.leads.failures`)."""
    failed, handled, _ = failed_share(pushes)
    raise_if_too_many_failed(failed, handled, max_failed_share)


def figures_from_result(result: PushResult, secrets: tuple[str, ...] = ()) -> PushFigures:
    """`PushResult` -> the artifact's figures, the message redacted."""
    return PushFigures(
        account=result.account,
        outcomes={o: int(getattr(result, o)) for o in OUTCOMES},
        reconciled=result.reconciled,
        requests=result.requests,
        seconds=result.duration_s,
        error=redact(result.message, secrets) if result.status != "ok" else None,
    )


@task(
    name="push-leads",
    task_run_name="push-{account}",
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS_S,
    retry_jitter_factor=RETRY_JITTER,
    retry_condition_fn=retry_if_transient,
    cache_policy=NO_CACHE,  # every run pushes what is pending now
)
def push_account_task(
    account: str,
    db_path: str,
    route: str | None = None,
    limit: int | None = None,
    secret_block: str | None = None,
) -> PushFigures:
    """Push one account's pending leads, holding the DuckDB lock for the whole task."""
    logger = get_run_logger()
    acct = resolve_account(account, secret_block)
    secrets = (acct.api_key,)
    with duckdb_lock(db_path, on_wait=logger.info):
        result = push_leads(
            acct,
            db_path=db_path,
            route=route,
            limit=limit,
            on_event=lambda message: logger.info(redact(str(message), secrets)),
            on_wait=logger.info,
        )
    figures = figures_from_result(result, secrets)
    logger.info(
        "%s: %s; %d request(s) in %.1f s",
        account,
        ", ".join(f"{o} {n}" for o, n in figures.outcomes.items()),
        figures.requests,
        figures.seconds,
    )
    if result.exit_code in (EXIT_INVALID_TOKEN, EXIT_PERMISSION):
        raise KeyRejected(figures.error or "HCP refused the key")
    if result.status != "ok":
        raise PushStopped(figures.error or result.status)
    return figures


@flow(name="hcp-push-leads")
def push_leads_flow(
    accounts: list[str] | None = None,
    route: str | None = None,
    limit: int | None = None,
    max_failed_share: float = DEFAULT_MAX_FAILED_SHARE,
    db_path: str | None = None,
    secret_blocks: dict[str, str] | None = None,
) -> list[PushFigures]:
    """Push the staged leads of every account to HCP; fail the run when too many of them failed.

    Args:
        accounts: account names to push for; default every configured account (dlt config/env,
            plus every account named in `secret_blocks`).
        route: only leads of this route.
        limit: at most this many leads per account in this run.
        max_failed_share: fail the run when the failed share of the leads handled passes this
            (0.2 = 20%); the artifact is published either way.
        db_path: the DuckDB file; default `DESTINATION__DUCKDB__CREDENTIALS` or `hcp_sync.duckdb`.
        secret_blocks: account name -> name of a Prefect `Secret` block holding its API key.
    """
    check_max_failed_share(max_failed_share)
    started = time.monotonic()
    db = str(config.db_path(db_path))
    names = account_names(accounts, secret_blocks)
    futures = {
        name: push_account_task.submit(name, db, route, limit, (secret_blocks or {}).get(name))
        for name in names
    }
    pushes: list[PushFigures] = []
    for name, future in futures.items():
        future.wait()
        if future.state.is_completed():
            pushes.append(future.result())
        else:
            exc = future.state.result(raise_on_failure=False)
            pushes.append(PushFigures(account=name, error=str(exc)))

    failed, handled, share = failed_share(pushes)
    publish(
        PUSH_KEY,
        push_markdown(pushes, time.monotonic() - started, max_failed_share),
        f"HCP lead push: {handled} lead(s), {failed} failed ({share:.0%})",
    )
    stopped = [p for p in pushes if not p.ok]
    if stopped:
        raise PushFailed("; ".join(f"{p.account}: {p.error}" for p in stopped))
    check_failed_share(pushes, max_failed_share)
    return pushes


if __name__ == "__main__":
    push_leads_flow()
