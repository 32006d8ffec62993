"""The lead push's worker for the outbox engine: one claimed lead -> one `Outcome`, exactly once.

A `Sender` runs on the push's sender threads. Unless the lead's route says
`on_existing = "create"`, it first looks the customer up (email, else phone: `find_customer`)
and, when HCP already has one, links (`linked`) or skips (`skipped`) the lead instead of creating
a second customer, because live HCP accepts duplicate emails. Otherwise it POSTs the customer
and, whenever an earlier POST of the lead may have reached HCP (no answer, a kill, a duplicate
after no answer), looks the customer up before sending again (DESIGN.md, "Contract of the
reverse step"); a match then is taken as the lead's own customer (`sent`), in every mode. It never
touches DuckDB: it returns outcomes and hands attempt rows to a callback, and the run's single
writer thread applies both. It never decides a lead's bookkeeping (attempt counts, "gave up"):
the writer does, from the outcome. The rounds of a create (lost answers, reconciling, failure
classes) are the engine's (`pipelines/push/engine.create_exactly_once`); what is the lead's own
is here: the mapping, the Lead Source, the customer search, link or skip, and the duplicate rule.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pipelines.leads.hcp import AttemptTag, LeadSources, find_customer
from pipelines.leads.mapping import InvalidLead, MappedLead
from pipelines.leads.outbox import (
    FAILED_PERMANENT,
    FAILED_RETRYABLE,
    LINKED,
    SENDING,
    SENT,
    SKIPPED,
    LeadRow,
)
from pipelines.leads.profiles import ProfileBook
from pipelines.push.engine import (
    REQUEUE,
    Outcome,
    Task,
    create_exactly_once,
    lookup_outcome,
    stop_outcome,
)
from sources.housecallpro.client import Exchange, HCPClient
from sources.housecallpro.errors import (
    AuthError,
    DuplicateCustomer,
    HCPError,
    PermissionDenied,
    ValidationError,
)

__all__ = ["REQUEUE", "LeadJob", "Outcome", "Sender", "Task"]


@dataclass(frozen=True)
class LeadJob:
    """What a lead's `Task` carries: the mapped lead and its route's rule for a match."""

    mapped: MappedLead
    on_existing: str  # the route's "create" | "link" | "skip" (mapping.ON_EXISTING)


class Sender:
    """Takes leads to outcomes over HTTP for one run; shared by the sender threads.

    A refused key (401/403) sets `stopped`, so every thread stops sending with it and the run
    requeues what is left. Every request is tagged, and `record_attempt` (a client observer)
    turns it into a `staging.lead_attempts` row for `on_attempt`.
    """

    def __init__(
        self,
        client: HCPClient,
        *,
        run_id: str,
        account: str,
        on_duplicate: str,
        on_attempt: Callable[[tuple[Any, ...]], None],
        profiles: ProfileBook | None = None,
    ) -> None:
        self.client = client
        self.run_id = run_id
        self.account = account
        self.on_duplicate = on_duplicate  # "fail" | "link"
        self.on_attempt = on_attempt
        self.profiles = profiles
        self.lead_sources = LeadSources(client)
        self.stopped = threading.Event()

    def record_attempt(self, exchange: Exchange) -> None:
        """Client observer: every request of the run becomes a `staging.lead_attempts` row."""
        tag = exchange.tag if isinstance(exchange.tag, AttemptTag) else AttemptTag("other")
        self.on_attempt(
            (
                self.run_id,
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
        )

    def prepare(self, row: LeadRow, *, reconcile_first: bool, claimed: bool) -> Task | Outcome:
        """Map a lead and make sure its Lead Source exists; an outcome when it cannot be sent."""
        assert self.profiles is not None, "a Sender that prepares leads needs their profiles"
        lead_id = row.lead.lead_id
        try:
            mapped = self.profiles.map(row.lead)
        except InvalidLead as exc:
            return Outcome(lead_id, FAILED_PERMANENT, reason=exc.reason)
        ready = self.with_lead_source(lead_id, mapped)
        if isinstance(ready, Outcome):
            return ready
        on_existing = self.profiles.get(row.lead.route).on_existing
        return Task(row, LeadJob(ready, on_existing), reconcile_first, claimed)

    def with_lead_source(self, lead_id: str, mapped: MappedLead) -> MappedLead | Outcome:
        """`mapped` with HCP's spelling of its Lead Source (created when missing), or the
        outcome of a lead that cannot be sent now."""
        source = mapped.payload.get("lead_source")
        if not source:
            return mapped
        try:
            actual = self.lead_sources.resolve(str(source))
        except (AuthError, PermissionDenied) as exc:
            return self._stop(lead_id, exc, 0)
        except HCPError as exc:
            return Outcome(lead_id, FAILED_RETRYABLE, reason=str(exc))
        if actual != source:
            return replace(mapped, payload={**mapped.payload, "lead_source": actual})
        return mapped

    def send(self, task: Task) -> Outcome:
        """Process one lead to an outcome; never raises (the outcome says what happened)."""
        try:
            return self._send(task)
        except Exception as exc:  # noqa: BLE001 - a bug must not lose the lead: keep it `sending`
            return Outcome(
                task.key,
                SENDING,
                reason=f"internal error ({type(exc).__name__}: {exc}); reconciled on the next run",
            )

    def _lookup(
        self, task: Task, kind: str, posts: int, why: str
    ) -> dict[str, Any] | Outcome | None:
        """The customer HCP has for the lead, or None; an `Outcome` when the lookup fails."""
        m = task.job.mapped
        try:
            return find_customer(
                self.client, m.email, m.phone, m.payload, tag=AttemptTag(kind, task.key)
            )
        except HCPError as exc:
            if isinstance(exc, AuthError | PermissionDenied):
                self.stopped.set()
            return lookup_outcome(task.key, exc, posts, why, self.client)

    def _send(self, task: Task) -> Outcome:
        job: LeadJob = task.job
        lead_id = task.key
        create_tag = AttemptTag("create", lead_id, "; ".join(job.mapped.dropped) or None)

        def before_create() -> Outcome | None:
            if job.on_existing == "create":
                return None
            found = self._lookup(
                task, "lookup", 0, "could not look the customer up before creating it"
            )
            if isinstance(found, Outcome) or not found:
                return found
            status = LINKED if job.on_existing == "link" else SKIPPED
            return Outcome(lead_id, status, str(found.get("id")))

        def on_duplicate(exc: ValidationError, unanswered: bool, posts: int) -> Outcome | None:
            if isinstance(exc, DuplicateCustomer):
                return self._duplicate(task, exc, unanswered, posts)
            return None

        return create_exactly_once(
            lead_id,
            client=self.client,
            stopped=self.stopped,
            unanswered=task.reconcile_first,
            lookup=lambda kind, posts, why: self._lookup(task, kind, posts, why),
            create=lambda: self.client.post("/customers", job.mapped.payload, tag=create_tag),
            done=SENT,
            id_of=lambda body: (
                str(body["id"]) if isinstance(body, dict) and body.get("id") else None
            ),
            before_create=before_create,
            on_duplicate=on_duplicate,
            noun="customer",
        )

    def _duplicate(
        self, task: Task, exc: DuplicateCustomer, unanswered: bool, posts: int
    ) -> Outcome:
        """A 422 duplicate: our own earlier POST after no answer (reconcile), else per
        `on_duplicate`, fail or link the existing customer."""
        lead_id = task.key
        if not unanswered and self.on_duplicate == "fail":
            return Outcome(
                lead_id, FAILED_PERMANENT, reason=self._duplicate_reason(task, exc), posts=posts
            )
        kind = "reconcile" if unanswered else "link"
        found = self._lookup(task, kind, posts, "duplicate customer, lookup failed")
        if isinstance(found, Outcome):
            return found
        if unanswered:
            if found:
                return Outcome(lead_id, SENT, str(found.get("id")), posts=posts, reconciled=True)
            return Outcome(
                lead_id,
                FAILED_RETRYABLE,
                reason="HCP says duplicate after an unanswered request, but no customer matches yet",
                posts=posts,
            )
        if found:
            return Outcome(lead_id, LINKED, str(found.get("id")), posts=posts)
        return Outcome(
            lead_id,
            FAILED_PERMANENT,
            reason=f"duplicate customer: {exc.message}; no exact match found to link",
            posts=posts,
        )

    def _duplicate_reason(self, task: Task, exc: DuplicateCustomer) -> str:
        """Why a duplicate failed, naming the customer HCP already has (one search) and the
        setting that would link such leads instead of failing them."""
        m = task.job.mapped
        try:
            found = find_customer(
                self.client, m.email, m.phone, m.payload, tag=AttemptTag("lookup", task.key)
            )
        except HCPError:
            found = None  # the search only names the customer; the lead fails either way
        if found:
            name = " ".join(str(found[k]) for k in ("first_name", "last_name") if found.get(k))
            who = f"HCP already has customer {found.get('id')}" + (f" ({name})" if name else "")
        else:
            who = "HCP already has a customer with this email or phone (its search did not find it)"
        if task.job.on_existing == "create":
            fix = (
                'set on_existing = "link" on the lead\'s route (leads_routes.toml) to link leads '
                "to the customers HCP already has"
            )
        else:
            fix = 'set on_duplicate = "link" under [sources.housecallpro.leads] to link such leads'
        return f"duplicate customer: {exc.message}; {who}; {fix}"

    def _stop(self, lead_id: str, exc: HCPError, posts: int) -> Outcome:
        """HCP refused the key: stop every sender; the lead goes back as it was."""
        self.stopped.set()
        return stop_outcome(lead_id, exc, posts, self.client)
