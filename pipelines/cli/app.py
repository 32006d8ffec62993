"""`hcp`: one command line over `pipelines/`. Each command group lives in `pipelines/cli/`."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from pipelines.cli import demo, report, sandbox, serve, sync, transform, verify
from pipelines.cli.leads import leads_app

app = typer.Typer(
    name="hcp",
    help="Housecall Pro <-> warehouse: sync HCP into DuckDB, push leads into HCP, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals could hold an API key
)
app.command("demo")(demo.demo_command)
app.command("sandbox")(sandbox.sandbox_command)
app.command("verify")(verify.verify_command)
app.command("sync")(sync.sync_command)
app.add_typer(leads_app, name="leads")
app.command("transform")(transform.transform_command)
app.add_typer(report.report_app, name="report")
app.command("serve")(serve.serve_command)


def main() -> None:
    """The `hcp` entry point: configuration and lock problems are one clear line, not a traceback."""
    from pipelines.config import ConfigError
    from pipelines.warehouse import LockTimeout

    try:
        app()
    except (ConfigError, LockTimeout) as exc:
        Console(stderr=True).print(f"[red]{escape(str(exc))}[/]")
        sys.exit(1)


if __name__ == "__main__":
    main()
