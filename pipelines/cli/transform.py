"""`hcp transform`: rebuild the `analytics` models from the synced raw data.

Prints each model as it is built, then the audits; a blocking audit or a broken model is one red
line and exit 1 (nothing committed, `pipelines.transform` guarantees it).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from pipelines.cli.options import DbOption, fail, on_wait
from pipelines.config import db_path as configured_db_path
from pipelines.transform import AuditError, TransformError, run_transforms
from transforms.project import ProjectError


def transform_command(
    db: DbOption = None,
    seeds: Path | None = typer.Option(
        None,
        "--seeds",
        help="A folder with your own marketing_spend.csv and/or lead_source_map.csv; they "
        "replace the package's (default: transform.seeds_dir in .dlt/config.toml, or TRANSFORM__SEEDS_DIR).",
    ),
) -> None:
    """Apply transforms/ into schema `analytics` (dependency order, audited, all-or-nothing)."""
    console = Console()
    path = configured_db_path(db)
    try:
        result = run_transforms(
            path,
            seeds_dir=seeds,
            on_model=lambda m: console.print(
                f"  [green]built[/] {m.name} [dim]({m.rows:,} rows, {m.seconds:.2f}s)[/]"
            ),
            on_wait=on_wait,
        )
    except (AuditError, TransformError, ProjectError) as exc:
        raise fail(str(exc)) from None
    warnings = [a for a in result.failed_audits if not a.audit.blocking]
    passed = sum(a.passed for a in result.audits)
    console.print(
        f"[green]{len(result.models)} models built in schema analytics of {escape(str(path))}; "
        f"{passed}/{len(result.audits)} audits passed[/]"
    )
    for a in warnings:
        console.print(
            f"[yellow]warning[/] {escape(a.audit.name)}: {a.bad_rows} row(s), e.g. {escape(str(a.sample[:2]))}"
        )
    for note in result.notes:
        console.print(f"[dim]note: {escape(note)}[/]")
