"""`hcp report attribution`: which lead sources make money, in the terminal and as a file.

The report's figures come from `pipelines.report`; this module parses the flags and draws the
terminal table (the one rendering that is rich's, so it lives in the CLI). It only reads the
database.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipelines.cli.options import AccountOption, DbOption, fail
from pipelines.config import db_path as configured_db_path
from pipelines.report import FORMATS, AttributionReport, ReportError, attribution_report
from pipelines.report.model import BY, Column, footnotes, money, times, visible_columns

report_app = typer.Typer(help="Reports from the analytics models.", no_args_is_help=True)

# Dropped first when the terminal is too narrow for every column.
_DROP_ORDER = ("Bucket", "Est. close", "Cost/job", "Cost/customer", "Avg job", "Paid", "Completed")


def terminal_table(report: AttributionReport, width: int | None = None) -> Table:
    """A rich table; on a narrow terminal the least important columns go first."""
    cols = visible_columns(report)
    rows = [*report.rows, report.total]

    def needed(columns: list[Column]) -> int:
        return sum(max(len(c.header), *(len(c.render(r)) for r in rows)) + 3 for c in columns) + 1

    if width is not None:
        for header in _DROP_ORDER:
            if needed(cols) <= width:
                break
            cols = [cols[0]] + [c for c in cols[1:] if c.header != header]
    who = ", ".join(report.companies) or ", ".join(report.accounts) or "HCP"
    table = Table(
        title=f"Lead-source attribution — {who}",
        caption=report.period,  # what the figures mean: the footnotes printed under the table
        show_footer=True,
    )
    for i, col in enumerate(cols):
        table.add_column(
            col.header,
            footer="" if i == 1 and not col.numeric else col.render(report.total),
            justify="right" if col.numeric else "left",
            no_wrap=True,
        )
    for row in report.rows:
        table.add_row(*(c.render(row) for c in cols))
    return table


def trend_table(report: AttributionReport) -> Table:
    """The monthly trend: one row per cohort month, all buckets together."""
    table = Table(title="Monthly trend (customers created that month)", title_justify="left")
    for header in ("Month", "Customers", "Completed", "Revenue") + (
        ("Spend", "ROAS") if report.has_spend else ()
    ):
        table.add_column(header, justify="left" if header == "Month" else "right", no_wrap=True)
    for month, customers, completed, revenue, spend, roas in report.months():
        cells = [f"{month:%Y-%m}", f"{customers:,}", f"{completed:,}", money(revenue)]
        if report.has_spend:
            cells += [money(spend), times(roas)]
        table.add_row(*cells)
    return table


def _parse_since(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        try:
            return datetime.strptime(value, "%Y-%m").date()
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD or YYYY-MM)") from None


@report_app.command("attribution")
def attribution_command(
    out: list[Path] = typer.Option(
        [],
        "--out",
        "-o",
        help=f"Also write the report to this file; the suffix picks the format ({', '.join(FORMATS)}). Repeatable.",
    ),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Only customers created in this month or later (YYYY-MM-DD or YYYY-MM).",
    ),
    until: str | None = typer.Option(
        None,
        "--until",
        help="Only customers created in this month or earlier (YYYY-MM-DD or YYYY-MM).",
    ),
    by: str = typer.Option(
        "source",
        "--by",
        help="One row per lead source (`source`) or per bucket (`bucket`: where spend given "
        "per channel is matched).",
    ),
    trend: bool = typer.Option(
        False, "--trend", help="Also print the monthly trend (the files always have it)."
    ),
    account: AccountOption = None,
    db: DbOption = None,
) -> None:
    """Revenue, jobs, payments, spend and ROAS by lead source or bucket (attribution by customer, as HCP's Marketing ROI)."""
    console = Console()
    if by not in BY:
        raise typer.BadParameter(f"{by!r}: use one of {', '.join(BY)}", param_hint="--by")
    try:
        report, written = attribution_report(
            configured_db_path(db),
            since=_parse_since(since),
            until=_parse_since(until),
            by=by,
            account=account,
            out=list(out),
        )
    except ReportError as exc:
        raise fail(str(exc)) from None
    console.print(terminal_table(report, width=console.width))
    if trend:
        console.print(trend_table(report))
    for note in footnotes(report):
        console.print(f"[dim]{escape(note)}[/]")
    for path in written:
        console.print(f"[green]wrote[/] {escape(str(path))}")
