"""`hcp leads ...`: the lead outbox from the command line (load, push, test, status, retry).

Thin: each command parses flags, calls one `pipelines/` function and prints its result object.
Configuration and lock errors are handled once by the app (`options.HcpGroup`); never prints a key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipelines import config
from pipelines.cli.options import AccountOption, DbOption, RoutesOption, fail, on_wait
from pipelines.config import Account, load_accounts
from pipelines.leads.failures import DEFAULT_MAX_FAILED_SHARE, raise_if_too_many_failed
from pipelines.leads.load import LoadError, LoadResult, Preview, load_leads, preview_file
from pipelines.leads.plan import PushPlan, plan_push
from pipelines.leads.profiles import ProfileBook, PushSettings, load_profiles, load_push_settings
from pipelines.leads.push import PushResult, push_leads
from pipelines.leads.smoke import send_test_lead
from pipelines.leads.status import accounts_with_pending, lead_status, retry_leads
from pipelines.warehouse import duckdb_lock
from sources.housecallpro.client import HCPClient

leads_app = typer.Typer(
    help="The lead outbox: load, push, test, status, retry.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True, soft_wrap=True)  # one message, one line

SHOWN_PROBLEMS = 20


@leads_app.command("load")
def load_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="Lead file (CSV/TSV; any common encoding; first line a header), e.g. a "
            "Facebook Lead Ads, Google Ads or LinkedIn export as downloaded."
        ),
    ],
    lead_source: Annotated[
        str | None, typer.Option("--lead-source", help="Lead Source for rows without one.")
    ] = None,
    route: Annotated[
        str | None, typer.Option("--route", help="Route for rows without one.")
    ] = None,
    account: Annotated[
        str, typer.Option("--account", help="HCP account these leads go to.")
    ] = "default",
    preview: Annotated[
        bool,
        typer.Option(
            "--preview", help="Show how the columns map and the first rows' outcome; stage nothing."
        ),
    ] = False,
    db: DbOption = None,
    routes_file: RoutesOption = None,
) -> None:
    """Stage a lead file into staging.leads (loading the same file twice stages nothing new)."""
    try:
        routes = load_profiles(routes_file)
        if preview:
            _print_preview(
                preview_file(
                    file, account=account, lead_source=lead_source, route=route, routes=routes
                )
            )
            return
        result = load_leads(
            file,
            db_path=db,
            account=account,
            lead_source=lead_source,
            route=route,
            routes=routes,
            on_wait=on_wait,
        )
    except LoadError as exc:
        raise fail(str(exc)) from None
    _print_file_format(result)
    out.print(
        f"{escape(file.name)}: {result.rows} rows -> [green]staged {result.staged}[/], "
        f"re-staged {result.restaged}, already staged {result.already_staged}, "
        f"[{'red' if result.failed else 'green'}]failed {result.failed}[/] "
        f"({result.duration_s:.1f}s, {config.db_path(db).name})"
    )
    if result.problems:
        table = Table(
            "line", "reason", title="Rows staged as failed_permanent", title_justify="left"
        )
        for problem in result.problems[:SHOWN_PROBLEMS]:
            table.add_row(str(problem.line), escape(problem.reason))
        out.print(table)
        more = result.failed - min(result.failed, SHOWN_PROBLEMS)
        if more:
            out.print(
                f"...and {more} more: SELECT error_reason FROM staging.leads WHERE status = 'failed_permanent'"
            )


def _print_file_format(result: LoadResult) -> None:
    """One line on how the file was read (preset, encoding, delimiter), then its notes."""
    name = Path(result.file).name
    recognised = f"recognised as a {result.preset} export; " if result.preset else ""
    out.print(
        escape(f"{name}: {recognised}{result.encoding}, {result.delimiter}-separated"),
        highlight=False,
    )
    for note in result.notes:
        err.print(f"[yellow]note: {escape(note)}[/]")


def _print_preview(preview: Preview) -> None:
    _print_file_format(preview.result)
    columns = Table("column", "becomes", title="Columns", title_justify="left")
    for cell, how in preview.columns:
        columns.add_row(escape(cell), escape(how))
    out.print(columns)
    rows = Table("line", "lead_id", "outcome", title="First rows", title_justify="left")
    for r in preview.rows:
        colour = "red" if r.outcome.startswith("would fail") else "green"
        rows.add_row(str(r.line), escape(r.lead_id), f"[{colour}]{escape(r.outcome)}[/]")
    out.print(rows)
    out.print("Preview only: nothing was staged and the database was not opened.")


def _print_plan(plan: PushPlan) -> None:
    table = Table(
        "lead_id",
        "action",
        "name",
        "email",
        "mobile",
        "lead source",
        "other fields",
        "dropped / reason",
        show_lines=True,
    )
    for p in plan.leads:
        payload = dict(p.payload or {})
        name = " ".join(str(payload.pop(k)) for k in ("first_name", "last_name") if k in payload)
        cells = [str(payload.pop(k, "")) for k in ("email", "mobile_number", "lead_source")]
        other = json.dumps(payload, ensure_ascii=False) if payload else ""
        why = f"[red]{escape(p.reason)}[/]" if p.reason else escape("\n".join(p.dropped))
        table.add_row(escape(p.lead_id), p.action, *(escape(c) for c in (name, *cells, other)), why)
    out.print(table)
    out.print(
        f"Dry run: would send {plan.count('send')}, reconcile {plan.count('reconcile')}, "
        f"fail {plan.count('fail')}; lead sources: {escape(', '.join(plan.lead_sources)) or 'none'}. "
        "Nothing was sent or changed."
    )


@leads_app.command("push")
def push_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the payloads; send and change nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most N leads this run.")
    ] = None,
    route: Annotated[str | None, typer.Option("--route", help="Only leads of this route.")] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="Only this account (default: all).")
    ] = None,
    max_failed_share: Annotated[
        float,
        typer.Option(
            "--max-failed-share",
            min=0.0,
            max=1.0,
            help="Exit 1 when more than this share of the leads handled failed (0.2 = 20%), "
            "as the hcp-push-leads flow fails its run.",
        ),
    ] = DEFAULT_MAX_FAILED_SHARE,
    db: DbOption = None,
    routes_file: RoutesOption = None,
) -> None:
    """Push staged leads to HCP as customers (exactly once per lead).

    Exits 2/3 when HCP refuses the key (as `hcp verify`), 1 when more than --max-failed-share
    of the leads it handled failed."""
    try:
        routes = load_profiles(routes_file)
        if route is not None:
            routes.get(route)
    except KeyError as exc:
        raise fail(exc.args[0]) from None
    if dry_run:
        plan = plan_push(
            db, account=account, route=route, limit=limit, routes=routes, on_wait=on_wait
        )
        if as_json:
            print(json.dumps([p.as_dict() for p in plan.leads], ensure_ascii=False, indent=2))
        else:
            _print_plan(plan)
        return
    accounts = load_accounts(account)
    settings = load_push_settings()
    results: list[PushResult] = []
    with duckdb_lock(config.db_path(db), on_wait=on_wait):  # one lock for the whole command
        _push_accounts(accounts, results, db, limit, route, routes, settings, as_json)
    if as_json:
        print(json.dumps([r.as_dict() for r in results], ensure_ascii=False, indent=2))
    elif account is None:
        configured = {a.name for a in accounts}
        for name, n in sorted(accounts_with_pending(db).items()):
            if name not in configured:
                err.print(
                    f"[yellow]{n} lead(s) for account {escape(name)!r} wait: no key is configured for it.[/]"
                )
    code = next((r.exit_code for r in results if r.exit_code), 0)
    if code:
        raise typer.Exit(code)
    raise_if_too_many_failed(
        sum(r.failed for r in results), sum(r.handled for r in results), max_failed_share
    )


def _push_accounts(
    accounts: list[Account],
    results: list[PushResult],
    db: Path | None,
    limit: int | None,
    route: str | None,
    routes: ProfileBook,
    settings: PushSettings,
    as_json: bool,
) -> None:
    for acct in accounts:
        result = push_leads(
            acct,
            db_path=db,
            limit=limit,
            route=route,
            routes=routes,
            settings=settings,
            on_event=None if as_json else lambda m: err.print(escape(m)),
            on_wait=on_wait,
        )
        results.append(result)
        if not as_json:
            _print_push(result)
        if result.exit_code:
            break  # a refused key stops the command (verify's exit code)


def _print_push(r: PushResult) -> None:
    if r.status == "stopped" and not r.claimed:
        err.print(f"[red]{escape(r.account)}: {escape(r.message)}[/]")
        return
    colour = "green" if r.status == "ok" else "red"
    out.print(
        f"[{colour}]{escape(r.account)}[/]: claimed {r.claimed} -> sent {r.sent}"
        f" ({r.reconciled} reconciled), linked {r.linked}, skipped {r.skipped}, "
        f"failed_permanent {r.failed_permanent}, "
        f"failed_retryable {r.failed_retryable}, requeued {r.requeued}; {r.requests} requests in "
        f"{r.duration_s:.1f}s ({r.leads_per_s:.1f} leads/s)"
    )
    if r.lead_sources_created:
        out.print(f"Lead sources created in HCP: {escape(', '.join(r.lead_sources_created))}")
    if r.status != "ok":
        err.print(f"[red]{escape(r.message)}[/]")
    if r.failed_permanent or r.failed_retryable:
        out.print(
            "Why: `hcp leads status`, or SELECT lead_id, error_reason FROM staging.leads WHERE status LIKE 'failed%'"
        )


@leads_app.command("test")
def test_command(
    account: Annotated[
        str, typer.Option("--account", help="HCP account to send it to.")
    ] = "default",
) -> None:
    """Send HCP's test lead ("Test Lead", test+hcp-sync@example.com) as a customer; not staged."""
    [acct] = load_accounts(account)
    with HCPClient.from_account(acct) as client:
        result = send_test_lead(client)
    if result.exit_code:
        raise fail(result.message, result.exit_code)
    out.print(f"[green]{escape(result.message)}[/]")


def _print_status(report: Any) -> None:
    if not report.counts:
        out.print(
            "No leads staged yet: `hcp leads load FILE.csv`, or INSERT INTO staging.leads "
            "(on a fresh warehouse `hcp leads retry` creates the tables first; docs/leads.md)."
        )
        return
    counts = Table("account", "status", "leads", title="Leads by status", title_justify="left")
    for account, status, n in report.counts:
        counts.add_row(escape(account), status, str(n))
    out.print(counts)
    if report.runs:
        runs = Table(
            "started",
            "account",
            "status",
            "sent",
            "linked",
            "skipped",
            "failed",
            "retryable",
            "requests",
            "error",
            title="Last push runs",
            title_justify="left",
        )
        for r in report.runs:
            runs.add_row(
                str(r.get("started_at"))[:19],
                str(r.get("account")),
                str(r.get("status")),
                str(r.get("sent")),
                str(r.get("linked")),
                str(r.get("skipped")),
                str(r.get("failed_permanent")),
                str(r.get("failed_retryable")),
                str(r.get("requests")),
                escape(str(r.get("error") or "")),
            )
        out.print(runs)
    if report.reasons:
        reasons = Table(
            "leads", "reason", "example", title="Most common failure reasons", title_justify="left"
        )
        for r in report.reasons:
            reasons.add_row(
                str(r.leads), escape(r.reason), escape(f"{r.example_lead_id}: {r.example}")
            )
        out.print(reasons)


@leads_app.command("status")
def status_command(
    account: AccountOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Counts by status per account, the last runs, the most common failure reasons."""
    report = lead_status(db, account=account, on_wait=on_wait)
    if as_json:
        print(json.dumps(report.as_dict(), default=str, ensure_ascii=False, indent=2))
    else:
        _print_status(report)


@leads_app.command("retry")
def retry_command(
    permanent: Annotated[
        bool,
        typer.Option(
            "--permanent", help="Also requeue failed_permanent leads (after you fixed them)."
        ),
    ] = False,
    account: AccountOption = None,
    db: DbOption = None,
) -> None:
    """Requeue failed_retryable leads (and failed_permanent with --permanent) as pending."""
    n = retry_leads(db, permanent=permanent, account=account, on_wait=on_wait)
    which = "failed_retryable and failed_permanent" if permanent else "failed_retryable"
    out.print(f"Requeued {n} {which} lead(s) as pending; `hcp leads push` sends them.")
