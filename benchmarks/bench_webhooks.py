"""Webhook throughput and event -> warehouse-row time, on loopback (`python -m benchmarks` uses it).

    python -m benchmarks.bench_webhooks                 # 1,000 events, 4 sender threads
    python -m benchmarks.bench_webhooks --events 300    # the --quick size

`bench_webhooks(events, threads, work)`: `hcp webhooks serve` in its own process (spool in
`work`), a burst of `events` signed `customer.updated` events from `threads` sender threads
(`benchmarks.drill_webhooks.burst`) -> events acknowledged per second and each POST's latency
(receive + verify + durable spool commit). Then the drain's apply time, measured twice: the
whole burst into a fresh DuckDB file, and one schedule's worth (`batch` events, sent after the
first drain) into that now non-empty warehouse.

Event -> warehouse row is MODELLED, not measured end to end: the `hcp-webhooks-drain`
deployment runs every 60 s, so an event waits between 0 and 60 s (median 30 s) for the next
drain after it was spooled. Median event -> row = median POST latency + 30 s + the drain of one
schedule's batch. The 60 s wait dominates; the measured parts say how much the code adds.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
from pathlib import Path
from typing import Any

from benchmarks.drill_webhooks import (
    burst,
    customer_events,
    drain_timed,
    free_port,
    start_receiver,
)

DRAIN_SCHEDULE_S = 60.0
"""The `hcp-webhooks-drain` deployment's interval (pipelines/flows; tests/test_flows_unit.py)."""


def bench_webhooks(events: int, threads: int, work: Path, batch: int = 50) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(16)  # generated per run; never printed
    port, spool, db = free_port(), work / "hooks.sqlite", work / "hooks.duckdb"
    url = f"http://127.0.0.1:{port}/webhooks/default"
    proc = start_receiver(port, spool, secret, work / "receiver.log")
    try:
        sent = burst(url, secret, customer_events(events, "bench"), threads, timeout_s=300)
        full_drain_s, full = drain_timed(db, spool)
        small = burst(url, secret, customer_events(batch, "batch"), 1, timeout_s=60)
        batch_drain_s, part = drain_timed(db, spool)
    finally:
        proc.kill()
        proc.wait(5)
    lat = sorted(sent.latencies) or [float("nan")]
    p50 = statistics.median(lat)
    p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
    return {
        "events": events,
        "threads": threads,
        "acked": len(sent.acked),
        "gave_up": sent.gave_up + small.gave_up,
        "seconds": round(sent.seconds, 3),
        "per_second": round(sent.per_second, 1),
        "post_p50_ms": round(p50 * 1000, 2),
        "post_p95_ms": round(p95 * 1000, 2),
        "drain_full_s": round(full_drain_s, 3),
        "drained_full": getattr(full, "drained", 0),
        "batch": batch,
        "drain_batch_s": round(batch_drain_s, 3),
        "drained_batch": getattr(part, "drained", 0),
        "schedule_s": DRAIN_SCHEDULE_S,
        "event_to_row_median_s": round(p50 + DRAIN_SCHEDULE_S / 2 + batch_drain_s, 2),
        "event_to_row_max_s": round(lat[-1] + DRAIN_SCHEDULE_S + batch_drain_s, 2),
    }


def describe(r: dict[str, Any]) -> str:
    return (
        f"- webhooks: {r['acked']:,}/{r['events']:,} signed events acknowledged in "
        f"{r['seconds']:.1f} s = {r['per_second']:,.0f}/s ({r['threads']} sender threads; POST "
        f"p50 {r['post_p50_ms']:.1f} ms, p95 {r['post_p95_ms']:.1f} ms); drain "
        f"{r['drained_full']:,} into a fresh DuckDB file {r['drain_full_s']:.2f} s, "
        f"{r['drained_batch']} more (one schedule's batch) {r['drain_batch_s']:.2f} s; "
        f"event -> row with the {r['schedule_s']:g} s drain schedule (modelled: p50 POST + "
        f"{r['schedule_s'] / 2:g} s median wait + batch drain) median "
        f"{r['event_to_row_median_s']:.1f} s, at most ~{r['event_to_row_max_s']:.0f} s"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_webhooks", description=__doc__)
    p.add_argument("--events", type=int, default=1000)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--work", default=None, help="folder for the spool and DuckDB (default: temp)")
    a = p.parse_args(argv)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hcp-bench-webhooks-") as name:
        r = bench_webhooks(a.events, a.threads, Path(a.work or name), a.batch)
    print(describe(r))
    print(json.dumps(r))
    return 0 if r["gave_up"] == 0 and r["acked"] == r["events"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
