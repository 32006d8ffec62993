"""What every `hcp` command shares: option types, the errors handled once, the printing helpers.

A flag several commands take is declared here once (`--db`, `--account`, `--base-url`,
`--routes`), so its name and help read the same everywhere. `HcpGroup` is the `hcp` app's click
group: a configuration problem (`ConfigError`), a DuckDB file held too long by another process
(`LockTimeout`, or DuckDB's own lock error when a program outside hcp has the file), a port in
use (`PortInUse`) or a push where too many leads failed (`TooManyFailedLeads`), from any
command, ends as one red line on stderr and exit 1, never a traceback; commands handle only
their own domain errors. Messages come from exceptions that already redact the key; nothing
here may print an account's key.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import click
import duckdb
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from pipelines.config import Account, ConfigError, checked_base_url, load_accounts
from pipelines.leads.failures import TooManyFailedLeads
from pipelines.verify import EXIT_OTHER
from pipelines.warehouse import LockTimeout, held_elsewhere_message, is_lock_conflict
from sandbox.server import PortInUse

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db", help="DuckDB file (default: DESTINATION__DUCKDB__CREDENTIALS or hcp_sync.duckdb)."
    ),
]
AccountOption = Annotated[str | None, typer.Option("--account", help="Only this named account.")]
BaseUrlOption = Annotated[str | None, typer.Option("--base-url", help="Override the HCP base URL.")]
RoutesOption = Annotated[
    Path | None,
    typer.Option("--routes", help="Route file (default: leads_routes.toml in the working folder)."),
]


def fail(message: str, code: int = EXIT_OTHER) -> typer.Exit:
    """Print `message` as one red line on stderr (never wrapped to the terminal's width);
    returns the exit to raise: `raise fail(...)`."""
    Console(stderr=True, soft_wrap=True).print(f"[red]{escape(message)}[/]")
    return typer.Exit(code)


def on_wait(message: str) -> None:
    """The `on_wait` of every command: another process holds the DuckDB file, say so on stderr."""
    Console(stderr=True, soft_wrap=True).print(f"[yellow]{escape(message)}[/]")


def accounts_for(account: str | None, base_url: str | None = None) -> list[Account]:
    """The configured accounts (or the one `--account` names), sent to `--base-url` if given."""
    accounts = load_accounts(account)
    if base_url:
        url = checked_base_url(base_url, "--base-url")
        accounts = [dataclasses.replace(a, base_url=url) for a in accounts]
    return accounts


def names_accounts(accounts: list[Account]) -> bool:
    """Whether result lines name their account: several of them, or one not called `default`."""
    return len(accounts) > 1 or accounts[0].name != "default"


HANDLED: tuple[type[Exception], ...] = (ConfigError, LockTimeout, PortInUse, TooManyFailedLeads)
"""Errors any command may end with whose message is the whole story: a setting to fix, a file
or port another process holds, a push where too many leads failed (its outcomes are already
printed and stored). Each becomes one red line on stderr and exit 1."""


class HcpGroup(TyperGroup):
    """The `hcp` group: the one place configuration and lock errors become a clean exit.

    Here rather than in `main()` so that every way of running the app (the `hcp` script,
    `python -m pipelines.cli`, typer's `CliRunner` in tests) reports them the same.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HANDLED as exc:
            raise fail(str(exc)) from None
        except duckdb.IOException as exc:
            # a program outside hcp opened the file after our lock's probe let us in
            if not is_lock_conflict(exc):
                raise
            raise fail(held_elsewhere_message(None, exc)) from None
