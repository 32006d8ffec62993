"""`hcp serve`: the schedules of `prefect.yaml`, served from this one process (no work pool)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True)


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

    Runs show in the Prefect UI of the server PREFECT_API_URL points at (`prefect server start`);
    without one, Prefect runs a temporary server inside this process.
    """
    from pipelines.serve import ServeConfigError, serve_deployments

    try:
        serve_deployments(file, only=only, every_s=every, limit=limit)
    except ServeConfigError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
