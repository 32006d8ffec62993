"""`hcp serve`: the schedules of `prefect.yaml`, served from this one process (no work pool).

The work is `flows.serve`, imported when the command runs: Prefect takes seconds to import and
no other command needs it. This module only checks that a Prefect server is there to schedule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pipelines.cli.options import fail


def serve_command(
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            help="Serve only this deployment (repeatable): hcp-sync, hcp-push-leads, "
            "hcp-sync-full-refresh.",
        ),
    ] = None,
    every: Annotated[
        float | None,
        typer.Option(
            "--every",
            min=5,
            help="Replace every schedule with one run each N seconds (to try it out).",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="At most N flow runs at once in this process."),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Deployments file (default: ./prefect.yaml, else bundled)."),
    ] = None,
) -> None:
    """Serve the Prefect deployments of prefect.yaml from one process (Ctrl-C stops).

    Needs a Prefect server (`prefect server start`, or Prefect Cloud) at PREFECT_API_URL: it
    creates the scheduled runs and shows them in its UI.
    """
    from flows.serve import ServeConfigError, api_url, serve_deployments

    if not api_url():
        # Prefect's temporary in-process server does not run the scheduler service: the
        # deployments would be served and never run. Say so instead of idling silently.
        Console(stderr=True).print(
            "[red]hcp serve needs a Prefect server to schedule its runs.[/] In another terminal:\n"
            "  prefect server start\n"
            "then here:\n"
            "  export PREFECT_API_URL=http://127.0.0.1:4200/api\n"
            "  hcp serve\n"
            "(or `prefect config set PREFECT_API_URL=...` once; see docs/flows.md)."
        )
        raise typer.Exit(1)
    try:
        serve_deployments(file, only=only, every_s=every, limit=limit)
    except ServeConfigError as exc:
        raise fail(str(exc)) from None
