"""How many 429s a client configured faster than HCP's limit draws: a sync and a push.

    python -m benchmarks.bench_backoff                        # R=5, client at 20 req/s, 4 threads
    python -m benchmarks.bench_backoff --limit 5 --client-rate 20 --concurrency 4 --leads 60

The sandbox runs in its own process with `--rate-limit R`; the sync (scale 0.2) and the push
(`--leads` leads) run here with a client paced at `--client-rate` > R, so only HCP's 429s can
slow it down. Printed per run: requests, 429s (the client's and the sandbox's count), the share
of requests refused, wall time, and, where the limiter exposes them, its final rate and paused
seconds. Runs unchanged on an older checkout (PYTHONPATH at it) to compare the old per-thread
backoff. Must never talk to anything but the sandbox it starts.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.bench_leads import make_csv
from benchmarks.common import sandbox_process


def _pacing(client: Any) -> dict[str, Any]:
    snapshot = getattr(client.limiter, "snapshot", None)  # absent before the shared backoff
    if snapshot is None:
        return {}
    figures = snapshot()
    return {"final_rate": round(figures["rate"], 2), "paused_s": round(figures["paused_s"], 1)}


def _figures(kind: str, client: Any, counters: dict[str, Any], seconds: float) -> dict[str, Any]:
    stats = client.stats.snapshot()
    return {
        "run": kind,
        "requests": stats["requests"],
        "client_429s": stats["rate_limited"],
        "sandbox_429s": counters.get("rate_limited", 0),
        "share_429": round(stats["rate_limited"] / max(1, stats["requests"]), 3),
        "seconds": round(seconds, 1),
        **_pacing(client),
    }


def run(limit: float, client_rate: float, concurrency: int, leads: int, workdir: Path) -> list:
    from pipelines.config import Account
    from pipelines.leads.load import load_leads
    from pipelines.leads.profiles import ProfileBook, PushSettings
    from pipelines.leads.push import push_leads
    from pipelines.sync import sync_account
    from sources.housecallpro.client import HCPClient

    out = []
    with sandbox_process(rate_limit=limit, scale=0.2) as sb:
        account = Account(
            "default", sb.api_key, sb.url, rate_limit=client_rate, concurrency=concurrency
        )
        with HCPClient.from_account(account) as client:
            started = time.monotonic()
            result = sync_account(account, workdir / "sync.duckdb", client=client)
            seconds = time.monotonic() - started
            counters = httpx.get(f"{sb.url}/_sandbox/counters", timeout=30).json()
            out.append({**_figures("sync", client, counters, seconds), "ok": result.ok})
        httpx.post(f"{sb.url}/_sandbox/counters/reset", timeout=30)
        db = workdir / "push.duckdb"
        load_leads(make_csv(workdir / "leads.csv", leads), db_path=db, routes=ProfileBook())
        with HCPClient.from_account(account) as client:
            started = time.monotonic()
            pushed = push_leads(
                account, db_path=db, client=client, routes=ProfileBook(), settings=PushSettings()
            )
            seconds = time.monotonic() - started
            counters = httpx.get(f"{sb.url}/_sandbox/counters", timeout=30).json()
            out.append({**_figures("push", client, counters, seconds), "sent": pushed.sent})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=float, default=5.0, help="the sandbox's req/s")
    parser.add_argument("--client-rate", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--leads", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-backoff-") as tmp:
        rows = run(args.limit, args.client_rate, args.concurrency, args.leads, Path(tmp))
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
