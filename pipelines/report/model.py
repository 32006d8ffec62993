"""The attribution report's data: what each lead source (or bucket) made, from the analytics models.

One query sums the model over the chosen months (customer cohorts created from `--since` to
`--until`), one row per lead source (`analytics.lead_source_performance`) or, with `--by bucket`,
per bucket (`analytics.lead_source_bucket_performance`, where spend given per channel lands);
a second one gives the monthly trend. The same rows feed the terminal table (`hcp report`), the
CSV (`build`), and the HTML/PNG (`charts`), which all render cells through `COLUMNS`, the
`money`/`percent`/`times` formatters and `footnotes` here so every format shows the same figures
and says the same thing about them. It only reads:
it never rebuilds models, so what it shows is what `hcp transform` last committed. It imports
nothing of `build` or `charts` (they import it) and nothing of the terminal (no rich, no typer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pipelines.warehouse import connect


class ReportError(Exception):
    """The report cannot be built (no models yet, unknown format); the message says what to do."""


BY = ("source", "bucket")


@dataclass(frozen=True)
class SourceRow:
    """One lead source (with `--by bucket`: one bucket, named in both fields), summed over the
    report's months (and accounts)."""

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
    cost_per_customer: Decimal | None
    cost_per_job: Decimal | None
    roas: Decimal | None


@dataclass(frozen=True)
class MonthRow:
    """One cohort month of one bucket: the monthly trend."""

    month: date
    lead_source_bucket: str
    new_customers: int
    new_jobs: int
    jobs_completed: int
    job_revenue: Decimal
    marketing_spend: Decimal | None


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
    by: str = "source"
    until: date | None = None
    trend: list[MonthRow] = field(default_factory=list)
    bucket_spend: Decimal | None = None  # spend named by bucket: only in the bucket view
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def has_spend(self) -> bool:
        return self.total.marketing_spend is not None

    @property
    def label(self) -> str:
        return "bucket" if self.by == "bucket" else "lead source"

    def months(self) -> list[tuple[date, int, int, Decimal, Decimal | None, Decimal | None]]:
        """The trend summed over buckets: (month, customers, completed jobs, revenue, spend,
        ROAS), ROAS over the buckets with spend that month only, as in the totals."""
        out: dict[date, list[Any]] = {}
        for m in self.trend:
            row = out.setdefault(m.month, [0, 0, Decimal("0.00"), None, Decimal("0.00")])
            row[0] += m.new_customers
            row[1] += m.jobs_completed
            row[2] += m.job_revenue
            if m.marketing_spend is not None:
                row[3] = (row[3] or Decimal("0.00")) + m.marketing_spend
                row[4] += m.job_revenue
        return [
            (k, c, d, r, s, _ratio(paid, s) if s is not None else None)
            for k, (c, d, r, s, paid) in sorted(out.items())
        ]

    @property
    def period(self) -> str:
        if self.first_month is None or self.last_month is None:
            return "no customers in this period"
        first = self.first_month.strftime("%b %Y")
        last = self.last_month.strftime("%b %Y")
        span = first if first == last else f"{first} – {last}"
        bounds = []
        if self.since:
            bounds.append(f"since {self.since.isoformat()}")
        if self.until:
            bounds.append(f"until {self.until.isoformat()}")
        return f"customers created {span}" + (f" ({', '.join(bounds)})" if bounds else "")


def footnotes(report: AttributionReport) -> list[str]:
    """What every rendering says under its figures; spend sentences only when there is spend."""
    notes = [
        "Attribution by customer, as HCP's Marketing ROI table does: every figure belongs to the "
        f"customers created in the period with that {report.label}, whenever their jobs happened.",
        "Revenue is completed jobs' subtotal minus discounts, without tax or tips. "
        "Paid nets refunds. Est. close shows won / estimates.",
    ]
    if report.has_spend:
        notes.append(
            "ROAS = revenue / spend (3.0× = $3 of revenue per $1 spent); cost per customer and "
            "per job divide spend by new customers and jobs. Their totals cover only the rows "
            "with spend."
        )
    if report.by == "source" and report.bucket_spend:
        notes.append(
            f"${report.bucket_spend:,.0f} of spend was given per bucket, not per lead source: "
            "it is in `hcp report attribution --by bucket`."
        )
    model = _MODELS[report.by]
    notes.append(f"Source: analytics.{model} in {report.db_path.name}.")
    return notes


_MODELS = {"source": "lead_source_performance", "bucket": "lead_source_bucket_performance"}
_KEY = {"source": "lead_source", "bucket": "lead_source_bucket"}
_WHERE = """
WHERE ($since IS NULL OR month >= date_trunc('month', CAST($since AS DATE)))
  AND ($until IS NULL OR month <= date_trunc('month', CAST($until AS DATE)))
  AND ($account IS NULL OR account = $account)
"""


def _sum_sql(by: str) -> str:
    key = _KEY[by]
    return f"""
SELECT
  {key},
  any_value(lead_source_bucket) AS lead_source_bucket,
  sum(new_customers), sum(new_jobs), sum(jobs_scheduled), sum(jobs_completed),
  CAST(sum(job_revenue) AS DECIMAL(18, 2)),
  CAST(sum(amount_paid) AS DECIMAL(18, 2)),
  sum(new_estimates), sum(estimates_won),
  CAST(sum(marketing_spend) AS DECIMAL(18, 2))
FROM analytics.{_MODELS[by]}
{_WHERE}
GROUP BY {key}
ORDER BY sum(job_revenue) DESC, sum(new_customers) DESC, {key}
"""


_TREND_SQL = f"""
SELECT month, lead_source_bucket, sum(new_customers), sum(new_jobs), sum(jobs_completed),
       CAST(sum(job_revenue) AS DECIMAL(18, 2)), CAST(sum(marketing_spend) AS DECIMAL(18, 2))
FROM analytics.lead_source_bucket_performance
{_WHERE}
GROUP BY 1, 2
ORDER BY 1, 2
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
        cost_per_customer=_ratio(spend, customers) if spend is not None else None,
        cost_per_job=_ratio(spend, jobs) if spend is not None else None,
        roas=_ratio(revenue, spend) if spend is not None else None,
    )


def _total(rows: list[SourceRow], label: str = "All lead sources") -> SourceRow:
    """Totals; cost per customer, cost per job and ROAS only over the rows with spend (a blended
    ROAS would credit ads with referral revenue)."""
    total = _row(
        (
            label,
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
        cost_per_customer=_ratio(spend, sum(r.new_customers for r in paid)),
        cost_per_job=_ratio(spend, sum(r.new_jobs for r in paid)),
        roas=_ratio(sum((r.job_revenue for r in paid), Decimal(0)), spend),
    )


def load_report(
    db_path: str | Path,
    since: date | None = None,
    account: str | None = None,
    *,
    until: date | None = None,
    by: str = "source",
) -> AttributionReport:
    """Read the summed rows; `ReportError` when `hcp transform` has not run on this file."""
    if by not in BY:
        raise ReportError(f"--by must be one of {', '.join(BY)}, not {by!r}")
    if since and until and until < since.replace(day=1):
        raise ReportError(f"--until {until:%Y-%m} is before --since {since:%Y-%m}")
    path = Path(db_path)
    if not path.exists():
        raise ReportError(f"{path} does not exist: run `hcp sync` and `hcp transform` first")
    with connect(path, read_only=True) as con:
        known = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'analytics'"
            ).fetchall()
        }
        missing = [m for m in _MODELS.values() if m not in known]
        if missing:
            raise ReportError(
                f"{path} has no analytics.{missing[0]} yet: run `hcp transform` first"
            )
        params = {"since": since, "until": until, "account": account}
        rows = [_row(v) for v in con.execute(_sum_sql(by), params).fetchall()]
        trend = [
            MonthRow(m, b, int(c or 0), int(j or 0), int(d or 0), r or Decimal("0.00"), s)
            for m, b, c, j, d, r, s in con.execute(_TREND_SQL, params).fetchall()
        ]
        first, last = con.execute(
            f"SELECT min(month), max(month) FROM analytics.lead_source_performance {_WHERE} "
            "AND new_customers > 0",
            params,
        ).fetchone()
        bucket_spend = con.execute(
            f"SELECT CAST(sum(amount) AS DECIMAL(18, 2)) FROM analytics.marketing_spend_matched "
            f"{_WHERE} AND spend_level = 'bucket'",
            params,
        ).fetchone()[0]
        accounts_companies = con.execute(
            "SELECT account, company_name FROM analytics.company "
            "WHERE $account IS NULL OR account = $account ORDER BY account",
            {"account": account},
        ).fetchall()
    if account is not None and not accounts_companies:
        raise ReportError(f"no account named {account!r} in {path}")
    return AttributionReport(
        rows=rows,
        total=_total(rows, "All buckets" if by == "bucket" else "All lead sources"),
        since=since,
        until=until,
        by=by,
        trend=trend,
        bucket_spend=bucket_spend,
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


def close(row: SourceRow) -> str:
    """The close rate with the counts it comes from: `45% (9/20)`."""
    if not row.new_estimates:
        return "–"
    return f"{percent(row.estimate_close_rate)} ({row.estimates_won:,}/{row.new_estimates:,})"


COLUMNS: tuple[Column, ...] = (
    Column("Lead source", lambda r: r.lead_source, numeric=False),
    Column("Bucket", lambda r: r.lead_source_bucket, numeric=False),
    Column("Customers", lambda r: f"{r.new_customers:,}"),
    Column("Jobs", lambda r: f"{r.new_jobs:,}"),
    Column("Completed", lambda r: f"{r.jobs_completed:,}"),
    Column("Revenue", lambda r: money(r.job_revenue)),
    Column("Avg job", lambda r: money(r.avg_job_size)),
    Column("Paid", lambda r: money(r.amount_paid)),
    Column("Est. close", close),
    Column("Spend", lambda r: money(r.marketing_spend), spend_only=True),
    Column("Cost/customer", lambda r: money(r.cost_per_customer), spend_only=True),
    Column("Cost/job", lambda r: money(r.cost_per_job), spend_only=True),
    Column("ROAS", lambda r: times(r.roas), spend_only=True),
)


def visible_columns(report: AttributionReport) -> list[Column]:
    """The columns to show: the spend columns only when some row has spend; in the bucket view
    the first column is the bucket and there is no second bucket column."""
    cols = [c for c in COLUMNS if report.has_spend or not c.spend_only]
    if report.by == "bucket":
        cols = [replace(c, header="Bucket") if c.header == "Lead source" else c for c in cols[:1]]
        cols += [c for c in COLUMNS[2:] if report.has_spend or not c.spend_only]
    return cols
