"""`hcp verify`: is the key good? GET /company, one line, an exit code scripts can test."""

from __future__ import annotations

import dataclasses

import typer
from rich.console import Console
from rich.markup import escape

from pipelines.config import ConfigError, load_accounts
from pipelines.verify import EXIT_OTHER, verify_account
from sources.housecallpro.client import HCPClient


def verify_command(
    account: str | None = typer.Option(None, "--account", help="Only this named account."),
    base_url: str | None = typer.Option(None, "--base-url", help="Override the HCP base URL."),
) -> None:
    """Check each configured key with GET /company (creates nothing). Exit 0 ok, 2 invalid token, 3 permission, 1 other."""
    console = Console()
    try:
        accounts = load_accounts(account)
    except ConfigError as exc:
        console.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(EXIT_OTHER) from None
    if base_url:
        accounts = [dataclasses.replace(a, base_url=base_url.rstrip("/")) for a in accounts]
    worst = 0
    for acct in accounts:
        with HCPClient.from_account(acct, max_retries=2, timeout=20.0) as client:
            result = verify_account(client)
        label = f"[bold]{acct.name}[/]: " if len(accounts) > 1 or acct.name != "default" else ""
        colour = "green" if result.ok else "red"
        console.print(f"{label}[{colour}]{escape(result.message)}[/]")
        worst = worst or result.exit_code
    raise typer.Exit(worst)
