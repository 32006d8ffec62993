"""`hcp leads ...` (arrives with issues 7 and 8)."""

from __future__ import annotations

import typer

from pipelines.commands._pending import not_yet

leads_app = typer.Typer(help="The lead outbox: load, push, test, status, retry.", no_args_is_help=True)


@leads_app.command("load")
def load_command() -> None:
    """Stage a CSV of leads (issue 7)."""
    not_yet("leads load", 7)


@leads_app.command("push")
def push_command() -> None:
    """Push staged leads to HCP (issue 8)."""
    not_yet("leads push", 8)
