"""`hcp sync`: HCP -> warehouse with a live per-object display and a summary table.

The work is `pipelines.sync.sync_account`, once per configured account (or the one `--account`
names); this module only parses flags, shows progress and turns the results into words and an
exit code (0 ok; 2/3 from a key check, as `hcp verify`; 1 anything else). One account failing
never stops the next; with several accounts a last line names the failed ones. Never prints a key.
"""

from __future__ import annotations

import dataclasses
import os
import threading

import typer
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from pipelines.cli.options import (
    AccountOption,
    BaseUrlOption,
    DbOption,
    accounts_for,
    fail,
    names_accounts,
)
from pipelines.config import ConfigError
from pipelines.config import db_path as configured_db_path
from pipelines.config import destination as configured_destination
from pipelines.sync import DATASET, SyncResult, parse_objects, summarize, sync_account
from pipelines.verify import EXIT_OTHER
from pipelines.warehouse import LockTimeout
from sources.housecallpro.figures import ObjectFigures

_STATUS = {
    "pending": "[dim]waiting[/]",
    "running": "[cyan]reading[/]",
    "ok": "[green]ok[/]",
    "skipped": "[yellow]skipped[/]",
    "failed": "[red]failed[/]",
    "not run": "[dim]not run[/]",
}


class _Progress:
    """Per-object pages and rows, redrawn by rich.Live (callbacks arrive from many threads)."""

    def __init__(self, tables: list[str]) -> None:
        self.rows: dict[str, ObjectFigures] = {t: ObjectFigures(t) for t in tables}
        self._lock = threading.Lock()

    def __call__(self, table: str, report: ObjectFigures) -> None:
        with self._lock:
            self.rows[table] = dataclasses.replace(report)

    def __rich__(self) -> Table:
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        for col, justify in (
            ("object", "left"),
            ("", "left"),
            ("pages", "right"),
            ("rows", "right"),
        ):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        with self._lock:
            for rep in self.rows.values():
                table.add_row(
                    rep.table, _STATUS.get(rep.status, rep.status), str(rep.pages), str(rep.rows)
                )
        return table


def summary_table(result: SyncResult) -> Table:
    table = Table(title=f"hcp sync: {result.account}", title_justify="left")
    table.add_column("object")
    table.add_column("status")
    table.add_column("read")
    for name in ("rows", "requests", "retries", "429s", "seconds"):
        table.add_column(name, justify="right")
    for obj in result.objects.values():
        table.add_row(
            obj.table,
            _STATUS.get(obj.status, obj.status),
            obj.mode,
            f"{obj.rows:,}",
            str(obj.requests),
            str(obj.retries),
            str(obj.rate_limited),
            f"{obj.seconds:.1f}",
        )
    total_rows = sum(o.rows for o in result.objects.values())
    table.add_row(
        "[bold]total[/]",
        "",
        "",
        f"[bold]{total_rows:,}[/]",
        f"[bold]{result.requests}[/]",
        str(sum(o.retries for o in result.objects.values())),
        str(sum(o.rate_limited for o in result.objects.values())),
        f"[bold]{result.seconds:.1f}[/]",
    )
    return table


def rate_limit_line(figures: dict[str, float]) -> str | None:
    """What the rate limit cost this run, in one line; None when nothing limited it.

    Says why a sync took longer than its reads: turns waited for (the configured pace) and
    pauses HCP's 429s forced, so a user can tell a slow HCP from a tight limit.
    """
    configured = figures.get("configured_rate", 0.0)
    waited, paused = figures.get("waited_s", 0.0), figures.get("paused_s", 0.0)
    slowdowns = int(figures.get("slowdowns", 0))
    if not configured and not paused and not slowdowns:
        return None
    pace = f"{configured:g} request(s)/s per key" if configured else "no configured pace"
    parts = [f"rate limit: {pace}", f"{waited:.1f} s waited for turns (all threads)"]
    if slowdowns or paused:
        parts.append(f"{paused:.1f} s paused after 429s, {slowdowns} slowdown(s)")
        if configured and figures.get("rate", configured) < configured:
            parts.append(f"ended at {figures['rate']:.2g}/s")
    return "; ".join(parts)


def sync_command(
    objects: str | None = typer.Option(
        None, "--objects", help="Comma-separated tables to sync (default: all)."
    ),
    full_refresh: bool = typer.Option(
        False, "--full-refresh", help="Re-read every object in full and merge (never drops tables)."
    ),
    account: AccountOption = None,
    db: DbOption = None,
    base_url: BaseUrlOption = None,
    destination: str | None = typer.Option(
        None,
        "--destination",
        help="dlt destination (default duckdb, or SYNC__DESTINATION): postgres, motherduck, "
        "bigquery, ... with dlt's credentials settings (DESTINATION__POSTGRES__CREDENTIALS).",
    ),
) -> None:
    """HCP -> warehouse: every object of every account, incremental and merged; progress, then a
    summary per object and account."""
    console = Console()
    err = Console(stderr=True, soft_wrap=True)  # one message, one line
    # dlt's per-column notes ("column X received no data") would drown the summary
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    try:
        selected = parse_objects(objects)
    except ValueError as exc:
        raise fail(str(exc)) from None
    accounts = accounts_for(account, base_url)
    dest = configured_destination(destination)
    path = configured_db_path(db) if dest == "duckdb" else None
    where_to = f" Warehouse: {path}" if path else f" Warehouse: {dest}, dataset {DATASET}."
    results: list[SyncResult] = []
    for acct in accounts:
        progress = _Progress(selected)
        try:
            with Live(progress, console=console, refresh_per_second=8, transient=True):
                result = sync_account(
                    acct,
                    path,
                    objects=selected,
                    full_refresh=full_refresh,
                    progress=progress,
                    destination=dest,
                )
        except (LockTimeout, ConfigError):
            raise  # a busy file or a wrong setting: no account can sync (HcpGroup says so once)
        except Exception as exc:  # noqa: BLE001 - one account's crash must not stop the others
            result = SyncResult(acct.name, False, EXIT_OTHER, f"{type(exc).__name__}: {exc}")
        results.append(result)
        if result.objects:
            console.print(summary_table(result))
        if line := rate_limit_line(result.rate_limit):
            console.print(escape(line), style="dim")
        for obj in result.skipped:
            console.print(f"[yellow]{obj.table} skipped: {escape(obj.error or '')}[/]")
        for obj in result.failed:
            err.print(f"[red]{obj.table} failed: {escape(obj.error or '')}[/]")
        for table, n in result.deleted.items():
            if n:
                console.print(f"[yellow]{table}: {n} record(s) no longer in HCP, flagged[/]")
        if result.webhooks_drained:
            console.print(
                f"webhooks: {result.webhooks_drained} delivery(ies) drained, "
                f"{result.webhooks_applied} applied before the read"
            )
        if result.webhooks_error:
            err.print(f"[red]webhooks not drained: {escape(result.webhooks_error)}[/]")
        colour = "green" if result.ok else "red"
        where = where_to if result.ok else ""
        label = f"{acct.name}: " if names_accounts(accounts) else ""
        (console if result.ok else err).print(
            f"[{colour}]{label}{escape(result.message)}{where}[/]"
        )
    code, line = summarize(results)
    if len(results) > 1:
        (console if code == 0 else err).print(
            f"[{'green' if code == 0 else 'red'}]{escape(line)}[/]", soft_wrap=True
        )
    raise typer.Exit(code)
