"""The object push's worker for the outbox engine: one staged row -> one `Outcome`.

`prepare` runs on the writer thread: it builds the row's request (`mapping`) and, for an update,
diffs it against the synced raw table (`diff`): nothing to change is `unchanged` and nothing is
sent. `send` runs on the sender threads and does HTTP only: a create goes through the engine's
`create_exactly_once` with this object's natural-key lookup (`hcp.Finder`); an update is a PUT,
which HCP applies idempotently, so an unanswered PUT may simply be sent again (the client does).
It never touches DuckDB; attempt rows go to `on_attempt`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pipelines.push.diff import Differ
from pipelines.push.engine import (
    FAILED_PERMANENT,
    REQUEUE,
    SENDING,
    Outcome,
    Task,
    classify,
    create_exactly_once,
    lookup_outcome,
)
from pipelines.push.hcp import Finder, PushTag, record_id
from pipelines.push.mapping import InvalidRow, Request, build_request
from pipelines.push.objects import PushObject
from pipelines.push.rows import CREATED, LINKED, UNCHANGED, UPDATED, PushRow
from sources.housecallpro.client import Exchange, HCPClient
from sources.housecallpro.errors import AuthError, HCPError, PermissionDenied, ValidationError

TAKEN = ("already been taken", "already exists", "duplicate")  # HCP's 422 for a name in use


def _not_found(request: Request) -> str:
    obj = request.obj
    if request.is_create:
        if obj.scope:
            return f"HCP has no {obj.scope.removesuffix('_uuid').replace('_', ' ')} {request.body.get(obj.scope)!r}"
        if obj.name == "leads" and request.body.get("customer_id"):
            return f"HCP has no customer {request.body['customer_id']!r}"
        return f"HCP could not find what the {obj.noun} refers to"
    return f"HCP has no {obj.noun} {request.target!r}"


class ObjectWorker:
    """Takes one object's rows to outcomes for one run; shared by the sender threads."""

    def __init__(
        self,
        client: HCPClient,
        obj: PushObject,
        differ: Differ,
        *,
        run_id: str,
        account: str,
        on_attempt: Callable[[tuple[Any, ...]], None],
    ) -> None:
        self.client = client
        self.obj = obj
        self.differ = differ
        self.run_id = run_id
        self.account = account
        self.on_attempt = on_attempt
        self.finder = Finder(client)
        self.stopped = threading.Event()

    def record_attempt(self, exchange: Exchange) -> None:
        tag = exchange.tag if isinstance(exchange.tag, PushTag) else PushTag("other")
        self.on_attempt(
            (
                self.run_id,
                self.obj.name,
                tag.key,
                self.account,
                datetime.now(UTC),
                tag.kind,
                exchange.method,
                exchange.path,
                exchange.status,
                exchange.message or None,
                round(exchange.elapsed_s * 1000, 1),
            )
        )

    def prepare(self, row: PushRow, *, reconcile_first: bool, claimed: bool) -> Task | Outcome:
        try:
            request = build_request(row.object, row.operation, row.target, row.fields)
        except InvalidRow as exc:
            return Outcome(row.key, FAILED_PERMANENT, reason=exc.reason)
        if not request.is_create and request.target:
            changes = self.differ.changes(request.target, request.body)
            if changes == {}:
                return Outcome(row.key, UNCHANGED, request.target)
        return Task(row, request, reconcile_first, claimed)

    def send(self, task: Task) -> Outcome:
        """One row to an outcome; never raises (a bug keeps the row `sending`, reconciled next)."""
        try:
            if task.job.is_create:
                with self.finder.key_lock(self.obj, task.job):
                    return self._create(task)
            return self._update(task)
        except Exception as exc:  # noqa: BLE001 - a bug must not lose the row
            return Outcome(
                task.key,
                SENDING,
                reason=f"internal error ({type(exc).__name__}: {exc}); reconciled on the next run",
            )

    def _find(self, task: Task, kind: str, posts: int, why: str, *, fresh: bool) -> Any:
        try:
            return self.finder.find(task.job, PushTag(kind, task.key), fresh=fresh)
        except HCPError as exc:
            if isinstance(exc, AuthError | PermissionDenied):
                self.stopped.set()
            return lookup_outcome(task.key, exc, posts, why, self.client)

    def _create(self, task: Task) -> Outcome:
        request: Request = task.job
        obj = self.obj

        def before_create() -> Outcome | None:
            if not obj.link_existing:
                return None
            found = self._find(
                task,
                "lookup",
                0,
                f"could not look the {obj.noun} up before creating it",
                fresh=False,
            )
            if isinstance(found, Outcome) or not found:
                return found
            return Outcome(task.key, LINKED, record_id(obj, found))

        def on_duplicate(exc: ValidationError, unanswered: bool, posts: int) -> Outcome | None:
            if not any(t in exc.message.lower() for t in TAKEN):
                return None
            # the name is in use: ours after a lost answer, else a record HCP had already
            found = self._find(
                task, "reconcile", posts, f"{obj.noun} name in use, lookup failed", fresh=True
            )
            if isinstance(found, Outcome):
                return found
            if found:
                status = CREATED if unanswered else LINKED
                return Outcome(
                    task.key, status, record_id(obj, found), posts=posts, reconciled=unanswered
                )
            return None

        def create() -> Any:
            record = self.client.post(
                request.path,
                request.body,
                params=request.query or None,
                tag=PushTag("create", task.key),
            )
            if isinstance(record, dict):
                self.finder.remember(request, record)
            return record

        return create_exactly_once(
            task.key,
            client=self.client,
            stopped=self.stopped,
            unanswered=task.reconcile_first,
            lookup=lambda kind, posts, why: self._find(task, kind, posts, why, fresh=True),
            create=create,
            done=CREATED,
            id_of=lambda body: record_id(obj, body),
            before_create=before_create,
            on_duplicate=on_duplicate,
            not_found=_not_found(request),
            noun=obj.noun,
        )

    def _update(self, task: Task) -> Outcome:
        request: Request = task.job
        if self.stopped.is_set():
            return Outcome(task.key, REQUEUE)
        try:
            self.client.put(request.path, request.body, tag=PushTag("update", task.key))
        except HCPError as exc:
            outcome = classify(task.key, exc, 1, self.client, not_found=_not_found(request))
            if outcome.stop is not None:
                self.stopped.set()
            return outcome
        return Outcome(task.key, UPDATED, request.target, posts=1)
