"""`hcp push <object> FILE.csv | --sql "SELECT ..."`, `hcp push status`, `hcp push retry`.

Thin: each command parses flags, calls one `pipelines/push` function and prints its result.
One command per object in `pipelines/push/objects.OBJECTS`, built in a loop. Never prints a key.
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
from pipelines.cli.options import BaseUrlOption, DbOption, fail, on_wait
from pipelines.push.objects import OBJECTS, PushObject
from pipelines.push.run import ObjectPushResult, push_objects
from pipelines.push.stage import StageError, StageResult, read_csv, read_sql, stage
from pipelines.push.status import PlannedRow, dry_run, push_status, retry_rows
from pipelines.warehouse import connect

push_app = typer.Typer(
    help="Create and update HCP objects from warehouse rows, exactly once (docs/push.md).",
    no_args_is_help=True,
)
out = Console()
SHOWN = 20

FileArg = Annotated[
    Path | None,
    typer.Argument(help="CSV of rows: key, operation, uuid/id, then HCP's field names."),
]
SqlOption = Annotated[
    str | None, typer.Option("--sql", help="Rows from a warehouse query instead of a file.")
]
OperationOption = Annotated[
    str | None,
    typer.Option("--operation", help="Operation for rows without an `operation` column."),
]
AccountName = Annotated[str, typer.Option("--account", help="HCP account to write to.")]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Show the exact requests and the diff; send nothing.")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
LimitOption = Annotated[int | None, typer.Option("--limit", help="Push at most N rows.")]


def _records(file: Path | None, sql: str | None, db: Path | None) -> list[dict[str, Any]] | None:
    if file is not None and sql is not None:
        raise fail("give FILE or --sql, not both")
    try:
        if file is not None:
            return read_csv(file)
        if sql is not None:
            with connect(config.db_path(db), read_only=True, on_wait=on_wait) as con:
                return read_sql(con, sql)
    except StageError as exc:
        raise fail(str(exc)) from None
    return None


def _object_command(obj: PushObject) -> Any:
    def command(
        file: FileArg = None,
        sql: SqlOption = None,
        operation: OperationOption = None,
        account: AccountName = "default",
        dry_run_: DryRun = False,
        limit: LimitOption = None,
        db: DbOption = None,
        base_url: BaseUrlOption = None,
        as_json: JsonFlag = False,
    ) -> None:
        records = _records(file, sql, db)
        if dry_run_:
            if records is None:
                raise fail("--dry-run needs FILE or --sql (the rows to plan)")
            try:
                plan = dry_run(
                    obj.name,
                    records,
                    db_path=db,
                    account=account,
                    operation=operation,
                    on_wait=on_wait,
                )
            except StageError as exc:
                raise fail(str(exc)) from None
            _print_plan(obj, plan, as_json)
            return
        if records is not None:
            try:
                with connect(config.db_path(db), on_wait=on_wait) as con:
                    staged = stage(con, obj.name, records, account=account, operation=operation)
            except StageError as exc:
                raise fail(str(exc)) from None
            if not as_json:
                _print_staged(staged)
        acct = config.load_account(account, base_url)
        result = push_objects(
            obj.name,
            acct,
            db_path=db,
            limit=limit,
            on_event=None if as_json else lambda m: out.print(escape(m), highlight=False),
            on_wait=on_wait,
        )
        _print_result(result, as_json)
        if result.exit_code:
            raise typer.Exit(result.exit_code)

    command.__doc__ = (
        f"{obj.name}: {' / '.join(obj.operations)} (natural key: "
        f"{', '.join(obj.natural_key) or 'none: updates only'})."
    )
    return command


for _obj in OBJECTS.values():
    push_app.command(_obj.name)(_object_command(_obj))


@push_app.command("status")
def status_command(
    account: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
    db: DbOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Rows by object and status, the last runs, the commonest failure reasons."""
    report = push_status(db, account=account, on_wait=on_wait)
    if as_json:
        out.print_json(json.dumps(report.as_dict(), default=str))
        return
    if not report.counts:
        out.print("nothing staged yet: hcp push <object> FILE.csv")
        return
    table = Table("object", "status", "rows", title="staging.push_rows", title_justify="left")
    for o, s, n in report.counts:
        table.add_row(o, s, str(n))
    out.print(table)
    for o, r, n in report.reasons:
        out.print(f"{o}: {n} x {escape(r)}", highlight=False)


@push_app.command("retry")
def retry_command(
    obj: Annotated[str | None, typer.Option("--object", help="Only this object.")] = None,
    account: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
    permanent: Annotated[
        bool, typer.Option("--permanent", help="Also failed_permanent rows (after a fix).")
    ] = False,
    db: DbOption = None,
) -> None:
    """Failed rows back to pending; the next `hcp push <object>` sends them."""
    if obj is not None and obj not in OBJECTS:
        raise fail(f"unknown object {obj!r} (known: {', '.join(OBJECTS)})")
    n = retry_rows(db, obj=obj, account=account, permanent=permanent, on_wait=on_wait)
    out.print(f"{n} row(s) back to pending")


def _print_staged(staged: StageResult) -> None:
    failed = staged.failed
    out.print(
        f"{staged.object}: {len(staged.rows)} rows -> staged {staged.inserted}, re-staged "
        f"{staged.restaged}, already staged {staged.already_staged}, failed {len(failed)}",
        highlight=False,
    )
    for s in failed[:SHOWN]:
        out.print(f"[red]{escape(s.reason or '')}[/]")


def _print_result(r: ObjectPushResult, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(r.as_dict(), default=str))
        return
    counts = ", ".join(f"{k} {v}" for k, v in r.counts.items())
    colour = "green" if r.status == "ok" else "red"
    out.print(
        f"{r.account}: {r.object} [{colour}]{r.status}[/] ({counts}; {r.writes} writes, "
        f"{r.requests} requests, {r.duration_s:.1f}s)",
        highlight=False,
    )
    if r.message and r.status != "ok":
        out.print(f"[red]{escape(r.message)}[/]")


def _print_plan(obj: PushObject, plan: list[PlannedRow], as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps([p.as_dict() for p in plan], default=str))
        return
    for p in plan:
        if p.action == "fail":
            out.print(f"[red]fail[/] {escape(p.key)}: {escape(p.reason or '')}", highlight=False)
            continue
        req = p.request or {}
        query = "?" + "&".join(f"{k}={v}" for k, v in req["query"].items()) if req["query"] else ""
        out.print(
            f"{p.action} {escape(p.key)}: {req['method']} {escape(req['path'] + query)} "
            f"{escape(json.dumps(req['body'], default=str))}",
            highlight=False,
        )
        if p.diff:
            for field, (have, want) in p.diff.items():
                out.print(f"    {field}: {have!r} -> {want!r}", highlight=False)
        elif p.diff is None and p.operation != "create":
            out.print("    (not in the synced raw table: sent as is)")
    sends = sum(1 for p in plan if p.action == "send")
    same = sum(1 for p in plan if p.action == "unchanged")
    bad = sum(1 for p in plan if p.action == "fail")
    out.print(f"{obj.name}: {sends} to send, {same} unchanged, {bad} failing; nothing sent")
