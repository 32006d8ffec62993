"""`hcp`: one command line over `pipelines/`. Each command (or group) lives in its own module here.

This module only assembles them; what they share (options, error handling) is in `options`.
"""

from __future__ import annotations

import typer

from pipelines.cli import demo, report, sandbox, serve, sync, transform, verify
from pipelines.cli.leads import leads_app
from pipelines.cli.options import HcpGroup
from pipelines.cli.push import push_app
from pipelines.cli.webhooks import webhooks_app

app = typer.Typer(
    name="hcp",
    cls=HcpGroup,  # ConfigError / LockTimeout from any command: one red line, exit 1
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
app.add_typer(push_app, name="push")
app.command("transform")(transform.transform_command)
app.add_typer(report.report_app, name="report")
app.command("serve")(serve.serve_command)
app.add_typer(webhooks_app, name="webhooks")


def main() -> None:
    """The `hcp` entry point (the `[project.scripts]` one and `python -m pipelines.cli`)."""
    app()


if __name__ == "__main__":
    main()
