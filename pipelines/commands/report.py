"""`hcp report ...` (arrives with issue 10)."""

from __future__ import annotations

import typer

from pipelines.commands._pending import not_yet

report_app = typer.Typer(help="Reports from the analytics models.", no_args_is_help=True)


@report_app.command("attribution")
def attribution_command() -> None:
    """Lead-source attribution (issue 10)."""
    not_yet("report attribution", 10)
