"""What a sync did: per-object figures, the account's outcome, and the words `hcp sync` prints.

`collect` finalises the read's own figures (`sources.housecallpro.figures.ObjectFigures`: the
tracker's pages, rows, status; the request counter's attempts) into `SyncResult.objects` once
extract and load have ended; nothing is copied field by field. Must never: call a
read ok whose read-from table failed (materials without all their categories are incomplete), or
word a failure so a user would not know that rerunning `hcp sync` finishes the job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from pipelines.verify import EXIT_OK, EXIT_OTHER
from sources.housecallpro.figures import ObjectFigures, ReadTracker
from sources.housecallpro.settings import BY_TABLE


@dataclass
class SyncResult:
    """A sync of one account: per-object results, the exit code `hcp sync` uses, one message."""

    account: str
    ok: bool
    exit_code: int
    message: str
    objects: dict[str, ObjectFigures] = field(default_factory=dict)
    seconds: float = 0.0
    requests: int = 0
    company_name: str | None = None
    pipeline_name: str = ""
    deleted: dict[str, int] = field(default_factory=dict)
    """Records newly flagged `_hcp_deleted_at` in this run, per table."""
    webhooks_drained: int = 0
    webhooks_applied: int = 0
    """Webhook deliveries drained from the spool before the read, and how many were applied."""
    webhooks_error: str | None = None
    """Why the drain failed (its deliveries stay in the spool for the next run); the read ran."""
    rate_limit: dict[str, float] = field(default_factory=dict)
    """The client's limiter at the end (`TokenBucket.snapshot`): the configured and final rate,
    seconds waited for a turn (summed over threads), seconds paused for 429s, slowdowns."""

    @property
    def failed(self) -> list[ObjectFigures]:
        return [o for o in self.objects.values() if o.status == "failed"]

    @property
    def skipped(self) -> list[ObjectFigures]:
        return [o for o in self.objects.values() if o.status == "skipped"]


def collect(
    result: SyncResult, tracker: ReadTracker, selected: list[str], step_error: str | None
) -> None:
    """Final per-object figures once extract and load have ended, and the account's outcome.

    The tracker's figures are final except for the status of reads without an end-of-read hook
    (transformers: a clean extract means they finished) and of per-parent reads whose read-from
    table failed (incomplete). The last retry of a failed read never happened: it is not counted.
    """
    tables = list(selected) + [t for t in tracker.read_tables() if t not in selected]
    for table in tables:
        fig = tracker.of(table)
        status = fig.status
        if status in ("running", "pending"):
            status = "failed" if step_error else ("ok" if status == "running" else "not run")
        error = fig.error or (step_error if status == "failed" else None)
        obj = BY_TABLE.get(table)
        read_from = obj.read_from if obj is not None and obj.strategy == "per_parent" else None
        upstream = tracker.figures.get(read_from) if read_from else None
        if status == "ok" and upstream is not None and upstream.status == "failed":
            status, error = "failed", f"incomplete: parent {read_from} failed"
        retries = fig.retries - (1 if status == "failed" and fig.retries else 0)
        result.objects[table] = replace(fig, status=status, retries=max(0, retries), error=error)
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
        moving = [o.table for o in result.objects.values() if o.unsteady]
        if moving:
            result.message += (
                f" HCP's listing of {', '.join(moving)} changed during every re-read: loaded, "
                "but no deletion flagged and no cursor moved; the next `hcp sync` reads it again."
            )
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
