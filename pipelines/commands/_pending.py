"""A clear message for commands whose issue has not landed yet."""

from __future__ import annotations

import typer
from rich.console import Console


def not_yet(command: str, issue: int) -> None:
    Console(stderr=True).print(
        f"[yellow]`hcp {command}` is not available in this version yet (tracked in issue {issue}).[/]"
    )
    raise typer.Exit(1)
