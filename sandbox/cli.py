"""The sandbox's command line, one home for `hcp sandbox` and `python -m sandbox` (docs/sandbox.md).

Flags become `SandboxSettings` (a bad value is a usage error, exit 2); the server is
`sandbox.server`. The first stdout line is the base URL (`--port 0` picks a free port), so a
parent process (benchmarks, tests) can read it; the banner follows unless `--quiet`. It listens
on loopback unless `--host` says otherwise: its admin API is open.
"""

from __future__ import annotations

import typer
from rich.console import Console

from sandbox.banner import banner
from sandbox.server import SandboxHandle, serve
from sandbox.settings import DEFAULT_FAULTS, SandboxSettings, parse_faults


def sandbox_command(
    port: int = typer.Option(8765, "--port", help="Port to listen on (0 = any free port)."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface; keep loopback, the admin API is open."
    ),
    seed: int = typer.Option(
        42, "--seed", help="Seed of the generated data (same seed, same data)."
    ),
    scale: float = typer.Option(
        1.0, "--scale", help="1 = a small shop; 10 = ten times the big objects."
    ),
    companies: int = typer.Option(
        1,
        "--companies",
        help="Serve N HCP accounts on this URL, told apart by key (company n: keys end in -n).",
    ),
    fault_rate: float = typer.Option(
        0.0, "--fault-rate", help="Share of API requests that fail (0.1 = 10%)."
    ),
    faults: str = typer.Option(
        ",".join(DEFAULT_FAULTS), "--faults", help="Fault kinds: 500,502,503,slow,drop,lost."
    ),
    fault_seed: int | None = typer.Option(
        None, "--fault-seed", help="Seed of the fault dice (default: --seed)."
    ),
    slow_seconds: float = typer.Option(
        35.0, "--slow-seconds", help="How long a `slow` fault holds a request."
    ),
    rate_limit: float = typer.Option(
        0.0, "--rate-limit", help="Requests per second per key (0 = unlimited)."
    ),
    latency_ms: float = typer.Option(0.0, "--latency-ms", help="Added to every API response."),
    api_key: str = typer.Option("sandbox-key", "--api-key", help="The full-access key."),
    reject_duplicate_emails: bool = typer.Option(
        False,
        "--reject-duplicate-emails",
        help="A second customer with the same email is 422 'Duplicate customer' "
        "(default: accepted, as live HCP does).",
    ),
    allow_duplicate_emails: bool = typer.Option(
        False,
        "--allow-duplicate-emails",
        help="No-op: accepting duplicate emails is the default now.",
    ),
    strict_lead_sources: bool = typer.Option(
        False,
        "--strict-lead-sources",
        help="Unknown lead source -> 422 'Lead source not found' (default: auto-add).",
    ),
    company_key_only: bool = typer.Option(
        False,
        "--company-key-only",
        help="The main key gets 403 on /routes, /service_zones and price-book services.",
    ),
    served_page_size: int = typer.Option(
        0,
        "--served-page-size",
        help="Serve at most N rows a page while total_pages counts pages of the size asked "
        "(a live account's shape; 0 = off).",
    ),
    churn_every: int = typer.Option(
        0,
        "--churn-every",
        help="Every N-th list request of an object edits or creates one of its records, so "
        "pages shift while a sync reads them (0 = off).",
    ),
    webhook_url: str = typer.Option(
        "",
        "--webhook-url",
        help="POST a signed HCP event for each write to this loopback URL "
        "(e.g. http://127.0.0.1:8787/webhooks/default).",
    ),
    webhook_secret: str = typer.Option(
        "", "--webhook-secret", help="The Signing Secret the events are signed with."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="Print only the base URL."),
) -> None:
    """Serve a local Housecall Pro API with seeded data, faults and rate limits."""
    if reject_duplicate_emails and allow_duplicate_emails:
        raise typer.BadParameter(
            "--reject-duplicate-emails and --allow-duplicate-emails contradict each other"
        )
    try:
        settings = SandboxSettings(
            seed=seed,
            scale=scale,
            companies=companies,
            fault_rate=fault_rate,
            faults=parse_faults(faults),
            fault_seed=fault_seed,
            slow_seconds=slow_seconds,
            rate_limit=rate_limit,
            latency_ms=latency_ms,
            api_key=api_key,
            reject_duplicate_email=reject_duplicate_emails,
            strict_lead_sources=strict_lead_sources,
            app_key_objects=not company_key_only,
            served_page_size=served_page_size,
            churn_every=churn_every,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    console = Console(highlight=False)

    def ready(handle: SandboxHandle) -> None:
        # the first stdout line is the bare base URL, so a parent process can read it
        print(handle.base_url, flush=True)
        if not quiet:
            console.print("\n".join(banner(handle.base_url, handle.settings)), markup=False)
            console.print("Ctrl-C stops it.", style="dim")

    serve(settings, host=host, port=port, on_ready=ready)


def main(argv: list[str] | None = None) -> None:
    """`python -m sandbox`: the same command without the rest of `hcp` (benchmarks spawn it)."""
    app = typer.Typer(add_completion=False)
    app.command()(sandbox_command)
    app(args=argv, prog_name="python -m sandbox")
