"""Benchmarks of `hcp sync` against the sandbox (run in its own process).

    python -m benchmarks.bench_sync [--scale 10] [--repeats 3] [--latency-ms 300]
                                    [--latency-scale 1] [--out docs/benchmarks-sync.md]

1. Requests of a full and a no-change sync vs the API minimum, per object.
2. Wall time of a full sync at `--scale` vs the bare floor (`benchmarks/floor.py`): target <= 1.5x.
3. With `--latency-ms`: wall of a full sync vs pages / concurrency x latency: target <= 1.3x.
4. Peak RSS of a full sync at `--scale` vs scale 1, each sync in its own process: target <= 1.3x.
Medians over `--repeats`. Each run syncs into a fresh DuckDB file in a temp folder.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")

CONCURRENCY = 4
KEY = "sandbox-key"


@contextmanager
def sandbox(scale: float, latency_ms: float = 0.0) -> Iterator[str]:
    """`python -m sandbox` in its own process (`benchmarks.common`); yields its base URL."""
    from benchmarks.common import sandbox_process

    with sandbox_process(scale=scale, latency_ms=latency_ms, api_key=KEY) as sb:
        yield sb.url


def admin(url: str, path: str, method: str = "GET") -> Any:
    return httpx.request(method, f"{url}/_sandbox{path}", timeout=60).json()


def ground_truth(url: str) -> dict[str, int]:
    counts = dict(admin(url, "/health")["objects"])
    routes = httpx.get(
        f"{url}/routes", params={"per_page": 100}, headers={"Authorization": f"Token {KEY}"}
    ).json()
    counts["routes"] = routes["total_items"]
    counts["company"] = 1
    return counts


def minimum(counts: dict[str, int], *, first_run: bool) -> dict[str, int]:
    from sources.housecallpro.settings import OBJECTS

    cats = counts["material_categories"]
    out: dict[str, int] = {}
    for obj in OBJECTS:
        if obj.strategy == "single" or obj.strategy == "incremental" and not first_run:
            out[obj.table] = 1
        elif obj.strategy == "tree":
            out[obj.table] = 1 + cats
        elif obj.strategy == "per_parent":
            out[obj.table] = cats
        else:
            out[obj.table] = max(1, math.ceil(counts[obj.table] / obj.page_size))
    return out


def run_sync(url: str, db: Path) -> tuple[float, Any]:
    from pipelines.config import Account
    from pipelines.sync import sync_account

    acct = Account("default", KEY, url, rate_limit=0, concurrency=CONCURRENCY)
    started = time.perf_counter()
    result = sync_account(acct, db, pipelines_dir=db.parent / "dlt")
    wall = time.perf_counter() - started
    if not result.ok:
        raise RuntimeError(result.message)
    return wall, result


def child_sync(url: str, db: str) -> None:
    """`--child-sync`: one full sync in this process, then its own peak RSS as JSON."""
    wall, result = run_sync(url, Path(db))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "wall": wall,
                "peak_mb": peak_kb / 1024,
                "requests": result.requests,
                "rows": sum(o.rows for o in result.objects.values()),
                "objects": {t: o.requests for t, o in result.objects.items()},
            }
        )
    )


def peak_rss(url: str, tmp: Path) -> dict[str, float]:
    """One full sync in a child process; `peak_mb` sampled by psutil from outside.

    Not the child's ru_maxrss: Linux carries the parent's high-water mark across fork+exec, and
    this process holds the floor's whole read (~1 GB at scale 10) by the time it runs, which made
    scale 1 and scale 10 read the same figure.
    """
    from benchmarks.common import run_measured

    db = tmp / f"rss-{time.monotonic_ns()}" / "w.duckdb"
    db.parent.mkdir()
    m = run_measured([sys.executable, "-m", "benchmarks.bench_sync", "--child-sync", url, str(db)])
    if m.returncode != 0:
        raise RuntimeError(f"sync child failed: {m.stderr[-2000:]}")
    figures = json.loads(m.stdout.strip().splitlines()[-1])
    figures["peak_mb"] = m.peak_rss_mb
    return figures


def fresh(tmp: Path, name: str) -> Path:
    folder = tmp / f"{name}-{time.monotonic_ns()}"
    folder.mkdir()
    return folder / "w.duckdb"


def bench_requests(scale: float, tmp: Path) -> list[str]:
    lines = [f"### Requests per object (scale {scale:g}, concurrency {CONCURRENCY})", ""]
    with sandbox(scale) as url:
        counts = ground_truth(url)
        admin(url, "/counters/reset", "POST")
        db = fresh(tmp, "requests")
        _, full = run_sync(url, db)
        _, again = run_sync(url, db)
    lo_full, lo_again = minimum(counts, first_run=True), minimum(counts, first_run=False)
    lines += [
        "| object | full sync | API minimum | no-change sync | API minimum |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for table in lo_full:
        lines.append(
            f"| {table} | {full.objects[table].requests} | {lo_full[table]} "
            f"| {again.objects[table].requests} | {lo_again[table]} |"
        )
    lines.append(
        f"| **total** | **{full.requests}** | **{sum(lo_full.values())}** "
        f"| **{again.requests}** | **{sum(lo_again.values())}** |"
    )
    print("\n".join(lines), flush=True)
    return lines + [""]


def bench_wall(scale: float, repeats: int, tmp: Path) -> list[str]:
    from benchmarks.floor import floor_sync

    syncs, floors = [], []
    with sandbox(scale) as url:
        rows = sum(ground_truth(url).values())
        for _ in range(repeats):
            t = time.perf_counter()
            floor_sync(url, KEY, fresh(tmp, "floor"), CONCURRENCY)
            floors.append(time.perf_counter() - t)
            syncs.append(run_sync(url, fresh(tmp, "wall"))[0])
    s, f = statistics.median(syncs), statistics.median(floors)
    lines = [
        f"### Wall time, full sync at scale {scale:g} ({rows:,} records), median of {repeats}",
        "",
        "| run | seconds |",
        "| --- | ---: |",
        f"| `hcp sync` (dlt: typed columns, child tables, merge, state) | {s:.1f} |",
        f"| floor (httpx paging + DuckDB upsert of JSON by id) | {f:.1f} |",
        f"| **ratio** (target <= 1.5) | **{s / f:.2f}** |",
        "",
        f"All runs: sync {', '.join(f'{x:.1f}' for x in syncs)}; floor {', '.join(f'{x:.1f}' for x in floors)}.",
    ]
    print("\n".join(lines), flush=True)
    return lines + [""]


def measure_latency(scale: float, latency_ms: float, repeats: int, tmp: Path) -> dict[str, Any]:
    """Full syncs against a sandbox adding `latency_ms` to every request, vs the ideal
    pages / concurrency x latency (what perfect overlap of every request would take)."""
    from benchmarks.floor import pages_needed

    walls = []
    with sandbox(scale, latency_ms) as url:
        counts = ground_truth(url)
        for _ in range(repeats):
            walls.append(run_sync(url, fresh(tmp, "latency"))[0])
    pages = pages_needed(counts)
    ideal = pages / CONCURRENCY * latency_ms / 1000
    wall = statistics.median(walls)
    return {"pages": pages, "ideal_s": ideal, "wall_s": wall, "ratio": wall / ideal, "walls": walls}


def bench_latency(scale: float, latency_ms: float, repeats: int, tmp: Path) -> list[str]:
    m = measure_latency(scale, latency_ms, repeats, tmp)
    lines = [
        f"### Latency-bound full sync: scale {scale:g}, {latency_ms:g} ms per request, median of {repeats}",
        "",
        "| figure | value |",
        "| --- | ---: |",
        f"| requests (pages) | {m['pages']} |",
        f"| pages / concurrency x latency | {m['ideal_s']:.1f} s |",
        f"| `hcp sync` wall | {m['wall_s']:.1f} s |",
        f"| **ratio** (target <= 1.3) | **{m['ratio']:.2f}** |",
        "",
        f"All runs: {', '.join(f'{x:.1f}' for x in m['walls'])} s.",
    ]
    print("\n".join(lines), flush=True)
    return lines + [""]


def bench_rss(scale: float, repeats: int, tmp: Path) -> list[str]:
    peaks: dict[float, list[float]] = {}
    for s in (1.0, scale):
        with sandbox(s) as url:
            peaks[s] = [peak_rss(url, tmp)["peak_mb"] for _ in range(repeats)]
    small, big = statistics.median(peaks[1.0]), statistics.median(peaks[scale])
    lines = [
        f"### Peak RSS of a full sync (sync process only; sandbox in its own), median of {repeats}",
        "",
        "| scale | peak RSS |",
        "| --- | ---: |",
        f"| 1 | {small:.0f} MB |",
        f"| {scale:g} | {big:.0f} MB |",
        f"| **ratio** (target <= 1.3) | **{big / small:.2f}** |",
    ]
    print("\n".join(lines), flush=True)
    return lines + [""]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--scale", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--latency-ms", type=float, default=300.0)
    p.add_argument("--latency-scale", type=float, default=1.0)
    p.add_argument("--only", default="requests,wall,latency,rss")
    p.add_argument("--out", default=None, help="write the figures (markdown) here")
    p.add_argument("--child-sync", nargs=2, metavar=("URL", "DB"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child_sync:
        child_sync(*args.child_sync)
        return
    only = set(args.only.split(","))
    cmd = "python -m benchmarks.bench_sync " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        f"## hcp sync benchmarks ({datetime.now(UTC):%Y-%m-%d})",
        "",
        f"Command: `{cmd.strip()}`. Machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}.",
        "",
    ]
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as name:
        tmp = Path(name)
        if "requests" in only:
            lines += bench_requests(args.scale, tmp)
        if "wall" in only:
            lines += bench_wall(args.scale, args.repeats, tmp)
        if "latency" in only and args.latency_ms > 0:
            lines += bench_latency(args.latency_scale, args.latency_ms, args.repeats, tmp)
        if "rss" in only:
            lines += bench_rss(args.scale, args.repeats, tmp)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
