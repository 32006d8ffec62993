"""`python -m sandbox`: the sandbox in its own process (benchmarks, memory measurements).

The first stdout line is the base URL (`--port 0` picks a free port), so a parent process can
read it; the banner follows. Stops on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys

from sandbox.banner import banner
from sandbox.server import SandboxHandle, serve
from sandbox.settings import DEFAULT_FAULTS, SandboxSettings, parse_faults


def parse_args(argv: list[str] | None = None) -> tuple[SandboxSettings, str, int, bool]:
    p = argparse.ArgumentParser(
        prog="python -m sandbox", description="Local Housecall Pro API sandbox"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 = any free port")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument(
        "--companies",
        type=int,
        default=1,
        help="serve N HCP accounts, told apart by key (company n: keys end in -n)",
    )
    p.add_argument("--fault-rate", type=float, default=0.0, help="share of requests, 0.1 = 10%%")
    p.add_argument(
        "--faults",
        default=",".join(DEFAULT_FAULTS),
        help="comma list of 500,502,503,slow,drop,lost",
    )
    p.add_argument("--fault-seed", type=int, default=None)
    p.add_argument("--slow-seconds", type=float, default=35.0)
    p.add_argument("--rate-limit", type=float, default=0.0, help="requests/s per key, 0 = off")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--api-key", default="sandbox-key")
    p.add_argument(
        "--reject-duplicate-emails",
        action="store_true",
        help='a second customer with the same email is 422 "Duplicate customer" (default: accepted, as live HCP does)',
    )
    p.add_argument(
        "--allow-duplicate-emails",
        action="store_true",
        help="no-op: accepting duplicate emails is the default now",
    )
    p.add_argument("--strict-lead-sources", action="store_true")
    p.add_argument(
        "--company-key-only",
        action="store_true",
        help="the main key gets 403 on application-key-only objects",
    )
    p.add_argument(
        "--served-page-size",
        type=int,
        default=0,
        help="serve at most N rows a page while total_pages counts the size asked; 0 = off",
    )
    p.add_argument(
        "--churn-every",
        type=int,
        default=0,
        help="every N-th list request of an object edits or creates one of its records; 0 = off",
    )
    p.add_argument(
        "--webhook-url", default="", help="POST a signed event per write here (loopback)"
    )
    p.add_argument("--webhook-secret", default="", help="the Signing Secret events are signed with")
    p.add_argument("--quiet", action="store_true", help="print only the base URL")
    a = p.parse_args(argv)
    if a.reject_duplicate_emails and a.allow_duplicate_emails:
        p.error("--reject-duplicate-emails and --allow-duplicate-emails contradict each other")
    try:
        settings = _settings(a)
    except ValueError as exc:
        p.error(str(exc))
    return settings, a.host, a.port, a.quiet


def _settings(a: argparse.Namespace) -> SandboxSettings:
    return SandboxSettings(
        seed=a.seed,
        scale=a.scale,
        companies=a.companies,
        fault_rate=a.fault_rate,
        faults=parse_faults(a.faults),
        fault_seed=a.fault_seed,
        slow_seconds=a.slow_seconds,
        rate_limit=a.rate_limit,
        latency_ms=a.latency_ms,
        api_key=a.api_key,
        reject_duplicate_email=a.reject_duplicate_emails,
        strict_lead_sources=a.strict_lead_sources,
        app_key_objects=not a.company_key_only,
        served_page_size=a.served_page_size,
        churn_every=a.churn_every,
        webhook_url=a.webhook_url,
        webhook_secret=a.webhook_secret,
    )


def main(argv: list[str] | None = None) -> None:
    settings, host, port, quiet = parse_args(argv)

    def ready(handle: SandboxHandle) -> None:
        print(handle.base_url, flush=True)
        if not quiet:
            print("\n".join(banner(handle.base_url, handle.settings)), flush=True)

    serve(settings, host=host, port=port, on_ready=ready)


if __name__ == "__main__":
    sys.exit(main())
