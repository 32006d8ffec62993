"""`staging.leads` -> HCP customers: the push state machine and its dry run.

The dry run (`plan_push`) is exactly what a push would do with each lead, computed by the same
mapping: the payload, the dropped fields, or why the lead would fail. It reads the outbox and
nothing else: no request, no write, not even a migration.

The push (`push_leads`) follows DESIGN.md's "Contract of the reverse step": a lead is claimed
(`sending`, committed) before its POST, and a lead whose earlier POST went unanswered is looked
up in HCP before it is ever sent again, so each valid lead becomes exactly one customer across
lost answers and kill -9. It must never: send before the claim is committed, POST a lead with
evidence of an unanswered request without looking it up first, or write the API key anywhere.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from pipelines import config
from pipelines.config import Account
from pipelines.leads import outbox
from pipelines.leads.mapping import InvalidLead, MappedLead, map_lead
from pipelines.leads.outbox import (
    FAILED_PERMANENT,
    FAILED_RETRYABLE,
    LINKED,
    PENDING,
    SENDING,
    SENT,
    LeadRow,
)
from pipelines.leads.profiles import (
    ProfileBook,
    PushSettings,
    load_profiles,
    load_push_settings,
)
from pipelines.verify import result_for_error, verify_account
from pipelines.warehouse import connect, duckdb_lock
from sources.housecallpro.client import Exchange, HCPClient
from sources.housecallpro.errors import (
    AuthError,
    DuplicateCustomer,
    HCPError,
    PermissionDenied,
    TransportError,
    ValidationError,
)


@dataclass(frozen=True)
class PlannedLead:
    """What the push would do with one lead."""

    lead_id: str
    account: str
    route: str
    status: str  # current status in staging.leads
    action: str  # "send" | "reconcile" (left in `sending`: look up first) | "fail"
    payload: dict[str, Any] | None = None
    dropped: tuple[str, ...] = ()
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "lead_id": self.lead_id,
            "account": self.account,
            "route": self.route,
            "status": self.status,
            "action": self.action,
            "payload": self.payload,
            "dropped": list(self.dropped),
            "reason": self.reason,
        }


@dataclass
class PushPlan:
    leads: list[PlannedLead] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for p in self.leads if p.action == action)

    @property
    def lead_sources(self) -> list[str]:
        found = {
            str(p.payload["lead_source"])
            for p in self.leads
            if p.payload and p.payload.get("lead_source")
        }
        return sorted(found)


def map_row(row: LeadRow, routes: ProfileBook) -> MappedLead:
    """The mapping the push applies; `InvalidLead` for a lead that must not be sent."""
    surplus = row.lead.extra.get("_surplus_fields")
    if surplus:
        # A CSV row with more fields than its header: columns may be shifted, so sending it
        # could put a phone in the notes or a name in the company. The user fixes the row.
        raise InvalidLead(
            f"the CSV row had extra fields {surplus}; fix the row and remove extra._surplus_fields"
        )
    try:
        route = routes.get(row.lead.route)
    except KeyError as exc:
        raise InvalidLead(exc.args[0]) from exc
    return map_lead(row.lead, route)


def plan_push(
    db_path: str | Path | None = None,
    *,
    account: str | None = None,
    route: str | None = None,
    limit: int | None = None,
    routes: ProfileBook | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> PushPlan:
    """The dry run: what a push would do, lead by lead; sends nothing and changes nothing."""
    routes = routes or load_profiles()
    plan = PushPlan()
    with connect(config.db_path(db_path), read_only=True, on_wait=on_wait) as con:
        if not outbox.schema_exists(con):
            return plan
        kw: dict[str, Any] = {
            "account": account,
            "route": route,
            "default_profile": routes.default_profile,
        }
        leftovers = outbox.select_leads(con, outbox.LEFT_SENDING_SQL, **kw)
        claimable = outbox.select_leads(con, outbox.CLAIMABLE_SQL, limit=limit, **kw)
    for row, action in [(r, "reconcile") for r in leftovers] + [(r, "send") for r in claimable]:
        route_name = (row.lead.route or "").strip() or routes.default_profile
        try:
            mapped = map_row(row, routes)
        except InvalidLead as exc:
            plan.leads.append(
                PlannedLead(
                    row.lead.lead_id, row.account, route_name, row.status, "fail", reason=exc.reason
                )
            )
            continue
        plan.leads.append(
            PlannedLead(
                row.lead.lead_id,
                row.account,
                route_name,
                row.status,
                action,
                mapped.payload,
                mapped.dropped,
            )
        )
    return plan


# ====================================================================== the push (state machine)
#
# pending --claim--> sending --201--> sent
#   claim = `sending` + attempts+1, committed BEFORE the POST, so a crash leaves evidence.
#   Evidence of an unanswered POST is (a) a row left in `sending`, or (b) a `reconcile` row, or a
#   `create` row without an HTTP status, in staging.lead_attempts. A lead with evidence is looked
#   up in HCP (email, then phone) before it is ever POSTed again.
# One writer: the calling thread owns the DuckDB connection; sender threads only do HTTP and
# put attempt rows and outcomes on a queue.

MAX_ROUNDS = 3  # POSTs per lead per run when answers keep getting lost
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
        return {
            k: getattr(self, k)
            for k in (
                "claimed",
                "sent",
                "linked",
                "reconciled",
                "failed_permanent",
                "failed_retryable",
                "requeued",
            )
        }

    @property
    def leads_per_s(self) -> float:
        done = self.sent + self.linked + self.failed_permanent + self.failed_retryable
        return done / self.duration_s if self.duration_s > 0 else 0.0

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


@dataclass(frozen=True)
class AttemptTag:
    """Why a request was made, carried by the client to the push's observer (one attempt row)."""

    kind: str  # create | reconcile | link | lead_source | verify | test
    lead_id: str | None = None  # None for run-level requests (verify, lead sources)
    dropped: str | None = None  # what the mapping left out of a create's payload


VERIFY = AttemptTag("verify")
LEAD_SOURCE = AttemptTag("lead_source")


@dataclass
class _Task:
    row: LeadRow
    mapped: MappedLead
    original_status: str  # what a requeue restores
    reconcile_first: bool  # evidence of an unanswered POST: look up before sending
    claimed: bool  # attempts was incremented by this run's claim


@dataclass
class _Outcome:
    lead_id: str
    status: str  # a staging status, or "requeue"
    customer_id: str | None = None
    reason: str | None = None
    posts: int = 0  # POSTs made (the claim counted the first)
    reconciled: bool = False
    stop: Any = None  # a VerifyResult when HCP refused the key


def find_customer(
    client: HCPClient,
    email: str | None,
    phone: str | None,
    payload: dict[str, Any] | None = None,
    *,
    tag: Any = None,
) -> dict[str, Any] | None:
    """The HCP customer for a lead: by email (`GET /customers?q=`), else by mobile number.

    Exact matches only: `q` is a substring search. The phone is searched only for a lead without
    an email (a customer we created for a lead with an email has that email, so the email search
    finds it), and a phone match must have no email and the same name, so a household sharing a
    number is not taken for the lead.
    """
    if email:
        found = [
            c
            for c in client.iter_items(
                "/customers", {"q": email}, envelope_key="customers", tag=tag
            )
            if (c.get("email") or "").strip().lower() == email
        ]
        if found:
            return max(found, key=lambda c: str(c.get("created_at") or ""))
    if phone and not email:
        want = payload or {}

        def same(c: dict[str, Any]) -> bool:
            digits = "".join(ch for ch in str(c.get("mobile_number") or "") if ch.isdigit())
            if digits[-10:] != phone[-10:] or (c.get("email") or "").strip():
                return False
            return all(
                (c.get(k) or "").strip().lower() == (want.get(k) or "").strip().lower()
                for k in ("first_name", "last_name")
            )

        found = [
            c
            for c in client.iter_items(
                "/customers", {"q": phone}, envelope_key="customers", tag=tag
            )
            if same(c)
        ]
        if found:
            return max(found, key=lambda c: str(c.get("created_at") or ""))
    return None


class _LeadSources:
    """Makes sure Lead Source strings exist in HCP: one GET per run, POST for missing ones."""

    def __init__(self, client: HCPClient) -> None:
        self.client = client
        self.names: dict[str, str] | None = None  # lower-case -> HCP's spelling
        self.load_error: str | None = None
        self.created: list[str] = []
        self.failed: dict[str, str] = {}  # name -> why it could not be created

    def _load(self) -> dict[str, str]:
        if self.load_error is not None:
            raise HCPError(self.load_error)
        if self.names is None:
            names: dict[str, str] = {}
            try:
                for item in self.client.iter_items(
                    "/lead_sources", envelope_key="lead_sources", tag=LEAD_SOURCE
                ):
                    name = str(item.get("name") or "")
                    names.setdefault(name.lower(), name)
                    names[name] = name  # the exact spelling always maps to itself
            except (AuthError, PermissionDenied):
                raise
            except HCPError as exc:
                self.load_error = f"could not read HCP's lead sources: {exc}"
                raise HCPError(self.load_error) from None
            self.names = names
        return self.names

    def resolve(self, name: str) -> str:
        """HCP's spelling of `name`, creating it when missing; `HCPError` when that fails."""
        names = self._load()
        if name in names:
            return names[name]
        if name.lower() in names:
            # HCP refuses a second name differing only by case: use the existing spelling.
            return names[name.lower()]
        if name in self.failed:
            raise HCPError(self.failed[name])
        try:
            self.client.post("/lead_sources", {"name": name}, tag=LEAD_SOURCE)
        except (AuthError, PermissionDenied):
            raise
        except HCPError as exc:
            self.failed[name] = f"lead source {name!r} could not be created in HCP: {exc.message}"
            raise HCPError(self.failed[name]) from None
        names[name] = name
        names.setdefault(name.lower(), name)
        self.created.append(name)
        return name


class _Push:
    """One run for one account: the claim loop, the sender pool, the single writer."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        client: HCPClient,
        account: str,
        routes: ProfileBook,
        settings: PushSettings,
        route: str | None,
        limit: int | None,
        on_event: Callable[[str], None] | None,
    ) -> None:
        self.con = con
        self.client = client
        self.account = account
        self.routes = routes
        self.settings = settings
        self.route = route
        self.limit = limit
        self.on_event = on_event or (lambda _m: None)
        self.result = PushResult(run_id=str(uuid.uuid4()), account=account)
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.stop = threading.Event()
        self.stop_result: Any = None
        self.started = datetime.now(UTC)
        self.workers = max(1, int(getattr(client, "concurrency", 4)))
        self.batch = max(2 * self.workers, 8)
        self.tasks: dict[str, _Task] = {}
        self.lead_sources = _LeadSources(client)
        self.began = self.last_progress = time.monotonic()

    # ------------------------------------------------------------ HTTP side (sender threads)

    def record_attempt(self, exchange: Exchange) -> None:
        """Client observer: every request of the run becomes a `staging.lead_attempts` row."""
        tag = exchange.tag if isinstance(exchange.tag, AttemptTag) else AttemptTag("other")
        row = (
            self.result.run_id,
            tag.lead_id,
            self.account,
            datetime.now(UTC),
            tag.kind,
            exchange.method,
            exchange.path,
            exchange.status,
            exchange.message or None,
            round(exchange.elapsed_s * 1000, 1),
            tag.dropped,
        )
        self.events.put(("attempt", row))

    def _lookup(self, task: _Task, kind: str) -> dict[str, Any] | None:
        m = task.mapped
        tag = AttemptTag(kind, task.row.lead.lead_id)
        return find_customer(self.client, m.email, m.phone, m.payload, tag=tag)

    def send(self, task: _Task) -> None:
        """Process one lead to an outcome; never raises (the outcome says what happened)."""
        try:
            outcome = self._send(task)
        except Exception as exc:  # noqa: BLE001 - a bug must not lose the lead: keep it `sending`
            outcome = _Outcome(
                task.row.lead.lead_id,
                SENDING,
                reason=f"internal error ({type(exc).__name__}: {exc}); reconciled on the next run",
            )
        self.events.put(("outcome", outcome))

    def _send(self, task: _Task) -> _Outcome:
        lead_id = task.row.lead.lead_id
        unanswered = task.reconcile_first
        posts = 0
        create_tag = AttemptTag("create", lead_id, "; ".join(task.mapped.dropped) or None)
        last_reason = "no answer from HCP"
        for _ in range(MAX_ROUNDS):
            if self.stop.is_set():
                return _Outcome(lead_id, "requeue", posts=posts)
            if unanswered:
                try:
                    found = self._lookup(task, "reconcile")
                except (AuthError, PermissionDenied) as exc:
                    return self._stop(lead_id, exc, posts)
                except HCPError as exc:
                    return _Outcome(
                        lead_id,
                        FAILED_RETRYABLE,
                        reason=f"could not look the customer up after an unanswered request: {exc}",
                        posts=posts,
                    )
                if found:
                    return _Outcome(
                        lead_id, SENT, str(found.get("id")), posts=posts, reconciled=True
                    )
            posts += 1
            try:
                body = self.client.post("/customers", task.mapped.payload, tag=create_tag)
            except DuplicateCustomer as exc:
                return self._duplicate(task, exc, unanswered, posts)
            except ValidationError as exc:
                where = f" (field {exc.field})" if exc.field else ""
                return _Outcome(
                    lead_id,
                    FAILED_PERMANENT,
                    reason=f"HCP refused it: {exc.message}{where}",
                    posts=posts,
                )
            except (AuthError, PermissionDenied) as exc:
                return self._stop(lead_id, exc, posts - 1)  # HCP created nothing
            except TransportError as exc:
                if not exc.outcome_unknown:
                    return _Outcome(
                        lead_id,
                        FAILED_RETRYABLE,
                        reason=f"HCP unreachable: {exc.message}",
                        posts=posts,
                    )
                unanswered, last_reason = True, exc.message
                continue
            except HCPError as exc:  # 429/5xx after the client's retries, 404, other
                return _Outcome(lead_id, FAILED_RETRYABLE, reason=str(exc), posts=posts)
            customer_id = body.get("id") if isinstance(body, dict) else None
            if not customer_id:
                return _Outcome(
                    lead_id, SENT, None, reason="HCP answered without a customer id", posts=posts
                )
            return _Outcome(lead_id, SENT, str(customer_id), posts=posts)
        return _Outcome(
            lead_id,
            FAILED_RETRYABLE,
            reason=f"no answer after {MAX_ROUNDS} tries ({last_reason}); looked up first on the next run",
            posts=posts,
        )

    def _duplicate(
        self, task: _Task, exc: DuplicateCustomer, unanswered: bool, posts: int
    ) -> _Outcome:
        lead_id = task.row.lead.lead_id
        if not unanswered and self.settings.on_duplicate == "fail":
            return _Outcome(
                lead_id, FAILED_PERMANENT, reason=f"duplicate customer: {exc.message}", posts=posts
            )
        kind = "reconcile" if unanswered else "link"
        try:
            found = self._lookup(task, kind)
        except (AuthError, PermissionDenied) as err:
            return self._stop(lead_id, err, posts)
        except HCPError as err:
            return _Outcome(
                lead_id,
                FAILED_RETRYABLE,
                reason=f"duplicate customer, lookup failed: {err}",
                posts=posts,
            )
        if unanswered:
            if found:
                return _Outcome(lead_id, SENT, str(found.get("id")), posts=posts, reconciled=True)
            return _Outcome(
                lead_id,
                FAILED_RETRYABLE,
                reason="HCP says duplicate after an unanswered request, but no customer matches yet",
                posts=posts,
            )
        if found:
            return _Outcome(lead_id, LINKED, str(found.get("id")), posts=posts)
        return _Outcome(
            lead_id,
            FAILED_PERMANENT,
            reason=f"duplicate customer: {exc.message}; no exact match found to link",
            posts=posts,
        )

    def _stop(self, lead_id: str, exc: HCPError, posts: int) -> _Outcome:
        self.stop.set()
        return _Outcome(
            lead_id, "requeue", posts=posts, stop=result_for_error(exc, self.client.base_url)
        )

    # ------------------------------------------------------------ DuckDB side (this thread)

    def _prepare(self, row: LeadRow, evidence: bool, claimed: bool) -> _Task | _Outcome:
        """Map a lead and make sure its Lead Source exists; an outcome when it cannot be sent."""
        lead_id = row.lead.lead_id
        try:
            mapped = map_row(row, self.routes)
        except InvalidLead as exc:
            return _Outcome(lead_id, FAILED_PERMANENT, reason=exc.reason)
        source = mapped.payload.get("lead_source")
        if source:
            try:
                actual = self.lead_sources.resolve(str(source))
            except (AuthError, PermissionDenied) as exc:
                return self._stop(lead_id, exc, 0)
            except HCPError as exc:
                return _Outcome(lead_id, FAILED_RETRYABLE, reason=str(exc))
            if actual != source:
                mapped = replace(mapped, payload={**mapped.payload, "lead_source": actual})
        return _Task(row, mapped, row.status, evidence, claimed)

    def _claim(self, n: int) -> tuple[list[_Task], int]:
        """Claim up to `n` leads: `sending` + attempts, committed before any of them is sent.

        Returns the tasks to send and how many leads were taken (some fail before sending).
        """
        rows = outbox.select_leads(
            self.con,
            *outbox.claimable(failed_before=self.started),
            account=self.account,
            route=self.route,
            default_profile=self.routes.default_profile,
            limit=n,
            evidence=True,
        )
        tasks: list[_Task] = []
        outcomes: list[_Outcome] = []
        for row in rows:
            if self.stop.is_set():
                break  # HCP refused the key while preparing: leave the rest untouched
            if row.attempts >= self.settings.max_attempts:
                reason = outbox.gave_up(row.attempts)
                outcomes.append(_Outcome(row.lead.lead_id, FAILED_PERMANENT, reason=reason))
                continue
            prepared = self._prepare(row, row.evidence, claimed=True)
            if isinstance(prepared, _Task):
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
        items: list[tuple[str, Any]] = []
        try:
            items.append(self.events.get(timeout=block) if block > 0 else self.events.get_nowait())
            while True:
                items.append(self.events.get_nowait())
        except queue.Empty:
            pass
        if not items:
            return 0
        attempts = [payload for kind, payload in items if kind == "attempt"]
        outcomes = [payload for kind, payload in items if kind == "outcome"]
        self.con.execute("BEGIN TRANSACTION")
        outbox.insert_attempts(self.con, attempts)
        for outcome in outcomes:
            task = self.tasks.pop(outcome.lead_id, None)
            self._apply_outcome(outcome, task)
        self.con.execute("COMMIT")
        return len(outcomes)

    def _apply_outcome(self, o: _Outcome, task: _Task | None = None) -> None:
        """Write one lead's outcome (inside the caller's transaction) and count it."""
        r = self.result
        if o.stop is not None and self.stop_result is None:
            self.stop_result = o.stop
        extra_posts = max(0, o.posts - 1) if task and task.claimed else o.posts
        status, reason = o.status, o.reason
        if status == "requeue":
            r.requeued += 1
            restore = task.original_status if task else PENDING
            restore = SENDING if restore == SENDING else PENDING
            undo = 1 if task and task.claimed and o.posts == 0 else 0
            outbox.restore(self.con, o.lead_id, restore, undo, extra_posts if o.posts else 0)
            return
        if status == FAILED_RETRYABLE and task is not None:
            total = task.row.attempts + (1 if task.claimed else 0) + extra_posts
            if total >= self.settings.max_attempts:
                status, reason = FAILED_PERMANENT, outbox.gave_up(total, reason)
        if status == SENT:
            r.sent += 1
            r.reconciled += int(o.reconciled)
        elif status == LINKED:
            r.linked += 1
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

    # ------------------------------------------------------------ the run

    def run(self) -> PushResult:
        r = self.result
        outbox.start_run(self.con, r.run_id, self.account, self.started)
        before = self.client.stats.snapshot()
        clock = time.perf_counter()
        try:
            with self.client.observing(self.record_attempt):
                self._run()
        except Exception as exc:
            r.status, r.exit_code, r.message = "error", 1, f"{type(exc).__name__}: {exc}"
            raise
        finally:
            after = self.client.stats.snapshot()
            r.requests = after["requests"] - before["requests"]
            r.retries = after["retries"] - before["retries"]
            r.duration_s = time.perf_counter() - clock
            r.lead_sources_created = list(self.lead_sources.created)
            self._flush(0)
            self._finish()
        return r

    def _run(self) -> None:
        r = self.result
        verdict = verify_account(self.client, tag=VERIFY)
        self._flush(0)
        if not verdict.ok:
            r.status, r.exit_code, r.message = "stopped", verdict.exit_code, verdict.message
            return
        self.on_event(f"{self.account}: {verdict.message}")
        leftovers = outbox.select_leads(
            self.con,
            outbox.LEFT_SENDING_SQL,
            account=self.account,
            route=self.route,
            default_profile=self.routes.default_profile,
        )
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="hcp-push") as pool:
            inflight = 0
            for row in leftovers:  # first thing: reconcile what a killed run left
                prepared = self._prepare(row, True, claimed=False)
                if isinstance(prepared, _Outcome):
                    if prepared.status == "requeue":  # stopping: it stays `sending` for next time
                        self.stop_result = self.stop_result or prepared.stop
                        break
                    self._apply_outcome(prepared)
                    continue
                self.tasks[row.lead.lead_id] = prepared
                pool.submit(self.send, prepared)
                inflight += 1
            if leftovers:
                self.on_event(
                    f"{self.account}: reconciling {len(leftovers)} lead(s) left in 'sending'"
                )
            budget = self.limit
            exhausted = False
            while True:
                if not self.stop.is_set() and not exhausted and inflight <= self.workers:
                    want = self.batch if budget is None else min(self.batch, budget)
                    tasks, taken = self._claim(want) if want > 0 else ([], 0)
                    exhausted = taken == 0
                    if budget is not None:
                        budget -= taken
                    for task in tasks:
                        pool.submit(self.send, task)
                        inflight += 1
                if inflight == 0 and (exhausted or self.stop.is_set()):
                    break
                inflight -= self._flush(0.05 if inflight else 0)
                self._progress()
        if self.stop_result is not None:
            r.status, r.exit_code, r.message = (
                "stopped",
                self.stop_result.exit_code,
                self.stop_result.message,
            )

    def _progress(self, every_s: float = PROGRESS_EVERY_S) -> None:
        now = time.monotonic()
        if now - self.last_progress < every_s:
            return
        self.last_progress = now
        r = self.result
        done = r.sent + r.linked + r.failed_permanent + r.failed_retryable
        self.on_event(
            f"{self.account}: {done} done (sent {r.sent}, linked {r.linked}, failed "
            f"{r.failed_permanent}, retryable {r.failed_retryable}), "
            f"{done / max(now - self.began, 1e-9):.1f} leads/s"
        )

    def _finish(self) -> None:
        r = self.result
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
    routes = routes or load_profiles()
    settings = settings or load_push_settings()
    own_client = client is None
    if client is None:
        acct = acct or config.load_account(name)
        client = HCPClient.from_account(acct)
    db = config.db_path(db_path)
    try:
        with duckdb_lock(db, on_wait=on_wait), connect(db, on_wait=on_wait) as con:
            outbox.ensure_schema(con)
            return _Push(con, client, name, routes, settings, route, limit, on_event).run()
    finally:
        if own_client:
            client.close()


def accounts_with_pending(db_path: str | Path | None = None) -> dict[str, int]:
    """Claimable leads per account, to tell the user about accounts that have no key."""
    with connect(config.db_path(db_path), read_only=True) as con:
        if not outbox.schema_exists(con):
            return {}
        rows = con.execute(
            f"SELECT {outbox.ACCOUNT_SQL}, count(*) FROM staging.leads "
            f"WHERE {outbox.CLAIMABLE_SQL} OR status = 'sending' GROUP BY 1"
        ).fetchall()
    return {str(a): int(n) for a, n in rows}


def main(argv: list[str] | None = None) -> int:
    """`python -m pipelines.leads.push [--db PATH] [--limit N] [--account A]`: the push alone.

    Lighter than the CLI (no other command is imported), for drills and subprocess tests;
    prints the result as JSON and exits with its exit code.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m pipelines.leads.push")
    parser.add_argument("--db", default=None)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--account", default="default")
    args = parser.parse_args(argv)
    result = push_leads(
        args.account,
        db_path=args.db,
        limit=args.limit,
        on_event=lambda m: print(m, file=sys.stderr, flush=True),
    )
    print(json.dumps(result.as_dict()))
    return result.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
