"""`hcp webhooks serve|drain`: receive HCP's webhooks on loopback and spool them; drain the spool.

The receiver is `pipelines.webhooks.receiver` and the drain `pipelines.webhooks.drain`; this
module only reads the configuration (secrets, tolerance, spool path), runs the receiver under
uvicorn and prints what a drain did. It binds 127.0.0.1 unless `--host`
says otherwise: put an HTTPS proxy in front of it. It never prints a secret, only account names.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from pipelines import config
from pipelines.cli.options import DbOption
from pipelines.webhooks.drain import drain
from pipelines.webhooks.receiver import create_app
from pipelines.webhooks.spool import Spool

SpoolOption = Annotated[
    Path | None,
    typer.Option(
        "--spool",
        help="Spool file (default: webhook_spool, else <db>.webhooks.sqlite beside DuckDB).",
    ),
]

webhooks_app = typer.Typer(
    help="Receive HCP webhooks into a durable spool (drained into the warehouse by hcp sync).",
    no_args_is_help=True,
)


@webhooks_app.command("serve")
def serve_command(
    host: Annotated[
        str, typer.Option("--host", help="Interface; keep loopback behind an HTTPS proxy.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8787,
    spool: SpoolOption = None,
    tolerance: Annotated[
        float | None,
        typer.Option(
            "--tolerance",
            min=1,
            help="Seconds Api-Timestamp may differ from this clock (default: "
            "webhook_tolerance_s, else 300).",
        ),
    ] = None,
) -> None:
    """Serve POST /webhooks/<account> (account `default` with one key) and GET /healthz."""
    secrets = config.webhook_secrets()
    tolerance_s = config.webhook_tolerance_s(tolerance)
    spool_path = config.webhook_spool_path(spool)
    # the receiver's own lines (refusals, probes, spool failures) beside uvicorn's; they name
    # the account and the reason, never a body or a secret
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    console = Console(highlight=False, stderr=True)
    with Spool(spool_path) as store:
        app = create_app(secrets, store, tolerance_s=tolerance_s)
        for account in sorted(secrets):
            console.print(f"Receiving HCP webhooks at http://{host}:{port}/webhooks/{account}")
        console.print(f"Spool: {spool_path} (tolerance {tolerance_s:g} s). Ctrl-C stops.")
        uvicorn.run(app, host=host, port=port, log_level="info", lifespan="off")


@webhooks_app.command("drain")
def drain_command(
    db: DbOption = None,
    account: Annotated[
        list[str] | None,
        typer.Option("--account", help="Only this account (repeatable; default: all configured)."),
    ] = None,
    spool: SpoolOption = None,
) -> None:
    """Apply the spooled events to the warehouse now, without reading HCP (`hcp sync` and the
    hcp-webhooks-drain deployment do the same on their schedules)."""
    accounts = account or config.account_names() or ["default"]
    for result in drain(db, accounts, spool_path=spool):
        Console(highlight=False).print(result.line())
