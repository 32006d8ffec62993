"""`hcp push status`, `hcp push retry` and `--dry-run` over the object outbox.

Status and the dry run only read (the file opened read-only; the dry run sends nothing and
stages nothing: it shows each row's exact request and, for an update, the diff against the
synced raw table). Retry is the one place a user's decision moves failed rows back to `pending`
(`rows.requeue_failed`). None of them talks to HCP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines import config
from pipelines.push import rows
from pipelines.push.diff import Differ
from pipelines.push.engine import FAILED_PERMANENT, FAILED_RETRYABLE
from pipelines.push.objects import OBJECTS
from pipelines.push.stage import plan_rows
from pipelines.push.tables import account_filter
from pipelines.warehouse import connect


@dataclass
class ObjectStatus:
    counts: list[tuple[str, str, int]] = field(default_factory=list)  # (object, status, n)
    runs: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[tuple[str, str, int]] = field(default_factory=list)  # (object, reason, n)

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": [{"object": o, "status": s, "rows": n} for o, s, n in self.counts],
            "runs": self.runs,
            "reasons": [{"object": o, "reason": r, "rows": n} for o, r, n in self.reasons],
        }


def push_status(
    db_path: str | Path | None = None,
    *,
    account: str | None = None,
    last_runs: int = 5,
    on_wait: Callable[[str], None] | None = None,
) -> ObjectStatus:
    """Counts by object and status, the last runs, the commonest failure reasons."""
    report = ObjectStatus()
    where, args = account_filter(account or None)
    with connect(config.db_path(db_path), read_only=True, on_wait=on_wait) as con:
        if not rows.schema_exists(con):
            return report
        report.counts = [
            (str(o), str(s), int(n))
            for o, s, n in con.execute(
                f"SELECT object, coalesce(status, 'pending'), count(*) FROM staging.push_rows "
                f"{where} GROUP BY ALL ORDER BY 1, 2",
                args,
            ).fetchall()
        ]
        cur = con.execute(
            f"SELECT * FROM staging.push_row_runs {where} ORDER BY started_at DESC LIMIT ?",
            [*args, last_runs],
        )
        names = [d[0] for d in cur.description]
        report.runs = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        failed = "status IN ('failed_permanent', 'failed_retryable')"
        acct_and, _ = account_filter(account or None, "AND")
        report.reasons = [
            (str(o), str(r), int(n))
            for o, r, n in con.execute(
                "SELECT object, regexp_replace(error_reason, '^line [0-9]+: ', ''), count(*) "
                f"FROM staging.push_rows WHERE {failed} {acct_and} "
                "GROUP BY ALL ORDER BY 3 DESC, 1, 2 LIMIT 10",
                args,
            ).fetchall()
        ]
    return report


def retry_rows(
    db_path: str | Path | None = None,
    *,
    obj: str | None = None,
    account: str | None = None,
    permanent: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> int:
    """Failed rows back to `pending` (retryable ones; with `permanent`, those too)."""
    statuses = [FAILED_RETRYABLE] + ([FAILED_PERMANENT] if permanent else [])
    with connect(config.db_path(db_path), on_wait=on_wait) as con:
        rows.ensure_schema(con)
        return rows.requeue_failed(con, statuses, obj=obj, account=account)


@dataclass(frozen=True)
class PlannedRow:
    """What a push would send for one input row (the dry run)."""

    line: int
    key: str
    operation: str
    action: str  # send | unchanged | fail
    request: dict[str, Any] | None
    diff: dict[str, tuple[Any, Any]] | None  # an update's {field: (synced, desired)}
    reason: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "key": self.key,
            "operation": self.operation,
            "action": self.action,
            "request": self.request,
            "diff": {k: list(v) for k, v in self.diff.items()} if self.diff is not None else None,
            "reason": self.reason,
        }


def dry_run(
    object_name: str,
    records: Iterable[dict[str, Any]],
    *,
    db_path: str | Path | None = None,
    account: str = "default",
    operation: str | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> list[PlannedRow]:
    """Each row's exact request and diff; nothing sent, nothing staged (read-only file)."""
    planned = plan_rows(object_name, records, account=account, operation=operation)
    obj = OBJECTS[object_name]
    out: list[PlannedRow] = []
    with connect(config.db_path(db_path), read_only=True, on_wait=on_wait) as con:
        differs: dict[str, Differ] = {}
        for s in planned:
            row = s.row
            if s.request is None:
                out.append(
                    PlannedRow(
                        s.line, row["row_key"], row["operation"], "fail", None, None, s.reason
                    )
                )
                continue
            diff = None
            action = "send"
            if not s.request.is_create and s.request.target:
                differ = differs.setdefault(row["account"], Differ(con, obj, row["account"]))
                diff = differ.changes(s.request.target, s.request.body)
                if diff == {}:
                    action = "unchanged"
            out.append(
                PlannedRow(
                    s.line,
                    row["row_key"],
                    row["operation"],
                    action,
                    s.request.as_dict(),
                    diff,
                    None,
                )
            )
    return out
