"""`python -m benchmarks`: every performance claim of hcp-sync in one run, side by side.

    python -m benchmarks                      # scales 1,3,10, 3 repeats (about 12-15 min on 2 CPUs)
    python -m benchmarks --quick              # scales 0.2,0.5,1, 1 repeat (about 2 min)
    python -m benchmarks --repeats 5 --scales 1,3,10 --out /tmp/bench.md

The sandbox always runs in its own process on 127.0.0.1 (`benchmarks.common.sandbox_process`);
each sync runs in its own child process so its peak RSS is its own. What it measures, reusing
the per-area modules rather than re-implementing them:

- full sync at each scale: requests vs the API minimum (`bench_sync.minimum`), wall time, rows,
  peak RSS (the child's `ru_maxrss`, cross-checked by psutil sampling); the first repeat at
  each scale is followed by a no-change sync (requests vs minimum);
- the bare floor (`floor.floor_sync`) at the largest scale: sync wall / floor wall (<= 1.5);
- latency-bound: `bench_sync.measure_latency` (<= 1.3 x pages / concurrency x latency);
- push at 5 and 20 req/s: `bench_leads.bench_push` (>= 90% of the limit, 0 duplicates);
- CSV load at 1x and 10x rows: `bench_leads.bench_load` (time, peak RSS);
- scaling: sync wall per record at each scale vs the smallest (linear or better);
- object push: `bench_push_objects.bench_push_objects`: 1,000 material price updates at
  `--object-rate` req/s (>= 90% of the limit), 100 creates (0 duplicates), and the same prices
  again after a sync (0 writes: the diff finds nothing to change);
- webhooks: `bench_webhooks.bench_webhooks`: `hcp webhooks serve` in its own process, 1,000
  signed events from 4 sender threads (quick: 300) -> events acknowledged per second and POST
  latency; the drain's apply time; event -> warehouse row with the 60 s drain schedule
  (modelled from the measured parts, see that module).

Medians over `--repeats`. The machine's load average is printed with each section: it is
usually shared, so ratios are the figures to trust, not absolute seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import bench_leads, bench_push_objects, bench_sync, bench_webhooks
from benchmarks.common import child_env, load_average, machine, median, run_measured
from benchmarks.floor import floor_sync


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _say(lines: list[str], *new: str) -> None:
    """Print as we go (a long run shows progress) and keep the markdown for `--out`."""
    for line in new:
        print(line, flush=True)
        lines.append(line)


def child_sync(url: str, db: Path) -> dict[str, Any]:
    """One full (or, on an existing file, no-change) sync in its own process."""
    db.parent.mkdir(parents=True, exist_ok=True)
    m = run_measured(
        [sys.executable, "-m", "benchmarks.bench_sync", "--child-sync", url, str(db)],
        env=child_env(DLT_DATA_DIR=str(db.parent / "dlt")),
    )
    if m.returncode != 0:
        raise RuntimeError(f"sync child failed ({m.returncode}): {m.stderr[-2000:]}")
    figures = json.loads(m.stdout.strip().splitlines()[-1])
    figures["psutil_peak_mb"] = m.peak_rss_mb
    return figures


def bench_scales(
    scales: list[float], repeats: int, tmp: Path, out: list[str]
) -> tuple[dict[float, dict[str, Any]], list[float], dict[str, Any]]:
    """Full syncs at every scale (wall, RSS, requests), no-change syncs, and the floor at the
    largest scale while its sandbox is up."""
    per_scale: dict[float, dict[str, Any]] = {}
    floors: list[float] = []
    requests_detail: dict[str, Any] = {}
    for scale in scales:
        with bench_sync.sandbox(scale) as url:
            counts = bench_sync.ground_truth(url)
            runs, again = [], None
            for r in range(repeats):
                db = tmp / f"s{scale:g}-r{r}" / "w.duckdb"
                runs.append(child_sync(url, db))
                if r == 0:
                    again = child_sync(url, db)  # same file: nothing changed in the sandbox
            if scale == max(scales):
                for r in range(repeats):
                    started = time.perf_counter()
                    floor_sync(
                        url, bench_sync.KEY, tmp / f"floor-{r}.duckdb", bench_sync.CONCURRENCY
                    )
                    floors.append(time.perf_counter() - started)
                requests_detail = {
                    "counts": counts,
                    "full": runs[0]["objects"],
                    "again": again["objects"] if again else {},
                }
        assert again is not None
        per_scale[scale] = {
            "records": sum(counts.values()),
            "walls": [x["wall"] for x in runs],
            "wall": median([x["wall"] for x in runs]),
            # psutil's sampled peak is the headline: ru_maxrss is inherited across fork+exec
            # from this process, which grows to ~1 GB after the in-process floor at scale 10
            "peak_mb": median([x["psutil_peak_mb"] for x in runs]),
            "maxrss_mb": median([x["peak_mb"] for x in runs]),
            "rows": runs[0]["rows"],
            "requests": runs[0]["requests"],
            "min_full": sum(bench_sync.minimum(counts, first_run=True).values()),
            "again_requests": again["requests"],
            "min_again": sum(bench_sync.minimum(counts, first_run=False).values()),
            "load": load_average(),
        }
        s = per_scale[scale]
        _say(
            out,
            f"- scale {scale:g}: {s['records']:,} records, full sync {s['wall']:.1f} s "
            f"(runs {', '.join(f'{w:.1f}' for w in s['walls'])}), peak RSS {s['peak_mb']:.0f} MB, "
            f"requests {s['requests']} (min {s['min_full']}), no-change {s['again_requests']} "
            f"(min {s['min_again']}); load {s['load']}",
        )
    return per_scale, floors, requests_detail


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="small scales, 1 repeat (a smoke run)")
    p.add_argument("--repeats", type=int, default=None, help="default 3 (quick: 1)")
    p.add_argument("--scales", default=None, help="sync scales, default 1,3,10 (quick: 0.2,0.5,1)")
    p.add_argument("--latency-ms", type=float, default=300.0)
    p.add_argument("--latency-scale", type=float, default=None, help="default 1 (quick: 0.2)")
    p.add_argument("--rates", default="5,20", help="push rate limits, req/s")
    p.add_argument("--push-seconds", type=float, default=None, help="default 15 (quick: 4)")
    p.add_argument("--rows", default=None, help="CSV rows 1x,10x: default 10000,100000")
    p.add_argument(
        "--webhook-events", type=int, default=None, help="signed events, default 1000 (quick: 300)"
    )
    p.add_argument("--object-rate", type=float, default=50.0, help="object push rate limit, req/s")
    p.add_argument("--out", default=None, help="also write the markdown here")
    a = p.parse_args(argv)
    repeats = a.repeats or (1 if a.quick else 3)
    scales = sorted(_floats(a.scales or ("0.2,0.5,1" if a.quick else "1,3,10")))
    latency_scale = a.latency_scale or (0.2 if a.quick else 1.0)
    push_seconds = a.push_seconds or (4.0 if a.quick else 15.0)
    rows = [int(x) for x in _floats(a.rows or ("2000,20000" if a.quick else "10000,100000"))]
    rates = _floats(a.rates)
    webhook_events = a.webhook_events or (300 if a.quick else 1000)
    cmd = "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    out: list[str] = []
    _say(
        out,
        f"## hcp-sync benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{cmd.strip()}` (scales {', '.join(f'{s:g}' for s in scales)}; "
        f"{repeats} repeat(s); latency {a.latency_ms:g} ms at scale {latency_scale:g}; "
        f"push {push_seconds:g} s per rate; CSV rows {', '.join(f'{r:,}' for r in rows)}).",
        f"Machine: {machine()}. Load average at start: {load_average()}.",
        "",
        "### Full and no-change syncs (each in its own process; sandbox in its own)",
        "",
    )
    with tempfile.TemporaryDirectory(prefix="hcp-bench-") as name:
        tmp = Path(name)
        per_scale, floors, detail = bench_scales(scales, repeats, tmp, out)
        latency = bench_sync.measure_latency(latency_scale, a.latency_ms, repeats, tmp)
        _say(
            out,
            f"- latency {a.latency_ms:g} ms, scale {latency_scale:g}: {latency['pages']} pages, "
            f"ideal {latency['ideal_s']:.1f} s, sync {latency['wall_s']:.1f} s "
            f"(runs {', '.join(f'{w:.1f}' for w in latency['walls'])}); load {load_average()}",
        )
        pushes: dict[float, list[dict[str, Any]]] = {}
        for rate in rates:
            pushes[rate] = []
            for r in range(repeats):
                work = tmp / f"push-{rate:g}-{r}"
                work.mkdir()
                pushes[rate].append(bench_leads.bench_push(rate, push_seconds, work))
            shares = [x["share_of_limit"] for x in pushes[rate]]
            _say(
                out,
                f"- push at {rate:g} req/s: {pushes[rate][0]['leads']} leads per run, "
                f"share of limit {', '.join(f'{x:.1%}' for x in shares)}, duplicates "
                f"{sum(x['duplicates'] for x in pushes[rate])}; load {load_average()}",
            )
        loads: dict[int, list[dict[str, Any]]] = {}
        for n in rows:
            loads[n] = []
            for r in range(repeats):
                work = tmp / f"load-{n}-{r}"
                work.mkdir()
                loads[n].append(bench_leads.bench_load(n, work))
            _say(
                out,
                f"- CSV load {n:,} rows: "
                f"{', '.join(str(x['seconds']) + ' s' for x in loads[n])}, peak RSS "
                f"{', '.join(str(x['peak_rss_mb']) + ' MB' for x in loads[n])}, Python heap peak "
                f"{loads[n][0]['python_heap_peak_mb']} MB; load {load_average()}",
            )
        hooks = bench_webhooks.bench_webhooks(webhook_events, 4, tmp / "webhooks")
        _say(out, bench_webhooks.describe(hooks) + f"; load {load_average()}")
        (tmp / "objects").mkdir()
        objects = bench_push_objects.bench_push_objects(a.object_rate, tmp / "objects")
        _say(out, bench_push_objects.describe(objects) + f"; load {load_average()}")

    big, small = max(scales), min(scales)
    b, s0 = per_scale[big], per_scale[small]
    floor = median(floors)
    wall_ratio = b["wall"] / floor
    rss_ratio = b["peak_mb"] / s0["peak_mb"]
    load_small = median([x["peak_rss_mb"] for x in loads[min(rows)]])
    load_big = median([x["peak_rss_mb"] for x in loads[max(rows)]])
    per_record = {sc: v["wall"] / v["records"] for sc, v in per_scale.items()}
    scaling_ratio = per_record[big] / per_record[small]
    summary = [
        "",
        f"### Side by side (medians of {repeats}; load average at the end {load_average()})",
        "",
        "| figure | measured | target | verdict |",
        "| --- | ---: | ---: | --- |",
        f"| full sync requests, scale {big:g} | {b['requests']} | API minimum {b['min_full']} "
        f"| {verdict(b['requests'] <= b['min_full'])} |",
        f"| no-change sync requests, scale {big:g} | {b['again_requests']} | API minimum "
        f"{b['min_again']} | {verdict(b['again_requests'] <= b['min_again'])} "
        f"({b['again_requests'] - b['min_again']:+d}) |",
    ]
    for sc in scales:
        if sc != big:
            v = per_scale[sc]
            summary.append(
                f"| no-change sync requests, scale {sc:g} | {v['again_requests']} | API minimum "
                f"{v['min_again']} | {verdict(v['again_requests'] <= v['min_again'])} |"
            )
    summary += [
        f"| full sync wall vs bare floor, scale {big:g} | {b['wall']:.1f} s vs {floor:.1f} s = "
        f"**{wall_ratio:.2f}x** | <= 1.5x | {verdict(wall_ratio <= 1.5)} |",
        f"| latency {a.latency_ms:g} ms, scale {latency_scale:g}: wall vs pages/concurrency x "
        f"latency | {latency['wall_s']:.1f} s vs {latency['ideal_s']:.1f} s = "
        f"**{latency['ratio']:.2f}x** | <= 1.3x | {verdict(latency['ratio'] <= 1.3)} |",
    ]
    for rate, runs in pushes.items():
        share = median([x["share_of_limit"] for x in runs])
        lps = median([x["leads_per_s"] for x in runs])
        dups = sum(x["duplicates"] for x in runs)
        summary.append(
            f"| push at {rate:g} req/s: leads/s, share of limit, duplicates | {lps:.2f}/s, "
            f"**{share:.1%}**, {dups} | >= 90%, 0 | {verdict(share >= 0.9 and dups == 0)} |"
        )
    summary += [
        f"| sync peak RSS, scale {small:g} -> {big:g} | {s0['peak_mb']:.0f} -> {b['peak_mb']:.0f} MB"
        f" = **{rss_ratio:.2f}x** (child's ru_maxrss: {s0['maxrss_mb']:.0f} -> "
        f"{b['maxrss_mb']:.0f} MB) | <= 1.3x | {verdict(rss_ratio <= 1.3)} |",
        f"| CSV load peak RSS, {min(rows):,} -> {max(rows):,} rows | {load_small:.0f} -> "
        f"{load_big:.0f} MB = **{load_big / load_small:.2f}x** | flat (<= 1.3x) "
        f"| {verdict(load_big / load_small <= 1.3)} |",
        f"| CSV load time, {min(rows):,} -> {max(rows):,} rows | "
        f"{median([x['seconds'] for x in loads[min(rows)]]):.1f} -> "
        f"{median([x['seconds'] for x in loads[max(rows)]]):.1f} s | linear | "
        f"{verdict(median([x['seconds'] for x in loads[max(rows)]]) <= 1.1 * max(rows) / min(rows) * median([x['seconds'] for x in loads[min(rows)]]))} |",
        "| sync wall by scale (records, seconds, ms per 1,000 records) | "
        + "; ".join(
            f"{sc:g}: {v['records']:,}, {v['wall']:.1f} s, {per_record[sc] * 1e6:.0f}"
            for sc, v in per_scale.items()
        )
        + f" | linear, not worse | {verdict(scaling_ratio <= 1.1)} "
        f"(per record {scaling_ratio:.2f}x of scale {small:g}) |",
        f"| webhooks acknowledged per second ({hooks['events']:,} signed events, "
        f"{hooks['threads']} sender threads, loopback) | **{hooks['per_second']:,.0f}/s** (POST "
        f"p50 {hooks['post_p50_ms']:.1f} ms, p95 {hooks['post_p95_ms']:.1f} ms) | every event "
        f"acknowledged | {verdict(hooks['acked'] == hooks['events'] and not hooks['gave_up'])} |",
        f"| webhook event -> warehouse row, {hooks['schedule_s']:g} s drain schedule (modelled: "
        f"p50 POST + {hooks['schedule_s'] / 2:g} s median wait + drain of {hooks['batch']}) | "
        f"**{hooks['event_to_row_median_s']:.1f} s** median, <= "
        f"~{hooks['event_to_row_max_s']:.0f} s (drain {hooks['drain_batch_s']:.2f} s; "
        f"{hooks['drained_full']:,} events {hooks['drain_full_s']:.2f} s) | within the schedule "
        f"| {verdict(hooks['event_to_row_max_s'] <= 2 * hooks['schedule_s'])} |",
    ]
    summary.append(
        f"| object push at {objects['rate_limit']:g} req/s: {objects['updates']:,} material "
        f"updates share of limit, duplicates, writes of a no-change rerun | "
        f"**{objects['update_share_of_limit']:.1%}**, {objects['duplicates']}, "
        f"**{objects['rerun_writes']}** | >= 90%, 0, 0 | {verdict(bench_push_objects.ok(objects))} |"
    )
    if detail:
        full_min = bench_sync.minimum(detail["counts"], first_run=True)
        again_min = bench_sync.minimum(detail["counts"], first_run=False)
        summary += [
            "",
            f"Requests per object at scale {big:g} (first repeat):",
            "",
            "| object | full sync | API minimum | no-change sync | API minimum |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        summary += [
            f"| {t} | {detail['full'].get(t, 0)} | {full_min[t]} | {detail['again'].get(t, 0)} "
            f"| {again_min[t]} |"
            for t in full_min
        ]
    took = time.perf_counter() - started
    summary += ["", f"Benchmark wall time: {took / 60:.1f} min."]
    _say(out, *summary)
    if a.out:
        Path(a.out).write_text("\n".join(out) + "\n")
    return 0 if not math.isnan(wall_ratio) else 1


if __name__ == "__main__":
    raise SystemExit(main())
