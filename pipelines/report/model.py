"""The attribution report's data: what each lead source made, from the analytics models.

One query sums the model over the chosen months (customer cohorts created since `--since`), one
row per lead source (`load_report`); the same rows feed the terminal table (`hcp report`), the CSV
(`build`), and the HTML/PNG (`charts`), which all render cells through `COLUMNS` and the
`money`/`percent`/`times` formatters here so every format shows the same figures. It only reads:
it never rebuilds models, so what it shows is what `hcp transform` last committed. It imports
nothing of `build` or `charts` (they import it) and nothing of the terminal (no rich, no typer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from pipelines.warehouse import connect


class ReportError(Exception):
    """The report cannot be built (no models yet, unknown format); the message says what to do."""


@dataclass(frozen=True)
class SourceRow:
    """One lead source, summed over the report's months (and accounts)."""

    lead_source: str
    lead_source_bucket: str
    new_customers: int
    new_jobs: int
    jobs_scheduled: int
    jobs_completed: int
    job_revenue: Decimal
    avg_job_size: Decimal | None
    amount_paid: Decimal
    new_estimates: int
    estimates_won: int
    estimate_close_rate: Decimal | None
    marketing_spend: Decimal | None
    cost_per_job: Decimal | None
    roi: Decimal | None


@dataclass(frozen=True)
class AttributionReport:
    """The rows, their total and what they cover (months, accounts, companies, file)."""

    rows: list[SourceRow]
    total: SourceRow
    since: date | None
    first_month: date | None
    last_month: date | None
    accounts: list[str]
    companies: list[str]
    db_path: Path
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def has_spend(self) -> bool:
        return self.total.marketing_spend is not None

    @property
    def period(self) -> str:
        if self.first_month is None or self.last_month is None:
            return "no customers in this period"
        first = self.first_month.strftime("%b %Y")
        last = self.last_month.strftime("%b %Y")
        span = first if first == last else f"{first} – {last}"
        return f"customers created {span}" + (
            f" (since {self.since.isoformat()})" if self.since else ""
        )


_SUM_SQL = """
SELECT
  lead_source,
  any_value(lead_source_bucket) AS lead_source_bucket,
  sum(new_customers), sum(new_jobs), sum(jobs_scheduled), sum(jobs_completed),
  CAST(sum(job_revenue) AS DECIMAL(18, 2)),
  CAST(sum(amount_paid) AS DECIMAL(18, 2)),
  sum(new_estimates), sum(estimates_won),
  CAST(sum(marketing_spend) AS DECIMAL(18, 2))
FROM analytics.lead_source_performance
WHERE ($since IS NULL OR month >= date_trunc('month', CAST($since AS DATE)))
  AND ($account IS NULL OR account = $account)
GROUP BY lead_source
ORDER BY sum(job_revenue) DESC, sum(new_customers) DESC, lead_source
"""


def _ratio(num: Decimal | int, den: Decimal | int | None, places: str = "0.01") -> Decimal | None:
    if not den:
        return None
    return (Decimal(num) / Decimal(den)).quantize(Decimal(places))


def _row(values: tuple) -> SourceRow:
    (
        source,
        bucket,
        customers,
        jobs,
        scheduled,
        completed,
        revenue,
        paid,
        estimates,
        won,
        spend,
    ) = values
    revenue = revenue or Decimal("0.00")
    return SourceRow(
        lead_source=source,
        lead_source_bucket=bucket,
        new_customers=int(customers or 0),
        new_jobs=int(jobs or 0),
        jobs_scheduled=int(scheduled or 0),
        jobs_completed=int(completed or 0),
        job_revenue=revenue,
        avg_job_size=_ratio(revenue, completed),
        amount_paid=paid or Decimal("0.00"),
        new_estimates=int(estimates or 0),
        estimates_won=int(won or 0),
        estimate_close_rate=_ratio(won or 0, estimates, "0.0001"),
        marketing_spend=spend,
        cost_per_job=_ratio(spend, jobs) if spend is not None else None,
        roi=_ratio(revenue, spend) if spend is not None else None,
    )


def _total(rows: list[SourceRow]) -> SourceRow:
    """Totals; cost per job and ROI only over the sources with spend (a blended ROI would credit
    ads with referral revenue)."""
    total = _row(
        (
            "All lead sources",
            "",
            sum(r.new_customers for r in rows),
            sum(r.new_jobs for r in rows),
            sum(r.jobs_scheduled for r in rows),
            sum(r.jobs_completed for r in rows),
            sum((r.job_revenue for r in rows), Decimal("0.00")),
            sum((r.amount_paid for r in rows), Decimal("0.00")),
            sum(r.new_estimates for r in rows),
            sum(r.estimates_won for r in rows),
            None,
        )
    )
    paid = [r for r in rows if r.marketing_spend is not None]
    if not paid:
        return total
    spend = sum((r.marketing_spend or Decimal(0) for r in paid), Decimal("0.00"))
    return replace(
        total,
        marketing_spend=spend,
        cost_per_job=_ratio(spend, sum(r.new_jobs for r in paid)),
        roi=_ratio(sum((r.job_revenue for r in paid), Decimal(0)), spend),
    )


def load_report(
    db_path: str | Path, since: date | None = None, account: str | None = None
) -> AttributionReport:
    """Read the summed rows; `ReportError` when `hcp transform` has not run on this file."""
    path = Path(db_path)
    if not path.exists():
        raise ReportError(f"{path} does not exist: run `hcp sync` and `hcp transform` first")
    with connect(path, read_only=True) as con:
        known = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'analytics' AND table_name = 'lead_source_performance'"
        ).fetchone()[0]
        if not known:
            raise ReportError(
                f"{path} has no analytics.lead_source_performance yet: run `hcp transform` first"
            )
        params = {"since": since, "account": account}
        rows = [_row(v) for v in con.execute(_SUM_SQL, params).fetchall()]
        first, last = con.execute(
            "SELECT min(month), max(month) FROM analytics.lead_source_performance "
            "WHERE new_customers > 0 AND ($since IS NULL OR month >= date_trunc('month', CAST($since AS DATE))) "
            "AND ($account IS NULL OR account = $account)",
            params,
        ).fetchone()
        accounts_companies = con.execute(
            "SELECT account, company_name FROM analytics.company "
            "WHERE $account IS NULL OR account = $account ORDER BY account",
            {"account": account},
        ).fetchall()
    if account is not None and not accounts_companies:
        raise ReportError(f"no account named {account!r} in {path}")
    return AttributionReport(
        rows=rows,
        total=_total(rows),
        since=since,
        first_month=first,
        last_month=last,
        accounts=[a for a, _ in accounts_companies],
        companies=[c for _, c in accounts_companies if c],
        db_path=path,
    )


# --- presentation shared by every format -------------------------------------------------------


def money(value: Decimal | None, places: int = 0) -> str:
    if value is None:
        return "–"
    return f"${value:,.{places}f}"


def percent(value: Decimal | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def times(value: Decimal | None) -> str:
    return "–" if value is None else f"{value:.1f}×"


@dataclass(frozen=True)
class Column:
    """One column of every rendering: its header and how a row's cell reads."""

    header: str
    render: Callable[[SourceRow], str]
    numeric: bool = True
    spend_only: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("Lead source", lambda r: r.lead_source, numeric=False),
    Column("Bucket", lambda r: r.lead_source_bucket, numeric=False),
    Column("Customers", lambda r: f"{r.new_customers:,}"),
    Column("Jobs", lambda r: f"{r.new_jobs:,}"),
    Column("Completed", lambda r: f"{r.jobs_completed:,}"),
    Column("Revenue", lambda r: money(r.job_revenue)),
    Column("Avg job", lambda r: money(r.avg_job_size)),
    Column("Paid", lambda r: money(r.amount_paid)),
    Column("Est. close", lambda r: percent(r.estimate_close_rate)),
    Column("Spend", lambda r: money(r.marketing_spend), spend_only=True),
    Column("Cost/job", lambda r: money(r.cost_per_job), spend_only=True),
    Column("ROI", lambda r: times(r.roi), spend_only=True),
)


def visible_columns(report: AttributionReport) -> list[Column]:
    """The columns to show: the spend columns only when some source has spend."""
    return [c for c in COLUMNS if report.has_spend or not c.spend_only]
