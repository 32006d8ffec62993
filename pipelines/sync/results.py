"""What a sync did: per-object figures, the account's outcome, and the words `hcp sync` prints.

`collect` turns the read's own figures (the tracker's pages, rows, status; the counter's
requests) into final per-object outcomes once extract and load have ended. Must never: call a
read ok whose read-from table failed (materials without all their categories are incomplete), or
word a failure so a user would not know that rerunning `hcp sync` finishes the job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pipelines.verify import EXIT_OK, EXIT_OTHER
from sources.housecallpro.helpers import ObjectReport, ReadTracker, RequestCounter
from sources.housecallpro.settings import BY_TABLE


@dataclass
class ObjectResult:
    """One object's outcome in a sync: the figures of the summary table."""

    table: str
    status: str  # ok | skipped | failed | not run
    mode: str = ""
    rows: int = 0
    pages: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "skipped")


@dataclass
class SyncResult:
    """A sync of one account: per-object results, the exit code `hcp sync` uses, one message."""

    account: str
    ok: bool
    exit_code: int
    message: str
    objects: dict[str, ObjectResult] = field(default_factory=dict)
    seconds: float = 0.0
    requests: int = 0
    company_name: str | None = None
    pipeline_name: str = ""
    deleted: dict[str, int] = field(default_factory=dict)
    """Records newly flagged `_hcp_deleted_at` in this run, per table."""

    @property
    def failed(self) -> list[ObjectResult]:
        return [o for o in self.objects.values() if o.status == "failed"]

    @property
    def skipped(self) -> list[ObjectResult]:
        return [o for o in self.objects.values() if o.status == "skipped"]


def collect(
    result: SyncResult,
    tracker: ReadTracker,
    counter: RequestCounter,
    selected: list[str],
    step_error: str | None,
) -> None:
    """Per-object figures from the tracker (pages, rows, status) and the counter (requests)."""
    tables = list(selected) + [t for t in tracker.reports if t not in selected]
    for table in tables:
        rep = tracker.reports.get(table) or ObjectReport(table)
        count = counter.get(table)
        status = rep.status
        if status in ("running", "pending"):
            # transformers have no end-of-read hook; a clean extract means they finished
            status = "failed" if step_error else ("ok" if rep.started is not None else "not run")
        error = rep.error or (step_error if status == "failed" else None)
        parent = BY_TABLE[table].read_from if table in BY_TABLE else None
        if (
            status == "ok"
            and BY_TABLE.get(table) is not None
            and BY_TABLE[table].strategy == "per_parent"
            and parent
            and tracker.reports.get(parent)
            and tracker.reports[parent].status == "failed"
        ):
            status, error = "failed", f"incomplete: parent {parent} failed"
        retries = count.retries - (1 if status == "failed" and count.retries else 0)
        result.objects[table] = ObjectResult(
            table=table,
            status=status,
            mode=rep.mode,
            rows=rep.rows,
            pages=rep.pages,
            requests=count.requests,
            retries=max(0, retries),
            rate_limited=count.rate_limited,
            seconds=rep.seconds,
            error=error,
        )
    failed = result.failed
    if step_error and not failed:
        result.message = step_error
    elif failed:
        names = ", ".join(o.table for o in failed)
        result.message = (
            f"{len(failed)} object(s) failed: {names}. Objects that succeeded are loaded; "
            "failed ones kept their cursor, so running `hcp sync` again finishes the job."
        )
    else:
        rows = sum(o.rows for o in result.objects.values())
        result.message = f"Synced {len(result.objects)} objects, {rows} rows."
    result.ok = not failed and step_error is None
    result.exit_code = EXIT_OK if result.ok else EXIT_OTHER


def summarize(results: Sequence[SyncResult]) -> tuple[int, str]:
    """(exit code, one line) for several accounts: 0 when all succeeded, else the first failed
    account's code, and the line names every failed account."""
    failed = [r for r in results if not r.ok]
    if not failed:
        return EXIT_OK, f"{len(results)} account(s) synced: {', '.join(r.account for r in results)}"
    names = ", ".join(r.account for r in failed)  # each one's reason was printed with it
    ok = [r.account for r in results if r.ok]
    line = f"{len(failed)} of {len(results)} account(s) failed: {names}"
    if ok:
        line += f". Synced: {', '.join(ok)}"
    return failed[0].exit_code or EXIT_OTHER, line
