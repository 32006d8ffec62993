"""Lead benchmarks: CSV load time and memory, push throughput against the sandbox.

    python -m benchmarks.bench_leads                  # everything, prints a markdown report
    python -m benchmarks.bench_leads load --rows 10000 100000
    python -m benchmarks.bench_leads push --rates 5 20 --seconds 20

- Load: a generated CSV of N rows staged into a fresh DuckDB file, each size in its own child
  process so peak RSS (`resource.getrusage`) belongs to that load alone; the child also reports
  RSS after imports, so the growth attributable to the rows is visible.
- Push: the sandbox in its own process (`python -m sandbox`) with its rate limit at R, the push
  in this process with the client's limiter at R; requests/s against R (target >= 90%; a new
  lead costs 2 requests, the search before creating and the POST, so leads/s is about R/2) and
  duplicate customers (must be 0), counted from the sandbox's own log of created customers.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def make_csv(path: Path, rows: int, prefix: str = "bench") -> Path:
    """A realistic lead file: names, emails, US phones, sources, notes, an extra column."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["external_id", "full_name", "email", "mobile", "source", "company", "notes", "budget"]
        )
        for i in range(rows):
            writer.writerow(
                [
                    f"{prefix}-{i}",
                    f"Person{i} Smith-{i % 97}",
                    f"{prefix}.person{i}@bench.example",
                    f"(312) 555-{i % 10000:04d}",
                    ("Website", "Google Ads", "Referral")[i % 3],
                    "Acme Co" if i % 5 == 0 else "",
                    "Wants a quote for a water heater; call after 5pm",
                    str(100 + i % 5000),
                ]
            )
    return path


def _load_child(csv_path: str, db_path: str, heap: bool = False) -> dict[str, Any]:
    """Runs in the child: import, note RSS, load, note peak RSS (or, with `heap`, the peak of
    Python's own allocations: slower, so a separate run)."""
    import tracemalloc

    import psutil

    from pipelines.leads.load import load_leads
    from pipelines.leads.profiles import ProfileBook

    # current RSS, not ru_maxrss: Linux carries the parent's high-water mark across fork+exec,
    # so a child of a big benchmark process would report the parent's memory as its own
    rss_after_imports = psutil.Process().memory_info().rss / 1024 / 1024
    if heap:
        tracemalloc.start()
    result = load_leads(csv_path, db_path=db_path, routes=ProfileBook())
    if heap:
        return {"python_heap_peak_mb": round(tracemalloc.get_traced_memory()[1] / 1e6, 1)}
    return {
        "rows": result.rows,
        "staged": result.staged,
        "seconds": round(result.duration_s, 2),
        "rows_per_s": round(result.rows / result.duration_s) if result.duration_s else None,
        "rss_after_imports_mb": round(rss_after_imports, 1),
        "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def bench_load(rows: int, workdir: Path) -> dict[str, Any]:
    """Load `rows` generated leads in child processes: time and peak RSS, then Python's heap."""
    csv_path = make_csv(workdir / f"leads_{rows}.csv", rows)
    figures: dict[str, Any] = {"file_mb": round(csv_path.stat().st_size / 1e6, 1)}
    from benchmarks.common import child_env, run_measured

    for mode in ("rss", "heap"):
        db_path = workdir / f"load_{rows}_{mode}.duckdb"
        cmd = [sys.executable, "-m", "benchmarks.bench_leads", "_load_child"]
        m = run_measured([*cmd, str(csv_path), str(db_path), mode], env=child_env(), cwd=workdir)
        if m.returncode != 0:
            raise RuntimeError(f"load child failed: {m.stderr[-2000:]}")
        figures.update(json.loads(m.stdout.strip().splitlines()[-1]))
        if mode == "rss":
            # sampled by psutil from outside (every 50 ms): ru_maxrss is inherited from the
            # parent across fork+exec and read 1,128 MB for every size after a scale-10 floor run
            figures["peak_rss_mb"] = round(m.peak_rss_mb, 1)
    return figures


REQUESTS_PER_NEW_LEAD = 2  # GET /customers?q=<email> (on_existing = "link"), then POST


def bench_push(rate: float, seconds: float, workdir: Path, concurrency: int = 4) -> dict[str, Any]:
    """Push `seconds` worth of new leads at `rate` req/s against a sandbox limited to `rate`
    req/s; the share of the limit is requests/s over `rate`, since the limit counts requests."""
    import httpx

    from benchmarks.common import sandbox_process
    from pipelines.config import Account
    from pipelines.leads.load import load_leads
    from pipelines.leads.profiles import ProfileBook, PushSettings
    from pipelines.leads.push import push_leads

    n = int(rate * seconds / REQUESTS_PER_NEW_LEAD)
    tag = f"r{int(rate)}"
    db = workdir / f"push_{tag}.duckdb"
    load_leads(
        make_csv(workdir / f"push_{tag}.csv", n, prefix=tag), db_path=db, routes=ProfileBook()
    )
    # the sandbox in its own process (benchmarks.common), so its CPU is not the push's
    with sandbox_process(rate_limit=rate) as sb:
        account = Account("default", sb.api_key, sb.url, rate_limit=rate, concurrency=concurrency)
        result = push_leads(account, db_path=db, routes=ProfileBook(), settings=PushSettings())
        created = httpx.get(f"{sb.url}/_sandbox/created_customers", timeout=30).json()["customers"]
        counters = httpx.get(f"{sb.url}/_sandbox/counters", timeout=30).json()
    mine = [c for c in created if (c.get("email") or "").endswith("@bench.example")]
    emails = [c["email"] for c in mine]
    return {
        "rate_limit": rate,
        "leads": n,
        "sent": result.sent,
        "requests": result.requests,
        "seconds": round(result.duration_s, 2),
        "leads_per_s": round(result.sent / result.duration_s, 2),
        "share_of_limit": round(result.requests / result.duration_s / rate, 3),
        "requests_per_s": round(result.requests / result.duration_s, 2),
        "requests_per_lead": round(result.requests / max(result.sent, 1), 2),
        "sandbox_429s": counters.get("rate_limited", 0),
        "customers_created": len(mine),
        "duplicates": len(emails) - len(set(emails)),
    }


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc), {cpu}, Python {platform.python_version()}, {platform.system()}"


def report(loads: list[dict[str, Any]], pushes: list[dict[str, Any]]) -> str:
    lines = [f"Machine: {machine()}; date {time.strftime('%Y-%m-%d')}", ""]
    if loads:
        lines += [
            "| rows | file MB | seconds | rows/s | RSS after imports MB | peak RSS MB | Python heap peak MB |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {f['rows']:,} | {f['file_mb']} | {f['seconds']} | {f['rows_per_s']:,} | "
            f"{f['rss_after_imports_mb']} | {f['peak_rss_mb']} | {f['python_heap_peak_mb']} |"
            for f in loads
        ]
        lines.append("")
    if pushes:
        lines += [
            "| limit req/s | leads | seconds | leads/s | share of limit | requests | sandbox 429s | duplicates |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {f['rate_limit']:g} | {f['leads']} | {f['seconds']} | {f['leads_per_s']} | "
            f"{f['share_of_limit']:.0%} | {f['requests']} | {f['sandbox_429s']} | {f['duplicates']} |"
            for f in pushes
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_load_child":
        print(json.dumps(_load_child(argv[1], argv[2], heap=argv[3:] == ["heap"])))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_leads")
    parser.add_argument("what", nargs="?", choices=["all", "load", "push"], default="all")
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rates", type=float, nargs="+", default=[5.0, 20.0])
    parser.add_argument("--seconds", type=float, default=20.0, help="push duration per rate")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-leads-") as tmp:
        work = Path(tmp)
        loads = [bench_load(r, work) for r in args.rows] if args.what in ("all", "load") else []
        pushes = (
            [bench_push(r, args.seconds, work) for r in args.rates]
            if args.what in ("all", "push")
            else []
        )
    print(report(loads, pushes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
