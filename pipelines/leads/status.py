"""`hcp leads status` and `hcp leads retry`: read and requeue the outbox, count what waits.

Status reads only; retry is the one place a user's decision moves a failed lead back to
`pending` (with `attempts` reset, so `max_attempts` counts afresh; the write is
`outbox.requeue_failed`). Neither talks to HCP, and status never opens the file for writing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from pipelines import config
from pipelines.leads import outbox
from pipelines.warehouse import connect

# Reasons differ by the value quoted in them and the CSV line; group on the rest.
REASON_GROUP_SQL = (
    "regexp_replace(regexp_replace(regexp_replace(error_reason, '^line [0-9]+: ', ''), "
    "'''[^'']*''', '''…''', 'g'), '\"[^\"]*\"', '\"…\"', 'g')"
)


@dataclass(frozen=True)
class ReasonRow:
    reason: str
    leads: int
    example_lead_id: str
    example: str  # the example lead's name / email / phone, and its full reason


@dataclass
class StatusReport:
    """Counts by account and status, the last runs, the most common failure reasons."""

    counts: list[tuple[str, str, int]] = field(default_factory=list)  # (account, status, n)
    runs: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[ReasonRow] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(n for _, _, n in self.counts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": [{"account": a, "status": s, "leads": n} for a, s, n in self.counts],
            "runs": self.runs,
            "reasons": [r.__dict__ for r in self.reasons],
        }


def lead_status(
    db_path: str | Path | None = None,
    *,
    account: str | None = None,
    last_runs: int = 5,
    top_reasons: int = 10,
    on_wait: Callable[[str], None] | None = None,
) -> StatusReport:
    """Read the outbox; an empty report when nothing was ever staged."""
    report = StatusReport()
    with connect(config.db_path(db_path), read_only=True, on_wait=on_wait) as con:
        if not outbox.schema_exists(con):
            return report
        where, params = outbox.account_filter(account)
        report.counts = [
            (str(a), str(s), int(n))
            for a, s, n in con.execute(
                f"SELECT {outbox.ACCOUNT_SQL}, coalesce(status, 'pending'), count(*) "
                f"FROM staging.leads {where} GROUP BY ALL ORDER BY 1, 2",
                params,
            ).fetchall()
        ]
        report.runs = _runs(con, account, last_runs)
        report.reasons = _reasons(con, account, top_reasons)
    return report


def _runs(con: duckdb.DuckDBPyConnection, account: str | None, limit: int) -> list[dict[str, Any]]:
    where, params = outbox.account_filter(account)
    cursor = con.execute(
        f"SELECT * FROM staging.push_runs {where} ORDER BY started_at DESC LIMIT ?",
        [*params, limit],
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _reasons(con: duckdb.DuckDBPyConnection, account: str | None, limit: int) -> list[ReasonRow]:
    where, params = outbox.account_filter(account, "AND")
    rows = con.execute(
        f"""
        SELECT {REASON_GROUP_SQL} AS reason, count(*) AS leads,
               arg_min(lead_id, created_at) AS lead_id,
               arg_min(concat_ws(' / ', nullif(coalesce(name, trim(concat_ws(' ', first_name, last_name))), ''),
                                 email, phone) || ' — ' || error_reason, created_at) AS example
        FROM staging.leads
        WHERE status IN ('failed_permanent', 'failed_retryable') AND error_reason IS NOT NULL {where}
        GROUP BY 1 ORDER BY leads DESC, reason LIMIT ?
        """,
        [*params, limit],
    ).fetchall()
    return [ReasonRow(str(r), int(n), str(i), str(e or "")) for r, n, i, e in rows]


def retry_leads(
    db_path: str | Path | None = None,
    *,
    permanent: bool = False,
    account: str | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> int:
    """Requeue `failed_retryable` leads (and `failed_permanent` with `permanent`); return how many."""
    statuses = [outbox.FAILED_RETRYABLE] + ([outbox.FAILED_PERMANENT] if permanent else [])
    with connect(config.db_path(db_path), on_wait=on_wait) as con:
        outbox.ensure_schema(con)
        return outbox.requeue_failed(con, statuses, account)


def accounts_with_pending(db_path: str | Path | None = None) -> dict[str, int]:
    """Claimable leads per account, to tell the user about accounts that have no key."""
    with connect(config.db_path(db_path), read_only=True) as con:
        if not outbox.schema_exists(con):
            return {}
        rows = con.execute(
            f"SELECT {outbox.ACCOUNT_SQL}, count(*) FROM staging.leads "
            f"WHERE {outbox.CLAIMABLE_SQL} OR {outbox.LEFT_SENDING_SQL} GROUP BY 1"
        ).fetchall()
    return {str(a): int(n) for a, n in rows}
