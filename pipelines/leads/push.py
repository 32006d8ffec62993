"""`staging.leads` -> HCP customers: one push run, exactly once per lead.

The push (`push_leads`) follows DESIGN.md's "Contract of the reverse step":

    pending --claim--> sending --lookup: HCP has the customer--> linked | skipped (per route)
                          '--lookup: none (or `on_existing = "create"`)--> POST --201--> sent
      claim = `sending` + attempts+1, committed BEFORE any request, so a crash leaves evidence.
      Evidence of an unanswered POST is (a) a row left in `sending`, or (b) a `reconcile` row, or
      a `create` row without an HTTP status, in staging.lead_attempts. A lead with evidence is
      looked up in HCP (email, then phone) before it is ever POSTed again.

This module is the run loop: verify the key, reconcile what a killed run left in `sending`,
claim, hand leads to the sender threads (`send.Sender`, HTTP only) and be the single writer of
what they report, through `outbox`. One writer: the calling thread owns the DuckDB connection;
sender threads only do HTTP and put attempt rows and outcomes on a queue. It must never: send
before the claim is committed, POST a lead with evidence of an unanswered request without
looking it up first, let a sender thread touch DuckDB, or write the API key anywhere.
"""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import duckdb

from pipelines import config
from pipelines.config import Account
from pipelines.leads import outbox
from pipelines.leads.hcp import VERIFY
from pipelines.leads.mapping import InvalidLead
from pipelines.leads.outbox import (
    FAILED_PERMANENT,
    FAILED_RETRYABLE,
    LINKED,
    PENDING,
    SENDING,
    SENT,
    SKIPPED,
    LeadRow,
)
from pipelines.leads.profiles import ProfileBook, PushSettings, load_profiles, load_push_settings
from pipelines.leads.send import REQUEUE, Outcome, Sender, Task
from pipelines.verify import verify_account
from pipelines.warehouse import connect, duckdb_lock
from sources.housecallpro.client import HCPClient

PROGRESS_EVERY_S = 10.0


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


class _Progress:
    """What the run tells the user (`on_event`): milestones, and a count at most every
    `PROGRESS_EVERY_S`, so a long run is not silent and a short one is not noisy."""

    def __init__(self, account: str, on_event: Callable[[str], None] | None) -> None:
        self.account = account
        self.on_event = on_event or (lambda _m: None)
        self.began = self.last = time.monotonic()

    def say(self, message: str) -> None:
        self.on_event(f"{self.account}: {message}")

    def tick(self, r: PushResult, every_s: float = PROGRESS_EVERY_S) -> None:
        now = time.monotonic()
        if now - self.last < every_s:
            return
        self.last = now
        done = r.done
        self.say(
            f"{done} done (sent {r.sent}, linked {r.linked}, skipped {r.skipped}, failed "
            f"{r.failed_permanent}, retryable {r.failed_retryable}), "
            f"{done / max(now - self.began, 1e-9):.1f} leads/s"
        )


class _Run:
    """One push run for one account, on the thread that owns the DuckDB connection.

    It selects and claims leads, submits them to the sender threads and is the single writer of
    what they report (attempt rows and outcomes, via `events`), one transaction per flush.
    DuckDB connections must not be shared across threads, and one writer keeps each lead's
    claim, attempts and outcome in order. Every write goes through `outbox`.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        client: HCPClient,
        account: str,
        profiles: ProfileBook,
        settings: PushSettings,
        route: str | None,
        limit: int | None,
        on_event: Callable[[str], None] | None,
    ) -> None:
        self.con = con
        self.client = client
        self.profiles = profiles
        self.max_attempts = settings.max_attempts
        self.limit = limit
        self.result = PushResult(run_id=str(uuid.uuid4()), account=account)
        self.started = datetime.now(UTC)
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.sender = Sender(
            client,
            run_id=self.result.run_id,
            account=account,
            on_duplicate=settings.on_duplicate,
            on_attempt=lambda row: self.events.put(("attempt", row)),
        )
        # every selection of this run: this account, and the one mapping profile when asked
        self.select = partial(
            outbox.select_leads,
            con,
            account=account,
            route=route,
            default_profile=profiles.default_profile,
        )
        self.tasks: dict[str, Task] = {}  # sent and not yet applied, by lead_id
        self.stop_result: Any = None  # verify's verdict when HCP refused the key
        self.progress = _Progress(account, on_event)

    def run(self) -> PushResult:
        r = self.result
        outbox.start_run(self.con, r.run_id, r.account, self.started)
        before = self.client.stats.snapshot()
        clock = time.perf_counter()
        try:
            with self.client.observing(self.sender.record_attempt):
                self._run()
        except Exception as exc:
            r.status, r.exit_code, r.message = "error", 1, f"{type(exc).__name__}: {exc}"
            raise
        finally:
            after = self.client.stats.snapshot()
            r.requests = after["requests"] - before["requests"]
            r.retries = after["retries"] - before["retries"]
            r.duration_s = time.perf_counter() - clock
            r.lead_sources_created = list(self.sender.lead_sources.created)
            self._flush(0)
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
        return r

    def _run(self) -> None:
        r = self.result
        verdict = verify_account(self.client, tag=VERIFY)
        self._flush(0)
        if not verdict.ok:
            r.status, r.exit_code, r.message = "stopped", verdict.exit_code, verdict.message
            return
        self.progress.say(verdict.message)
        workers = max(1, int(getattr(self.client, "concurrency", 4)))
        batch = max(2 * workers, 8)
        leftovers = self.select(outbox.LEFT_SENDING_SQL)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hcp-push") as pool:
            inflight = 0
            for row in leftovers:  # first thing: reconcile what a killed run left
                prepared = self._prepare(row, reconcile_first=True, claimed=False)
                if isinstance(prepared, Outcome):
                    if prepared.status == REQUEUE:  # stopping: it stays `sending` for next time
                        self.stop_result = self.stop_result or prepared.stop
                        break
                    self._apply_outcome(prepared)
                    continue
                self.tasks[row.lead.lead_id] = prepared
                pool.submit(self._send, prepared)
                inflight += 1
            if leftovers:
                self.progress.say(f"reconciling {len(leftovers)} lead(s) left in 'sending'")
            budget = self.limit
            exhausted = False
            while True:
                if not self.sender.stopped.is_set() and not exhausted and inflight <= workers:
                    want = batch if budget is None else min(batch, budget)
                    tasks, taken = self._claim(want) if want > 0 else ([], 0)
                    exhausted = taken == 0
                    if budget is not None:
                        budget -= taken
                    for task in tasks:
                        pool.submit(self._send, task)
                        inflight += 1
                if inflight == 0 and (exhausted or self.sender.stopped.is_set()):
                    break
                inflight -= self._flush(0.05 if inflight else 0)
                self.progress.tick(r)
        if self.stop_result is not None:
            r.status, r.exit_code, r.message = (
                "stopped",
                self.stop_result.exit_code,
                self.stop_result.message,
            )

    def _send(self, task: Task) -> None:
        """On a sender thread: HTTP only; the outcome goes to the writer's queue."""
        self.events.put(("outcome", self.sender.send(task)))

    def _prepare(self, row: LeadRow, *, reconcile_first: bool, claimed: bool) -> Task | Outcome:
        """Map a lead and make sure its Lead Source exists; an outcome when it cannot be sent."""
        lead_id = row.lead.lead_id
        try:
            mapped = self.profiles.map(row.lead)
        except InvalidLead as exc:
            return Outcome(lead_id, FAILED_PERMANENT, reason=exc.reason)
        ready = self.sender.with_lead_source(lead_id, mapped)
        if isinstance(ready, Outcome):
            return ready
        on_existing = self.profiles.get(row.lead.route).on_existing
        return Task(row, ready, row.status, reconcile_first, claimed, on_existing)

    def _claim(self, n: int) -> tuple[list[Task], int]:
        """Claim up to `n` leads: `sending` + attempts, committed before any of them is sent.

        Returns the tasks to send and how many leads were taken (some fail before sending).
        """
        rows = self.select(*outbox.claimable(failed_before=self.started), limit=n, evidence=True)
        tasks: list[Task] = []
        outcomes: list[Outcome] = []
        for row in rows:
            if self.sender.stopped.is_set():
                break  # HCP refused the key while preparing: leave the rest untouched
            if row.attempts >= self.max_attempts:
                reason = outbox.gave_up(row.attempts)
                outcomes.append(Outcome(row.lead.lead_id, FAILED_PERMANENT, reason=reason))
                continue
            prepared = self._prepare(row, reconcile_first=row.evidence, claimed=True)
            if isinstance(prepared, Task):
                tasks.append(prepared)
            else:
                outcomes.append(prepared)
        self.con.execute("BEGIN TRANSACTION")
        for t in tasks:
            outbox.claim(self.con, t.row.lead.lead_id)
        for o in outcomes:  # leads settled before sending (invalid, gave up, no lead source)
            self._apply_outcome(o)
        self.con.execute("COMMIT")
        for t in tasks:
            self.tasks[t.row.lead.lead_id] = t
        self.result.claimed += len(tasks) + len(outcomes)
        return tasks, len(rows)

    def _flush(self, block: float) -> int:
        """Apply queued attempt rows and outcomes in one transaction; return outcomes applied."""
        try:
            first = self.events.get(timeout=block) if block > 0 else self.events.get_nowait()
        except queue.Empty:
            return 0  # nothing reported within `block`
        items: list[tuple[str, Any]] = [first]
        while not self.events.empty():  # this thread is the only consumer: get cannot block
            items.append(self.events.get_nowait())
        attempts = [payload for kind, payload in items if kind == "attempt"]
        outcomes = [payload for kind, payload in items if kind == "outcome"]
        self.con.execute("BEGIN TRANSACTION")
        outbox.insert_attempts(self.con, attempts)
        for outcome in outcomes:
            task = self.tasks.pop(outcome.lead_id, None)
            self._apply_outcome(outcome, task)
        self.con.execute("COMMIT")
        return len(outcomes)

    def _apply_outcome(self, o: Outcome, task: Task | None = None) -> None:
        """Write one lead's outcome (inside the caller's transaction) and count it."""
        r = self.result
        if o.stop is not None and self.stop_result is None:
            self.stop_result = o.stop
        extra_posts = max(0, o.posts - 1) if task and task.claimed else o.posts
        status, reason = o.status, o.reason
        if status == REQUEUE:
            r.requeued += 1
            restore = task.original_status if task else PENDING
            restore = SENDING if restore == SENDING else PENDING
            undo = 1 if task and task.claimed and o.posts == 0 else 0
            outbox.restore(self.con, o.lead_id, restore, undo, extra_posts if o.posts else 0)
            return
        if status == FAILED_RETRYABLE and task is not None:
            total = task.row.attempts + (1 if task.claimed else 0) + extra_posts
            if total >= self.max_attempts:
                status, reason = FAILED_PERMANENT, outbox.gave_up(total, reason)
        if status == SENT:
            r.sent += 1
            r.reconciled += int(o.reconciled)
        elif status == LINKED:
            r.linked += 1
        elif status == SKIPPED:
            r.skipped += 1
        elif status == FAILED_PERMANENT:
            r.failed_permanent += 1
        elif status == FAILED_RETRYABLE:
            r.failed_retryable += 1
        outbox.settle(
            self.con,
            o.lead_id,
            status,
            customer_id=o.customer_id,
            reason=reason,
            posts=extra_posts,
        )


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
            return _Run(con, client, name, profiles, settings, route, limit, on_event).run()
    finally:
        if own_client:
            client.close()
