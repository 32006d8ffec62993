"""`hcp report attribution`: which lead sources make money, in the terminal and as a file."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from pipelines.config import db_path as configured_db_path
from pipelines.report.build import FORMATS, ReportError, attribution_report, terminal_table
from pipelines.warehouse import LockTimeout

report_app = typer.Typer(help="Reports from the analytics models.", no_args_is_help=True)


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
    account: str | None = typer.Option(None, "--account", help="Only this account."),
    db: Path | None = typer.Option(
        None,
        "--db",
        help="DuckDB file (default: DESTINATION__DUCKDB__CREDENTIALS or hcp_sync.duckdb).",
    ),
) -> None:
    """Revenue, jobs, payments and ROI by lead source (attribution by customer, as HCP's Marketing ROI)."""
    console = Console()
    try:
        report, written = attribution_report(
            configured_db_path(db), since=_parse_since(since), account=account, out=list(out)
        )
    except (ReportError, LockTimeout) as exc:
        console.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(1) from None
    console.print(terminal_table(report, width=console.width))
    for path in written:
        console.print(f"[green]wrote[/] {escape(str(path))}")
