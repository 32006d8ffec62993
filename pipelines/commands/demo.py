"""`hcp demo`: sandbox -> DuckDB -> models -> leads pushed -> report, with no account needed."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from pipelines.dblock import LockTimeout
from pipelines.demo import DEMO_DB, DemoError, run_demo


def demo_command(
    db: Path | None = typer.Option(
        None, "--db", help=f"DuckDB file to write (default: {DEMO_DB} in the working folder)."
    ),
) -> None:
    """Always its own sandbox and key (never your credentials): sync, models, sample leads pushed, report."""
    console = Console()
    try:
        run_demo(Path.cwd(), db_path=db, console=console)
    except (DemoError, LockTimeout) as exc:
        console.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(1) from None
