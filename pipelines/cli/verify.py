"""`hcp verify`: is the key good? GET /company, one line, an exit code scripts can test.

Never prints a key: the lines are `verify_account`'s messages, which name the company or the
problem only.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from pipelines.cli.options import AccountOption, BaseUrlOption, accounts_for, names_accounts
from pipelines.verify import verify_account
from sources.housecallpro.client import HCPClient


def verify_command(account: AccountOption = None, base_url: BaseUrlOption = None) -> None:
    """Check each configured key with GET /company (creates nothing). Exit 0 ok, 2 invalid token, 3 permission, 1 other."""
    console = Console(soft_wrap=True)  # one account, one line
    accounts = accounts_for(account, base_url)
    worst = 0
    for acct in accounts:
        with HCPClient.from_account(acct, max_retries=2, timeout=20.0) as client:
            result = verify_account(client)
        label = f"[bold]{acct.name}[/]: " if names_accounts(accounts) else ""
        colour = "green" if result.ok else "red"
        console.print(f"{label}[{colour}]{escape(result.message)}[/]")
        worst = worst or result.exit_code
    raise typer.Exit(worst)
