"""The HTTP half of the push: one claimed lead -> one `Outcome`, exactly once.

A `Sender` runs on the push's sender threads. Unless the lead's route says
`on_existing = "create"`, it first looks the customer up (email, else phone: `find_customer`)
and, when HCP already has one, links (`linked`) or skips (`skipped`) the lead instead of creating
a second customer, because live HCP accepts duplicate emails. Otherwise it POSTs the customer
and, whenever an earlier POST of the lead may have reached HCP (no answer, a kill, a duplicate
after no answer), looks the customer up before sending again (DESIGN.md, "Contract of the
reverse step"); a match then is taken as the lead's own customer (`sent`), in every mode. It never
touches DuckDB: it returns outcomes and hands attempt rows to a callback, and the run's single
writer thread applies both. It never decides a lead's bookkeeping (attempt counts, "gave up"):
the writer does, from the outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pipelines.leads.hcp import AttemptTag, LeadSources, find_customer
from pipelines.leads.mapping import MappedLead
from pipelines.leads.outbox import (
    FAILED_PERMANENT,
    FAILED_RETRYABLE,
    LINKED,
    SENDING,
    SENT,
    SKIPPED,
    LeadRow,
)
from pipelines.verify import result_for_error
from sources.housecallpro.client import Exchange, HCPClient
from sources.housecallpro.errors import (
    AuthError,
    DuplicateCustomer,
    HCPError,
    PermissionDenied,
    TransportError,
    ValidationError,
)

MAX_ROUNDS = 3  # POSTs per lead per run when answers keep getting lost
REQUEUE = "requeue"  # not a staging status: the run stopped, put the lead back as it was


@dataclass
class Task:
    """A lead ready to send: mapped, its Lead Source resolved, claimed (or left in `sending`)."""

    row: LeadRow
    mapped: MappedLead
    original_status: str  # what a requeue restores
    reconcile_first: bool  # evidence of an unanswered POST: look up before sending
    claimed: bool  # attempts was incremented by this run's claim
    on_existing: str  # the route's "create" | "link" | "skip" (mapping.ON_EXISTING)


@dataclass
class Outcome:
    """What became of one lead, for the writer to apply."""

    lead_id: str
    status: str  # a staging status, or REQUEUE
    customer_id: str | None = None
    reason: str | None = None
    posts: int = 0  # POSTs made (the claim counted the first)
    reconciled: bool = False
    stop: Any = None  # a VerifyResult when HCP refused the key


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
    ) -> None:
        self.client = client
        self.run_id = run_id
        self.account = account
        self.on_duplicate = on_duplicate  # "fail" | "link"
        self.on_attempt = on_attempt
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
                task.row.lead.lead_id,
                SENDING,
                reason=f"internal error ({type(exc).__name__}: {exc}); reconciled on the next run",
            )

    def _lookup(
        self, task: Task, kind: str, posts: int, why: str
    ) -> dict[str, Any] | Outcome | None:
        """The customer HCP has for the lead, or None; an `Outcome` when the lookup itself
        fails: a refused key stops the run, anything else leaves the lead `failed_retryable`
        ("<why>: <error>"), because sending again without knowing could create a second one."""
        m = task.mapped
        lead_id = task.row.lead.lead_id
        try:
            return find_customer(
                self.client, m.email, m.phone, m.payload, tag=AttemptTag(kind, lead_id)
            )
        except (AuthError, PermissionDenied) as exc:
            return self._stop(lead_id, exc, posts)
        except HCPError as exc:
            return Outcome(lead_id, FAILED_RETRYABLE, reason=f"{why}: {exc}", posts=posts)

    def _send(self, task: Task) -> Outcome:
        lead_id = task.row.lead.lead_id
        unanswered = task.reconcile_first
        posts = 0
        create_tag = AttemptTag("create", lead_id, "; ".join(task.mapped.dropped) or None)
        last_reason = "no answer from HCP"
        for _ in range(MAX_ROUNDS):
            if self.stopped.is_set():
                return Outcome(lead_id, REQUEUE, posts=posts)
            if unanswered:
                # The match may be our own lost POST or a customer HCP had before (possible in
                # `create` mode): either way sending again could make a second one, so it is
                # the lead's customer.
                found = self._lookup(
                    task,
                    "reconcile",
                    posts,
                    "could not look the customer up after an unanswered request",
                )
                if isinstance(found, Outcome):
                    return found
                if found:
                    return Outcome(
                        lead_id, SENT, str(found.get("id")), posts=posts, reconciled=True
                    )
            elif posts == 0 and task.on_existing != "create":
                found = self._lookup(
                    task, "lookup", posts, "could not look the customer up before creating it"
                )
                if isinstance(found, Outcome):
                    return found
                if found:
                    status = LINKED if task.on_existing == "link" else SKIPPED
                    return Outcome(lead_id, status, str(found.get("id")))
            posts += 1
            try:
                body = self.client.post("/customers", task.mapped.payload, tag=create_tag)
            except DuplicateCustomer as exc:
                return self._duplicate(task, exc, unanswered, posts)
            except ValidationError as exc:
                where = f" (field {exc.field})" if exc.field else ""
                return Outcome(
                    lead_id,
                    FAILED_PERMANENT,
                    reason=f"HCP refused it: {exc.message}{where}",
                    posts=posts,
                )
            except (AuthError, PermissionDenied) as exc:
                return self._stop(lead_id, exc, posts - 1)  # HCP created nothing
            except TransportError as exc:
                if not exc.outcome_unknown:
                    return Outcome(
                        lead_id,
                        FAILED_RETRYABLE,
                        reason=f"HCP unreachable: {exc.message}",
                        posts=posts,
                    )
                unanswered, last_reason = True, exc.message
                continue
            except HCPError as exc:  # 429/5xx after the client's retries, 404, other
                return Outcome(lead_id, FAILED_RETRYABLE, reason=str(exc), posts=posts)
            customer_id = body.get("id") if isinstance(body, dict) else None
            if not customer_id:
                return Outcome(
                    lead_id, SENT, None, reason="HCP answered without a customer id", posts=posts
                )
            return Outcome(lead_id, SENT, str(customer_id), posts=posts)
        return Outcome(
            lead_id,
            FAILED_RETRYABLE,
            reason=f"no answer after {MAX_ROUNDS} tries ({last_reason}); looked up first on the next run",
            posts=posts,
        )

    def _duplicate(
        self, task: Task, exc: DuplicateCustomer, unanswered: bool, posts: int
    ) -> Outcome:
        """A 422 duplicate: our own earlier POST after no answer (reconcile), else per
        `on_duplicate`, fail or link the existing customer."""
        lead_id = task.row.lead.lead_id
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
        m = task.mapped
        try:
            found = find_customer(
                self.client,
                m.email,
                m.phone,
                m.payload,
                tag=AttemptTag("lookup", task.row.lead.lead_id),
            )
        except HCPError:
            found = None  # the search only names the customer; the lead fails either way
        if found:
            name = " ".join(str(found[k]) for k in ("first_name", "last_name") if found.get(k))
            who = f"HCP already has customer {found.get('id')}" + (f" ({name})" if name else "")
        else:
            who = "HCP already has a customer with this email or phone (its search did not find it)"
        if task.on_existing == "create":
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
        return Outcome(
            lead_id,
            REQUEUE,
            posts=posts,
            stop=result_for_error(exc, self.client.base_url, self.client.account),
        )
