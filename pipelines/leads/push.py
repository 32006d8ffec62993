"""`staging.leads` -> HCP customers: one push run, exactly once per lead.

The push (`push_leads`) follows DESIGN.md's "Contract of the reverse step":

    pending --claim--> sending --lookup: HCP has the customer--> linked | skipped (per route)
                          '--lookup: none (or `on_existing = "create"`)--> POST --201--> sent
      claim = `sending` + attempts+1, committed BEFORE any request, so a crash leaves evidence.
      Evidence of an unanswered POST is (a) a row left in `sending`, or (b) a `reconcile` row, or
      a `create` row without an HTTP status, in staging.lead_attempts. A lead with evidence is
      looked up in HCP (email, then phone) before it is ever POSTed again.

The run loop is the outbox engine's (`pipelines/push/engine.Run`: verify, reconcile what a killed
run left in `sending`, claim, sender threads, one writer); this module gives it the lead's
`Store` (staging.leads through `outbox`) and `Worker` (`send.Sender`), and counts the lead's
outcomes in `PushResult`. It must never: send before the claim is committed, POST a lead with
evidence of an unanswered request without looking it up first, let a sender thread touch
DuckDB, or write the API key anywhere.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import duckdb

from pipelines import config
from pipelines.config import Account
from pipelines.leads import outbox
from pipelines.leads.hcp import VERIFY
from pipelines.leads.outbox import (
    FAILED_PERMANENT,
    FAILED_RETRYABLE,
    LINKED,
    SENT,
    SKIPPED,
    LeadRow,
)
from pipelines.leads.profiles import ProfileBook, PushSettings, load_profiles, load_push_settings
from pipelines.leads.send import Sender
from pipelines.push.engine import Outcome, Run, new_run_id
from pipelines.warehouse import connect, duckdb_lock
from sources.housecallpro.client import HCPClient


@dataclass
class PushResult:
    """What one push run did for one account; `pipelines/` and flows publish it as is."""

    run_id: str
    account: str
    status: str = "ok"  # ok | stopped | error
    exit_code: int = 0
    message: str = ""
    claimed: int = 0
    sent: int = 0
    linked: int = 0
    skipped: int = 0  # HCP already had the customer and the route says `on_existing = "skip"`
    reconciled: int = 0  # of `sent`: found by lookup after an unanswered request
    failed_permanent: int = 0
    failed_retryable: int = 0
    requeued: int = 0
    requests: int = 0
    retries: int = 0
    duration_s: float = 0.0
    lead_sources_created: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in outbox.RUN_COUNTS}

    @property
    def leads_per_s(self) -> float:
        return self.done / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def failed(self) -> int:
        """Leads this run left failed (permanently or for a later run)."""
        return self.failed_permanent + self.failed_retryable

    @property
    def handled(self) -> int:
        """Leads this run handled: an outcome, or put back (`pipelines.leads.failures`)."""
        return self.done + self.requeued

    @property
    def done(self) -> int:
        """Leads that reached an outcome in this run (not requeued)."""
        return (
            self.sent + self.linked + self.skipped + self.failed_permanent + self.failed_retryable
        )

    def tally(self, status: str, outcome: Outcome) -> None:
        """Count one applied outcome (the engine's `Result.tally`)."""
        if status == SENT:
            self.sent += 1
            self.reconciled += int(outcome.reconciled)
        elif status in (LINKED, SKIPPED, FAILED_PERMANENT, FAILED_RETRYABLE):
            setattr(self, status, getattr(self, status) + 1)

    def progress_line(self, elapsed_s: float) -> str:
        done = self.done
        return (
            f"{done} done (sent {self.sent}, linked {self.linked}, skipped {self.skipped}, failed "
            f"{self.failed_permanent}, retryable {self.failed_retryable}), "
            f"{done / elapsed_s:.1f} leads/s"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "account": self.account,
            "status": self.status,
            "exit_code": self.exit_code,
            "message": self.message,
            **self.counts,
            "requests": self.requests,
            "retries": self.retries,
            "duration_s": round(self.duration_s, 3),
            "lead_sources_created": self.lead_sources_created,
        }


class _LeadStore:
    """The engine's `Store` over `staging.leads`: every statement is `outbox`'s."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        account: str,
        route: str | None,
        default_profile: str,
    ) -> None:
        self.con = con
        self.account = account
        # every selection of this run: this account, and the one mapping profile when asked
        self.select = partial(
            outbox.select_leads,
            con,
            account=account,
            route=route,
            default_profile=default_profile,
        )

    def left_sending(self) -> list[LeadRow]:
        return self.select(outbox.LEFT_SENDING_SQL)

    def claimable(self, n: int, failed_before: datetime) -> list[LeadRow]:
        return self.select(*outbox.claimable(failed_before=failed_before), limit=n, evidence=True)

    def claim(self, key: str) -> None:
        outbox.claim(self.con, key)

    def restore(self, key: str, status: str, undo: int, posts: int) -> None:
        outbox.restore(self.con, key, status, undo, posts)

    def settle(
        self, key: str, status: str, *, hcp_id: str | None, reason: str | None, posts: int
    ) -> None:
        outbox.settle(self.con, key, status, customer_id=hcp_id, reason=reason, posts=posts)

    def insert_attempts(self, rows: list[tuple[Any, ...]]) -> None:
        outbox.insert_attempts(self.con, rows)

    def start_run(self, run_id: str, started: datetime) -> None:
        outbox.start_run(self.con, run_id, self.account, started)

    def finish_run(self, r: PushResult) -> None:
        outbox.finish_run(
            self.con,
            r.run_id,
            status=r.status,
            counts=r.counts,
            requests=r.requests,
            duration_s=r.duration_s,
            exit_code=r.exit_code,
            error=r.message if r.status != "ok" else None,
        )


def _run(
    con: duckdb.DuckDBPyConnection,
    client: HCPClient,
    account: str,
    profiles: ProfileBook,
    settings: PushSettings,
    route: str | None,
    limit: int | None,
    on_event: Callable[[str], None] | None,
) -> PushResult:
    """One push run for one account: the engine's loop over the lead's store and sender."""
    result = PushResult(run_id=new_run_id(), account=account)
    events: queue.Queue[tuple[str, Any]] = queue.Queue()
    sender = Sender(
        client,
        run_id=result.run_id,
        account=account,
        on_duplicate=settings.on_duplicate,
        on_attempt=lambda row: events.put(("attempt", row)),
        profiles=profiles,
    )

    def on_finish() -> None:
        result.lead_sources_created = list(sender.lead_sources.created)

    run = Run(
        con,
        client,
        _LeadStore(con, account, route, profiles.default_profile),
        sender,
        result,
        max_attempts=settings.max_attempts,
        limit=limit,
        verify_tag=VERIFY,
        events=events,
        on_event=on_event,
        on_finish=on_finish,
    )
    run.run()
    return result


def push_leads(
    account: Account | str = "default",
    *,
    db_path: str | Path | None = None,
    limit: int | None = None,
    route: str | None = None,
    routes: ProfileBook | None = None,
    settings: PushSettings | None = None,
    client: HCPClient | None = None,
    on_event: Callable[[str], None] | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> PushResult:
    """Push one account's claimable leads to HCP as customers, exactly once each.

    Verifies the key, reconciles leads a killed run left in `sending`, ensures Lead Sources,
    claims `pending` / `failed_retryable` leads and sends them on `client.concurrency` threads
    paced by the client's rate limiter. Holds the DuckDB lock for the whole run. A 401/403
    stops the run (`result.exit_code` 2/3, verify's message); the leads stay `pending`.
    `client` is built from the account's config unless given (tests, benchmarks).
    """
    acct = account if isinstance(account, Account) else None
    name = acct.name if acct else str(account)
    profiles = routes or load_profiles()
    settings = settings or load_push_settings()
    own_client = client is None
    if client is None:
        acct = acct or config.load_account(name)
        client = HCPClient.from_account(acct)
    db = config.db_path(db_path)
    try:
        with duckdb_lock(db, on_wait=on_wait), connect(db, on_wait=on_wait) as con:
            outbox.ensure_schema(con)
            return _run(con, client, name, profiles, settings, route, limit, on_event)
    finally:
        if own_client:
            client.close()
