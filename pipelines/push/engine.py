"""The outbox engine every push uses: claim, send, reconcile, classify, record, exactly once.

One state machine for every object the reverse step writes (DESIGN.md, "Contract of the reverse
step"):

    pending --claim--> sending --send--> done (created, updated, sent, linked, ...)
                          |         '--> failed_retryable | failed_permanent (with the reason)
                          '--(run stopped: 401/403)--> back to what it was (requeued)
      claim = `sending` + attempts+1, committed BEFORE any request, so a crash leaves evidence.
      A row with evidence of an unanswered create is looked up in HCP by its natural key before
      it is ever created again (`create_exactly_once`).

What differs per object lives behind two small interfaces: a `Store` (the outbox tables: which
rows, and the SQL of each status change) and a `Worker` (mapping a row to a `Task`, and the HTTP
that takes a task to an `Outcome`). `Run` is the loop: it verifies the key, reconciles what a
killed run left in `sending`, claims in batches, hands tasks to sender threads and is the single
writer of what they report. It must never: send before the claim is committed, create a row with
evidence of an unanswered request without looking it up first, let a sender thread touch DuckDB,
or write the API key anywhere.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import duckdb

from pipelines.verify import result_for_error, verify_account
from sources.housecallpro.client import HCPClient
from sources.housecallpro.errors import (
    AuthError,
    HCPError,
    NotFound,
    PermissionDenied,
    TransportError,
    ValidationError,
)

PENDING = "pending"
SENDING = "sending"
FAILED_RETRYABLE = "failed_retryable"
FAILED_PERMANENT = "failed_permanent"
REQUEUE = "requeue"  # not a staging status: the run stopped, put the row back as it was
MAX_ROUNDS = 3  # creates per row per run when answers keep getting lost
PROGRESS_EVERY_S = 10.0


@dataclass
class Outcome:
    """What became of one row, for the writer to apply."""

    key: str
    status: str  # a staging status, or REQUEUE
    hcp_id: str | None = None
    reason: str | None = None
    posts: int = 0  # writes made (the claim counted the first)
    reconciled: bool = False  # found by a lookup after an unanswered create
    stop: Any = None  # a VerifyResult when HCP refused the key


class Row(Protocol):
    """A staged row as the engine sees it."""

    @property
    def key(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def evidence(self) -> bool: ...


@dataclass
class Task:
    """A row ready to send: prepared by the worker, claimed (or left in `sending`)."""

    row: Any  # the store's row type (a `Row`)
    job: Any  # the worker's own prepared request(s)
    reconcile_first: bool  # evidence of an unanswered create: look up before sending
    claimed: bool  # attempts was incremented by this run's claim

    @property
    def key(self) -> str:
        return str(self.row.key)


class Store(Protocol):
    """The outbox tables of one push: selections and every status change (no transactions:
    the run groups statements into its own)."""

    def left_sending(self) -> list[Any]: ...
    def claimable(self, n: int, failed_before: datetime) -> list[Any]: ...
    def claim(self, key: str) -> None: ...
    def restore(self, key: str, status: str, undo: int, posts: int) -> None: ...
    def settle(
        self, key: str, status: str, *, hcp_id: str | None, reason: str | None, posts: int
    ) -> None: ...
    def insert_attempts(self, rows: list[tuple[Any, ...]]) -> None: ...
    def start_run(self, run_id: str, started: datetime) -> None: ...
    def finish_run(self, result: Any) -> None: ...


class Worker(Protocol):
    """The object-specific half: prepare (on the writer thread) and send (on sender threads)."""

    stopped: threading.Event

    def prepare(self, row: Any, *, reconcile_first: bool, claimed: bool) -> Task | Outcome: ...
    def send(self, task: Task) -> Outcome: ...
    def record_attempt(self, exchange: Any) -> None: ...


class Result(Protocol):
    """What the run counts; `tally` is told each applied outcome's final status."""

    run_id: str
    account: str
    status: str
    exit_code: int
    message: str
    claimed: int
    requeued: int
    requests: int
    retries: int
    duration_s: float

    def tally(self, status: str, outcome: Outcome) -> None: ...
    def progress_line(self, per_s: float) -> str: ...


def new_run_id() -> str:
    return str(uuid.uuid4())


def gave_up(attempts: int, last_reason: str | None = None) -> str:
    """The `failed_permanent` reason of a row that reached `max_attempts`."""
    reason = f"gave up after {attempts} attempts"
    return f"{reason}: {last_reason}" if last_reason is not None else reason


# ====================================================================== failure classes


def stop_outcome(key: str, exc: HCPError, posts: int, client: HCPClient) -> Outcome:
    """HCP refused the key (401/403): the row goes back as it was and the run stops."""
    return Outcome(
        key, REQUEUE, posts=posts, stop=result_for_error(exc, client.base_url, client.account)
    )


def classify(
    key: str,
    exc: HCPError,
    posts: int,
    client: HCPClient,
    *,
    not_found: str | None = None,
) -> Outcome:
    """The outcome of a write HCP answered with an error (never an unknown outcome).

    401/403 stop the run (nothing was written); 422 is permanent (HCP's message and field); 404
    is permanent when `not_found` says what was missing (an unknown uuid), else retryable; a
    refused connection, 429 or 5xx after the client's retries are retryable.
    """
    if isinstance(exc, AuthError | PermissionDenied):
        return stop_outcome(key, exc, max(0, posts - 1), client)  # HCP wrote nothing
    if isinstance(exc, ValidationError):
        where = f" (field {exc.field})" if exc.field else ""
        return Outcome(
            key, FAILED_PERMANENT, reason=f"HCP refused it: {exc.message}{where}", posts=posts
        )
    if isinstance(exc, NotFound) and not_found:
        return Outcome(key, FAILED_PERMANENT, reason=f"{not_found}: {exc.message}", posts=posts)
    if isinstance(exc, TransportError):
        return Outcome(key, FAILED_RETRYABLE, reason=f"HCP unreachable: {exc.message}", posts=posts)
    return Outcome(key, FAILED_RETRYABLE, reason=str(exc), posts=posts)


Lookup = Callable[[str, int, str], "dict[str, Any] | Outcome | None"]
"""(kind, posts so far, why) -> the record HCP has for the row's natural key, None, or the
outcome of a lookup that failed (`lookup_outcome` builds it)."""


def lookup_outcome(key: str, exc: HCPError, posts: int, why: str, client: HCPClient) -> Outcome:
    """A failed lookup: a refused key stops the run; anything else leaves the row retryable
    ("<why>: <error>"), because creating again without knowing could make a second one."""
    if isinstance(exc, AuthError | PermissionDenied):
        return stop_outcome(key, exc, posts, client)
    return Outcome(key, FAILED_RETRYABLE, reason=f"{why}: {exc}", posts=posts)


def create_exactly_once(
    key: str,
    *,
    stopped: threading.Event,
    **kw: Any,
) -> Outcome:
    """`_create_rounds` (below); a refused key also stops every other sender of the run."""
    outcome = _create_rounds(key, stopped=stopped, **kw)
    if outcome.stop is not None:
        stopped.set()
    return outcome


def _create_rounds(
    key: str,
    *,
    client: HCPClient,
    stopped: threading.Event,
    unanswered: bool,
    lookup: Lookup,
    create: Callable[[], Any],
    done: str,
    id_of: Callable[[Any], str | None],
    before_create: Callable[[], Outcome | None] | None = None,
    on_duplicate: Callable[[ValidationError, bool, int], Outcome | None] | None = None,
    not_found: str | None = None,
    noun: str = "record",
) -> Outcome:
    """Create one record at most once, whatever answers get lost.

    With evidence of an unanswered create (`unanswered`), the record is looked up by its natural
    key first, and a match is taken as the row's own record (`done`, reconciled). Otherwise
    `before_create` may settle the row (a record that already exists: link or skip), then the
    create is sent; an answer that never comes makes the next round look up first. A 422 goes to
    `on_duplicate` (None: classify it) so a duplicate after a lost answer can be reconciled.
    Never raises for an HCP error: the outcome says what happened.
    """
    posts = 0
    last_reason = "no answer from HCP"
    for _ in range(MAX_ROUNDS):
        if stopped.is_set():
            return Outcome(key, REQUEUE, posts=posts)
        if unanswered:
            # The match may be our own lost create or a record HCP had before: either way
            # creating again could make a second one, so it is the row's record.
            found = lookup(
                "reconcile", posts, f"could not look the {noun} up after an unanswered request"
            )
            if isinstance(found, Outcome):
                return found
            if found:
                return Outcome(key, done, id_of(found), posts=posts, reconciled=True)
        elif posts == 0 and before_create is not None:
            settled = before_create()
            if settled is not None:
                return settled
        posts += 1
        try:
            body = create()
        except ValidationError as exc:
            if on_duplicate is not None:
                handled = on_duplicate(exc, unanswered, posts)
                if handled is not None:
                    return handled
            return classify(key, exc, posts, client, not_found=not_found)
        except TransportError as exc:
            if not exc.outcome_unknown:
                return classify(key, exc, posts, client)
            unanswered, last_reason = True, exc.message
            continue
        except HCPError as exc:  # 401/403, 404, 429/5xx after the client's retries, other
            return classify(key, exc, posts, client, not_found=not_found)
        hcp_id = id_of(body)
        if not hcp_id:
            return Outcome(key, done, None, reason=f"HCP answered without a {noun} id", posts=posts)
        return Outcome(key, done, hcp_id, posts=posts)
    return Outcome(
        key,
        FAILED_RETRYABLE,
        reason=f"no answer after {MAX_ROUNDS} tries ({last_reason}); looked up first on the next run",
        posts=posts,
    )


# ====================================================================== the run loop


class Progress:
    """What the run tells the user (`on_event`): milestones, and a count at most every
    `PROGRESS_EVERY_S`, so a long run is not silent and a short one is not noisy."""

    def __init__(self, account: str, on_event: Callable[[str], None] | None) -> None:
        self.account = account
        self.on_event = on_event or (lambda _m: None)
        self.began = self.last = time.monotonic()

    def say(self, message: str) -> None:
        self.on_event(f"{self.account}: {message}")

    def tick(self, r: Result, every_s: float = PROGRESS_EVERY_S) -> None:
        now = time.monotonic()
        if now - self.last < every_s:
            return
        self.last = now
        self.say(r.progress_line(max(now - self.began, 1e-9)))


class Run:
    """One push run for one account, on the thread that owns the DuckDB connection.

    It selects and claims rows, submits them to the sender threads and is the single writer of
    what they report (attempt rows and outcomes, via `events`), one transaction per flush.
    DuckDB connections must not be shared across threads, and one writer keeps each row's claim,
    attempts and outcome in order. Every write goes through the `Store`.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        client: HCPClient,
        store: Store,
        worker: Worker,
        result: Result,
        *,
        max_attempts: int,
        limit: int | None,
        verify_tag: Any,
        events: queue.Queue[tuple[str, Any]],
        on_event: Callable[[str], None] | None,
        on_finish: Callable[[], None] | None = None,
    ) -> None:
        self.con = con
        self.client = client
        self.store = store
        self.worker = worker
        self.result = result
        self.max_attempts = max_attempts
        self.limit = limit
        self.verify_tag = verify_tag
        self.events = events  # the worker's attempt rows land here too
        self.on_finish = on_finish
        self.started = datetime.now(UTC)
        self.tasks: dict[str, Task] = {}  # sent and not yet applied, by key
        self.stop_result: Any = None  # verify's verdict when HCP refused the key
        self.progress = Progress(result.account, on_event)

    def run(self) -> Result:
        r = self.result
        self.store.start_run(r.run_id, self.started)
        before = self.client.stats.snapshot()
        clock = time.perf_counter()
        try:
            with self.client.observing(self.worker.record_attempt):
                self._run()
        except Exception as exc:
            r.status, r.exit_code, r.message = "error", 1, f"{type(exc).__name__}: {exc}"
            raise
        finally:
            after = self.client.stats.snapshot()
            r.requests = after["requests"] - before["requests"]
            r.retries = after["retries"] - before["retries"]
            r.duration_s = time.perf_counter() - clock
            if self.on_finish is not None:
                self.on_finish()
            self._flush(0)
            self.store.finish_run(r)
        return r

    def _run(self) -> None:
        r = self.result
        verdict = verify_account(self.client, tag=self.verify_tag)
        self._flush(0)
        if not verdict.ok:
            r.status, r.exit_code, r.message = "stopped", verdict.exit_code, verdict.message
            return
        self.progress.say(verdict.message)
        stopped = self.worker.stopped
        workers = max(1, int(getattr(self.client, "concurrency", 4)))
        batch = max(2 * workers, 8)
        leftovers = self.store.left_sending()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hcp-push") as pool:
            inflight = 0
            for row in leftovers:  # first thing: reconcile what a killed run left
                prepared = self.worker.prepare(row, reconcile_first=True, claimed=False)
                if isinstance(prepared, Outcome):
                    if prepared.status == REQUEUE:  # stopping: it stays `sending` for next time
                        self.stop_result = self.stop_result or prepared.stop
                        break
                    self._apply_outcome(prepared)
                    continue
                self.tasks[prepared.key] = prepared
                pool.submit(self._send, prepared)
                inflight += 1
            if leftovers:
                self.progress.say(f"reconciling {len(leftovers)} row(s) left in 'sending'")
            budget = self.limit
            exhausted = False
            while True:
                if not stopped.is_set() and not exhausted and inflight <= workers:
                    want = batch if budget is None else min(batch, budget)
                    tasks, taken = self._claim(want) if want > 0 else ([], 0)
                    exhausted = taken == 0
                    if budget is not None:
                        budget -= taken
                    for task in tasks:
                        pool.submit(self._send, task)
                        inflight += 1
                if inflight == 0 and (exhausted or stopped.is_set()):
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
        self.events.put(("outcome", self.worker.send(task)))

    def _claim(self, n: int) -> tuple[list[Task], int]:
        """Claim up to `n` rows: `sending` + attempts, committed before any of them is sent.

        Returns the tasks to send and how many rows were taken (some fail before sending).
        """
        rows = self.store.claimable(n, self.started)
        tasks: list[Task] = []
        outcomes: list[Outcome] = []
        for row in rows:
            if self.worker.stopped.is_set():
                break  # HCP refused the key while preparing: leave the rest untouched
            if row.attempts >= self.max_attempts:
                outcomes.append(Outcome(row.key, FAILED_PERMANENT, reason=gave_up(row.attempts)))
                continue
            prepared = self.worker.prepare(row, reconcile_first=row.evidence, claimed=True)
            if isinstance(prepared, Task):
                tasks.append(prepared)
            else:
                outcomes.append(prepared)
        self.con.execute("BEGIN TRANSACTION")
        for t in tasks:
            self.store.claim(t.key)
        for o in outcomes:  # rows settled before sending (invalid, gave up, unchanged, ...)
            self._apply_outcome(o)
        self.con.execute("COMMIT")
        for t in tasks:
            self.tasks[t.key] = t
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
        self.store.insert_attempts(attempts)
        for outcome in outcomes:
            task = self.tasks.pop(outcome.key, None)
            self._apply_outcome(outcome, task)
        self.con.execute("COMMIT")
        return len(outcomes)

    def _apply_outcome(self, o: Outcome, task: Task | None = None) -> None:
        """Write one row's outcome (inside the caller's transaction) and count it."""
        r = self.result
        if o.stop is not None and self.stop_result is None:
            self.stop_result = o.stop
        extra_posts = max(0, o.posts - 1) if task and task.claimed else o.posts
        status, reason = o.status, o.reason
        if status == REQUEUE:
            r.requeued += 1
            restore = task.row.status if task else PENDING
            restore = SENDING if restore == SENDING else PENDING
            undo = 1 if task and task.claimed and o.posts == 0 else 0
            self.store.restore(o.key, restore, undo, extra_posts if o.posts else 0)
            return
        if status == FAILED_RETRYABLE and task is not None:
            total = task.row.attempts + (1 if task.claimed else 0) + extra_posts
            if total >= self.max_attempts:
                status, reason = FAILED_PERMANENT, gave_up(total, reason)
        r.tally(status, o)
        self.store.settle(o.key, status, hcp_id=o.hcp_id, reason=reason, posts=extra_posts)
