"""`python -m benchmarks.drill`: the reliability drill, bounded in time, everything on loopback.

    python -m benchmarks.drill                 # every drill, 20 kills (about 8-12 min on 2 CPUs)
    python -m benchmarks.drill --quick         # the CI drill: fewer kills and scenarios (~2 min)
    python -m benchmarks.drill --only faults,kills --out /tmp/drill.md

Drills (each prints what it did, its figures and PASS/FAIL; exit code 1 if any failed):

- faults: each sandbox fault kind alone (500, 502, 503, slow, drop, lost) and all of them
  together at 10% and 30% (plus the sandbox's rate limit, so 429 + Retry-After too) -> a sync
  lands a warehouse equal, table by table, to the fault-free one, and a push creates exactly one
  customer per valid lead (duplicate emails allowed by the sandbox, so only the push's own
  lookup stands between a lost answer and a second customer);
- kills: SIGKILLs at random moments of `hcp sync` and `python -m pipelines.cli leads push`
  subprocesses sharing one DuckDB file, with edits in the sandbox between runs -> after
  recovery runs the warehouse equals a fresh sync and every lead is exactly one customer;
- object kills (`benchmarks.drill_objects`): SIGKILLs of `python -m pipelines.cli push <object>`
  mid-sending across every object the push writes -> after recovery each intended create
  exists exactly once (by its natural key) and each update was applied;
- bad input: >= 150 malformed lead rows and a dozen malformed CSV files -> every row ends
  `failed_permanent` with a reason, every file is refused with a clear message (or loads what
  it can), nothing crashes or hangs;
- secrets: a demo-like run (sync, models, leads, push, report, flows under a Prefect test
  server, error paths, the webhook receiver fed by the sandbox with the signing secret
  `wh-drill-SECRET-...`) with the key `sk-drill-SECRET-...` -> neither is in a DuckDB value, no
  file written (logs, reports, dlt state, the Prefect database), no artifact or flow log read
  back from Prefect, and no exception text;
- concurrency: two sync flows and a push flow started at once on one DuckDB file -> all three
  finish, the warehouse equals a fresh sync, every lead exactly one customer;
- webhooks (`benchmarks.drill_webhooks`): `hcp webhooks serve` SIGKILLed mid-burst of signed
  events sent with retries (quick: 300 events, 1 kill; full: 1,000, 2 kills) and restarted ->
  one drain into a fresh DuckDB file holds every acknowledged event exactly once, applied once.

The sandbox runs in its own process (`benchmarks.common.sandbox_process`); nothing leaves
127.0.0.1. Every wait is bounded; a drill that overruns its budget fails instead of hanging.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.drill_common import (
    ROOT,
    Config,
    Drill,
    exactly_once,
    fresh_reference,
    lead_counts,
    push_until_settled,
    query,
    sync_until_ok,
)

FAULT_KINDS = ("500", "502", "503", "slow", "drop", "lost")
PUSH_KILL_RATE = 20.0
"""req/s of the push runs the kill drill interrupts: slow enough that sending takes seconds."""


# ====================================================================== faults


def drill_faults(cfg: Config) -> Drill:
    from benchmarks.common import sandbox_process, warehouse_diff, warehouse_snapshot
    from benchmarks.drill_inputs import write_leads
    from pipelines.leads.load import load_leads
    from pipelines.leads.profiles import ProfileBook

    d = Drill("faults")
    rate = cfg.fault_rate_alone
    scenarios: list[tuple[str, tuple[str, ...], float, float]] = []
    if not cfg.quick:
        scenarios += [(f"{k} alone", (k,), rate, 0.0) for k in FAULT_KINDS]
        scenarios.append(("all kinds + 429s", FAULT_KINDS, 0.10, 30.0))
        scenarios.append(("all kinds + 429s", FAULT_KINDS, 0.30, 30.0))
    else:  # CI: one mixed scenario; backoff after 30% faults costs ~40 s, 10% a few
        scenarios.append(("all kinds + 429s", FAULT_KINDS, 0.10, 30.0))
    d.did = (
        f"Sandbox scale {cfg.scale:g} in its own process. A fault-free sync is the reference. Per "
        f"scenario: a fresh sync (client timeout {cfg.timeout_s:g} s, `slow` holds "
        f"{cfg.slow_seconds:g} s; a failed sync is rerun like a schedule would, at most 4 runs), "
        f"then {cfg.leads} leads (5% with no contact, 10% phone-only) pushed until settled, with "
        "the sandbox accepting duplicate emails."
    )
    d.figures += [
        "| scenario | rate | faults injected (sync / push) | 429s | sync runs | tables equal "
        "| push runs | customers / valid leads | reconciled | duplicates | seconds |",
        "| --- | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    folder = cfg.work / "faults"
    folder.mkdir()
    with sandbox_process(scale=cfg.scale, slow_seconds=cfg.slow_seconds) as sb:
        admin = sb.admin
        reference = fresh_reference(sb.url, sb.api_key, folder)
        for i, (name, kinds, fault_rate, limit) in enumerate(scenarios):
            started = time.perf_counter()
            admin.settings(fault_rate=0.0, rate_limit=0.0, reject_duplicate_email=False)
            admin.reset()
            admin.settings(
                fault_rate=fault_rate,
                faults=list(kinds),
                fault_seed=cfg.seed + i,
                rate_limit=limit,
                slow_seconds=cfg.slow_seconds,
            )
            db = folder / f"sync-{i}.duckdb"
            result, runs = sync_until_ok(sb.url, sb.api_key, db, timeout_s=cfg.timeout_s)
            sync_faults = dict(admin.counters()["faults"])
            limited = admin.counters()["rate_limited"]
            diff = ["the sync never succeeded: " + result.message] if not result.ok else []
            diff = diff or warehouse_diff(reference, warehouse_snapshot(db))
            d.check(not diff, f"{name} at {fault_rate:.0%}: warehouse differs: {diff[:3]}")

            admin.reset_counters()
            push_db = folder / f"push-{i}.duckdb"
            lead_kinds = write_leads(folder / f"leads-{i}.csv", cfg.leads, f"f{i}")
            load_leads(folder / f"leads-{i}.csv", db_path=push_db, routes=ProfileBook())
            pushes = push_until_settled(push_db, sb.url, sb.api_key, timeout_s=cfg.timeout_s)
            push_faults = dict(admin.counters()["faults"])
            limited += admin.counters()["rate_limited"]
            created = admin.created_customers()
            problems = exactly_once(push_db, created, lead_kinds)
            d.check(not problems, f"{name} at {fault_rate:.0%}: push not exactly once: {problems}")
            valid = lead_kinds.get("email", 0) + lead_kinds.get("phone", 0)
            dups = len(created) - len({c["id"] for c in created}) + max(0, len(created) - valid)
            d.figures.append(
                f"| {name} | {fault_rate:.0%} | {_fmt(sync_faults)} / {_fmt(push_faults)} | "
                f"{limited} | {runs} | {'yes' if not diff else 'NO'} | {len(pushes)} | "
                f"{len(created)} / {valid} | {sum(p.reconciled for p in pushes)} | {dups} | "
                f"{time.perf_counter() - started:.1f} |"
            )
            cfg.log(d.figures[-1])
    return d


def _fmt(faults: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(faults.items())) or "none"


# ====================================================================== kills


def _spawn(kind: str, url: str, key: str, db: Path, log: Path) -> subprocess.Popen[bytes]:
    from benchmarks.common import child_env

    env = child_env(
        SOURCES__HOUSECALLPRO__API_KEY=key,
        SOURCES__HOUSECALLPRO__BASE_URL=url,
        SOURCES__HOUSECALLPRO__RATE_LIMIT=str(PUSH_KILL_RATE) if kind == "push" else "0",
        DLT_DATA_DIR=str(db.parent / "dlt"),
        HCP_LOCK_TIMEOUT="60",
    )
    if kind == "sync":
        cmd = [str(Path(sys.executable).with_name("hcp")), "sync", "--db", str(db)]
    else:
        cmd = [sys.executable, "-m", "pipelines.cli", "leads", "push", "--json", "--db", str(db)]
        cmd += ["--account", "default"]
    with log.open("ab") as fh:
        return subprocess.Popen(cmd, env=env, cwd=db.parent, stdout=fh, stderr=subprocess.STDOUT)


def drill_kills(cfg: Config) -> Drill:
    from collections import defaultdict

    from benchmarks.common import sandbox_process, warehouse_diff, warehouse_snapshot
    from benchmarks.drill_inputs import write_leads
    from pipelines.leads.load import load_leads
    from pipelines.leads.profiles import ProfileBook

    d = Drill("kills")
    rng = random.Random(cfg.seed)
    plan = ["sync"] * (cfg.kills // 2) + ["push"] * (cfg.kills - cfg.kills // 2)
    rng.shuffle(plan)
    batch = max(20, cfg.leads // 2)
    d.did = (
        "One DuckDB file shared by `hcp sync` and `python -m pipelines.cli leads push` subprocesses "
        f"(sandbox scale {cfg.scale:g}; the push paced at {PUSH_KILL_RATE:g} req/s so its sending "
        f"lasts seconds). First one unkilled run of each, whose length (process start to exit) "
        f"calibrates the kills. Then {cfg.kills} SIGKILLs in a random order of "
        f"{plan.count('sync')} sync and {plan.count('push')} push runs, each at a uniformly random "
        "moment between 0.1x and 1.0x of that length (imports, key check, reads, normalize, "
        f"load; claims, sends, writes). Before every push run {batch} new leads are staged, so "
        "each push has work in flight when it dies; between runs the sandbox gets edits (a "
        "customer renamed, a job edited, a customer added). A run that beats its kill must exit "
        "0 (it is not counted as a kill). Then recovery: pushes until settled, then one normal sync."
    )
    folder = cfg.work / "kills"
    folder.mkdir()
    db = folder / "shared.duckdb"
    logs = folder / "runs.log"
    kinds: Counter[str] = Counter()
    staged = 0

    def stage() -> None:
        nonlocal staged
        csv_path = folder / f"leads-{staged}.csv"
        kinds.update(write_leads(csv_path, batch, f"k{staged}"))
        load_leads(csv_path, db_path=db, routes=ProfileBook())
        staged += 1

    landed: Counter[str] = Counter()
    finished: Counter[str] = Counter()
    moments: dict[str, list[float]] = defaultdict(list)
    length: dict[str, float] = {}
    deadline = time.monotonic() + (600 if not cfg.quick else 180)
    with sandbox_process(scale=cfg.scale) as sb:  # duplicate emails accepted (the default)
        admin = sb.admin
        customers = [c["id"] for c in admin.records("customers")]
        jobs = [j["id"] for j in admin.records("jobs")]

        def edit(n: int) -> None:
            admin.update("customers", rng.choice(customers), {"first_name": f"Renamed{n}"})
            admin.update("jobs", rng.choice(jobs), {"description": f"edited by the drill, run {n}"})
            admin.add("customers", {"first_name": f"Added{n}", "email": f"added{n}@drill.example"})

        for kind in ("sync", "push"):  # calibration: one whole run of each
            if kind == "push":
                stage()
            started = time.monotonic()
            code = _spawn(kind, sb.url, sb.api_key, db, logs).wait(timeout=300)
            length[kind] = time.monotonic() - started
            d.check(code == 0, f"the unkilled {kind} run exited {code} (see {logs.name})")
            edit(0)
        todo = list(plan)
        while todo and time.monotonic() < deadline and d.ok:
            kind = todo[0]
            if kind == "push":
                stage()
            delay = rng.uniform(0.1, 1.0) * length[kind]
            started = time.monotonic()
            proc = _spawn(kind, sb.url, sb.api_key, db, logs)
            try:
                code = proc.wait(timeout=delay)
                finished[kind] += 1
                d.check(code == 0, f"a {kind} run that beat its kill exited {code}")
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                landed[kind] += 1
                moments[kind].append(time.monotonic() - started)
                todo.pop(0)
            edit(landed.total() + finished.total())
        d.check(
            not todo, f"only {landed.total()} of {cfg.kills} kills landed within the time budget"
        )
        # recovery: the push first (it creates customers), then the sync that reads them back
        pushes = push_until_settled(db, sb.url, sb.api_key)
        recovery, runs = sync_until_ok(sb.url, sb.api_key, db, runs=3)
        d.check(recovery.ok, f"the recovery sync failed {runs} times: {recovery.message}")
        reference = fresh_reference(sb.url, sb.api_key, folder)
        diff = warehouse_diff(reference, warehouse_snapshot(db))
        d.check(not diff, f"after recovery the warehouse differs from a fresh sync: {diff[:3]}")
        created = admin.created_customers()
        problems = exactly_once(db, created, dict(kinds))
        d.check(not problems, f"push after kills is not exactly once: {problems}")
        runs_table = _push_runs(db)
    valid = kinds["email"] + kinds["phone"]
    d.figures += [
        f"- calibration (whole run, process start to exit): sync {length['sync']:.1f} s, push "
        f"{length['push']:.1f} s ({batch} leads)",
        f"- kills landed: {landed['sync']} sync + {landed['push']} push = {landed.total()} "
        f"(runs that finished before their kill, exit 0: {dict(finished) or 0})",
    ]
    d.figures += [
        f"- {kind} kill moments, seconds after spawn: "
        + ", ".join(f"{t:.1f}" for t in sorted(moments[kind]))
        for kind in ("sync", "push")
        if moments[kind]
    ]
    d.figures += [
        f"- recovery: sync ok after {runs} run(s); {len(pushes)} push run(s); "
        f"`staging.push_runs` by status: {runs_table}",
        f"- warehouse vs a fresh sync of the final sandbox: "
        f"{'equal, table by table' if not diff else diff[:3]}",
        f"- leads: {dict(lead_counts(db))}; customers created {len(created)} for {valid} valid "
        f"leads ({staged} batches of {batch})",
    ]
    for line in d.figures:
        cfg.log(line)
    return d


def _push_runs(db: Path) -> dict[str, int]:

    return dict(query(db, "select status, count(*) from staging.push_runs group by 1"))


# ====================================================================== bad input


def _bounded(fn: Callable[[], Any], timeout_s: float) -> tuple[str, Any, float]:
    """Run `fn` in a thread: ("ok", value) | ("error", exception) | ("hang", None)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except Exception as exc:  # noqa: BLE001 - the drill classifies every exception
            box["error"] = exc

    started = time.perf_counter()
    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout_s)
    took = time.perf_counter() - started
    if t.is_alive():
        return "hang", None, took
    if "error" in box:
        return "error", box["error"], took
    return "ok", box.get("value"), took


def drill_bad_input(cfg: Config) -> Drill:

    from benchmarks.common import child_env, sandbox_process
    from benchmarks.drill_inputs import write_bad_files, write_bad_leads, write_platform_files
    from pipelines.leads.load import LoadError, load_leads
    from pipelines.leads.profiles import ProfileBook

    d = Drill("bad input")
    folder = cfg.work / "bad"
    folder.mkdir()
    categories = write_bad_leads(folder / "bad_leads.csv")
    malformed = sum(n for c, n in categories.items() if c != "valid")
    files = write_bad_files(folder / "files")
    d.did = (
        f"One CSV of {malformed} malformed lead rows in {len(categories) - 1} categories mixed "
        f"with {categories['valid']} valid ones, loaded and pushed to the sandbox; then "
        f"{len(files)} malformed files loaded one by one (each in a watchdog thread, 60 s), and "
        + (
            "through the `hcp leads load` CLI too."
            if not cfg.quick
            else "(CLI skipped in --quick)."
        )
    )
    db = folder / "bad.duckdb"
    status, value, took = _bounded(
        lambda: load_leads(folder / "bad_leads.csv", db_path=db, routes=ProfileBook()), 120
    )
    d.check(status == "ok", f"the malformed-rows file did not load: {status} {value!r}")
    if status == "ok":
        d.figures.append(
            f"- malformed rows file: {value.rows} rows, {value.staged} staged, {value.failed} "
            f"failed with a reason, in {took:.1f} s"
        )
    with sandbox_process(scale=0.1) as sb:
        pushes = push_until_settled(db, sb.url, sb.api_key)
        created = sb.admin.created_customers()
    rows = query(db, "select lead_id, status, error_reason from staging.leads order by lead_id")
    by_id = {r[0]: r for r in rows}
    bad = [r for r in rows if r[0].startswith("bad-")]
    good = [r for r in rows if r[0].startswith("good-")]
    d.check(len(bad) == malformed, f"{len(bad)} of {malformed} malformed rows staged")
    unexplained = [r for r in bad if r[1] != "failed_permanent" or not (r[2] or "").strip()]
    d.check(not unexplained, f"{len(unexplained)} malformed rows not failed with a reason: {unexplained[:3]}")  # fmt: skip
    d.check(
        all(r[1] == "sent" for r in good) and len(good) == categories["valid"],
        f"valid rows: {Counter(r[1] for r in good)}",
    )
    d.check(len(created) == categories["valid"], f"{len(created)} customers for {categories['valid']} valid rows")  # fmt: skip
    examples: dict[str, str] = {}
    for category, cells in _categorised(folder / "bad_leads.csv"):
        row = by_id.get(cells)
        if category != "valid" and row and category not in examples:
            examples[category] = (row[2] or "")[:90]
    d.figures.append(
        f"- after {len(pushes)} push run(s): {dict(Counter(r[1] for r in rows))}; "
        f"{len(created)} customers created"
    )
    d.figures += ["", "| row category | rows | example reason |", "| --- | ---: | --- |"]
    d.figures += [
        f"| {c} | {categories[c]} | {examples.get(c, '').replace('|', '/')} |"
        for c in categories
        if c != "valid"
    ]
    d.figures += ["", "| file | outcome | seconds | message (first 110 chars) |", "| --- | --- | ---: | --- |"]  # fmt: skip
    for name, path in files.items():
        fdb = folder / f"file-{name}.duckdb"
        status, value, took = _bounded(lambda p=path, f=fdb: load_leads(p, db_path=f, routes=ProfileBook()), 60)  # fmt: skip
        if status == "error" and isinstance(value, LoadError):
            outcome, message = "refused (LoadError)", str(value)
        elif status == "ok":
            outcome = f"loaded: {value.staged} staged, {value.failed} failed"
            message = "; ".join(f"line {p.line}: {p.reason}" for p in value.problems[:2])
        else:
            outcome, message = status.upper(), f"{type(value).__name__}: {value}"
        d.check(status != "hang", f"{name}: the load hung for 60 s")
        d.check(
            not (status == "error" and not isinstance(value, LoadError)),
            f"{name}: crashed with {type(value).__name__}: {value}",
        )
        d.check(bool(message.strip()) or status == "ok", f"{name}: refused without a reason")
        if not cfg.quick:
            cli = subprocess.run(
                [
                    str(Path(sys.executable).with_name("hcp")),
                    "leads",
                    "load",
                    str(path),
                    "--db",
                    str(folder / f"cli-{name}.duckdb"),
                ],  # fmt: skip
                env=child_env(),
                capture_output=True,
                text=True,
                timeout=120,
            )
            d.check(
                "Traceback" not in cli.stderr + cli.stdout, f"{name}: the CLI printed a traceback"
            )
            outcome += f"; CLI exit {cli.returncode}"
        d.figures.append(
            f"| {name} | {outcome} | {took:.1f} | {message[:110].replace('|', '/').replace(chr(10), ' ')} |"
        )
    _drill_platform_files(d, folder, write_platform_files(folder / "platforms"))
    for line in d.figures:
        cfg.log(line)
    return d


def _drill_platform_files(d: Drill, folder: Path, files: dict[str, tuple[Path, int]]) -> None:
    """Platform exports as downloaded: each loads with no mapping (no file refused), its test
    leads staged failed "test lead from <platform>", every other row pending."""
    from pipelines.leads.load import load_leads
    from pipelines.leads.profiles import ProfileBook

    d.did += (
        f" Then {len(files)} lead files as platforms export them (Facebook Lead Ads UTF-16 TSV, "
        "Google Ads and LinkedIn CSVs, Windows-1252 and semicolon Excel files), no mapping."
    )
    d.figures += ["", "| platform file | read as | outcome | test leads failed |", "| --- | --- | --- | ---: |"]  # fmt: skip
    for name, (path, test_rows) in files.items():
        fdb = folder / f"platform-{name}.duckdb"
        status, value, _ = _bounded(lambda p=path, f=fdb: load_leads(p, db_path=f, routes=ProfileBook()), 60)  # fmt: skip
        d.check(status == "ok", f"{name}: not loaded: {status} {value!r}")
        if status != "ok":
            d.figures.append(f"| {name} | | {status.upper()}: {str(value)[:80]} | |")
            continue
        rows = query(fdb, "select status, error_reason from staging.leads")
        tests = [r for r in rows if (r[1] or "").endswith(f"test lead from {value.preset}")]
        d.check(len(tests) == test_rows, f"{name}: {len(tests)} of {test_rows} test leads failed as such")  # fmt: skip
        others = Counter(r[0] for r in rows if r not in tests)
        d.check(others == Counter({"pending": value.rows - test_rows}), f"{name}: other rows {dict(others)}")  # fmt: skip
        how = f"{value.preset or 'no preset'}; {value.encoding}, {value.delimiter}"
        d.figures.append(f"| {name} | {how} | {value.staged} staged, {value.failed} failed | {len(tests)} |")  # fmt: skip


def _categorised(path: Path) -> Iterator[tuple[str, str]]:
    """(category, lead id) of every row of the bad-leads file, in file order."""
    from benchmarks.drill_inputs import malformed_rows

    names = {cells[0]: category for category, cells in malformed_rows()}
    for lead_id, category in names.items():
        yield category, lead_id


# ====================================================================== secrets + flows


@contextmanager
def prefect_server() -> Iterator[str]:
    """A temporary Prefect API (prefect_test_harness) for the flows of the drill."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())


def drill_secrets(cfg: Config, api_url: str) -> Drill:
    from benchmarks.drill_secrets import run_secrets_drill

    return run_secrets_drill(cfg, api_url)


def drill_concurrency(cfg: Config, api_url: str) -> Drill:
    from benchmarks.common import child_env, sandbox_process, warehouse_diff, warehouse_snapshot
    from benchmarks.drill_inputs import write_leads
    from pipelines.leads.load import load_leads
    from pipelines.leads.profiles import ProfileBook

    d = Drill("concurrency")
    folder = cfg.work / "concurrency"
    folder.mkdir()
    db = folder / "shared.duckdb"
    kinds = write_leads(folder / "leads.csv", cfg.leads, "c")
    load_leads(folder / "leads.csv", db_path=db, routes=ProfileBook())
    d.did = (
        "Two `hcp-sync` flows and one `hcp-push-leads` flow, each in its own process reporting "
        f"to one Prefect test server, started within a second of each other on one DuckDB file "
        f"({cfg.leads} staged leads, sandbox scale {cfg.scale:g}); 300 s budget."
    )
    with sandbox_process(scale=cfg.scale) as sb:
        env = child_env(
            SOURCES__HOUSECALLPRO__API_KEY=sb.api_key,
            SOURCES__HOUSECALLPRO__BASE_URL=sb.url,
            SOURCES__HOUSECALLPRO__RATE_LIMIT="1000",
            SOURCES__HOUSECALLPRO__CONCURRENCY="8",
            PREFECT_API_URL=api_url,
            DLT_DATA_DIR=str(folder / "dlt"),
            HCP_LOCK_TIMEOUT="300",
        )
        codes = {
            "sync-1": f"from flows.sync import sync_flow; sync_flow(db_path={str(db)!r})",
            "sync-2": f"from flows.sync import sync_flow; sync_flow(db_path={str(db)!r})",
            "push": f"from flows.push_leads import push_leads_flow; push_leads_flow(db_path={str(db)!r})",
        }  # fmt: skip
        started = time.perf_counter()
        procs = {}
        for name, code in codes.items():
            with (folder / f"{name}.log").open("wb") as fh:
                procs[name] = subprocess.Popen(
                    [sys.executable, "-c", code], env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT
                )  # fmt: skip
        results = {}
        for name, proc in procs.items():
            left = max(1.0, 300 - (time.perf_counter() - started))
            try:
                results[name] = (proc.wait(timeout=left), time.perf_counter() - started)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)
                results[name] = (None, time.perf_counter() - started)
        took = time.perf_counter() - started
        waited = [
            n
            for n in codes
            if "in use by another hcp process" in (folder / f"{n}.log").read_text(errors="replace")
        ]
        for name, (code, _t) in results.items():
            tail = (folder / f"{name}.log").read_text(errors="replace")[-1500:]
            d.check(code == 0, f"{name} exited {code}: {tail}")
        reference = fresh_reference(sb.url, sb.api_key, folder)
        diff = warehouse_diff(reference, warehouse_snapshot(db))
        # the last sync may have run before the push (then the new customers are not in yet):
        # one more sync settles it, and must change nothing else
        settled = "as the flows left it"
        if diff:
            settled = f"after one more sync (before it: {diff[:2]})"
            sync_until_ok(sb.url, sb.api_key, db, runs=1)
            diff = warehouse_diff(reference, warehouse_snapshot(db))
        d.check(not diff, f"warehouse differs from a fresh sync: {diff[:3]}")
        problems = exactly_once(db, sb.admin.created_customers(), kinds)
        d.check(not problems, f"push not exactly once: {problems}")
    d.figures += [
        "- exit codes and finish times: "
        + ", ".join(f"{n} {c} at {t:.1f} s" for n, (c, t) in results.items()),
        f"- processes that logged waiting for the DuckDB lock: {len(waited)} ({', '.join(waited) or 'none'})",
        f"- warehouse vs a fresh sync: {'equal, table by table' if not diff else diff[:3]} "
        f"{settled}; "
        f"leads {dict(lead_counts(db))}; all done in {took:.1f} s",
    ]
    for line in d.figures:
        cfg.log(line)
    return d


# ====================================================================== main


DRILLS = ("faults", "kills", "object_kills", "bad_input", "secrets", "concurrency", "webhooks")


def render(drills: list[Drill], cmd: str, took: float, load: str) -> str:
    from benchmarks.common import load_average, machine

    out = [
        f"## Reliability drill, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{cmd}`. Machine: {machine()}. Load average at start {load}, at the end "
        f"{load_average()}. Wall time {took / 60:.1f} min.",
        "",
        "| drill | result | seconds |",
        "| --- | --- | ---: |",
    ]
    out += [f"| {d.name} | {'PASS' if d.ok else 'FAIL'} | {d.seconds:.0f} |" for d in drills]
    for d in drills:
        out += ["", f"### {d.name}: {'PASS' if d.ok else 'FAIL'}", "", d.did, "", *d.figures]
        if d.problems:
            out += ["", "Problems:", *[f"- {p}" for p in d.problems]]
    return "\n".join(out) + "\n"


def _prepare_env(work: Path) -> None:
    """Offline, quiet, and every state folder inside the drill's temp dir (before imports)."""
    os.environ.update(
        RUNTIME__DLTHUB_TELEMETRY="false",
        RUNTIME__LOG_LEVEL="ERROR",
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_HOME=str(work / "prefect-home"),
        DLT_DATA_DIR=str(work / "dlt-data"),
        DLT_PROJECT_DIR=str(work / "dlt-project"),
        HCP_LOCK_TIMEOUT="300",
        PREFECT_LOGGING_TO_API_BATCH_INTERVAL="0.3",
    )
    for key in list(os.environ):
        if key.startswith(("SOURCES__HOUSECALLPRO", "DESTINATION__")):
            del os.environ[key]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.drill",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="the CI drill: fewer kills and scenarios")
    p.add_argument("--only", default=",".join(DRILLS), help=f"comma list of {', '.join(DRILLS)}")
    p.add_argument("--seed", type=int, default=20261122)
    p.add_argument("--kills", type=int, default=None, help="default 20 (quick: 4)")
    p.add_argument("--out", default=None, help="also write the markdown report here")
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs, databases)")
    a = p.parse_args(argv)
    only = [x.strip() for x in a.only.split(",") if x.strip()]
    unknown = set(only) - set(DRILLS)
    if unknown:
        p.error(f"unknown drills {sorted(unknown)}")
    from benchmarks.common import load_average

    load = load_average()
    cmd = "python -m benchmarks.drill " + " ".join(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="hcp-drill-"))
        if not a.keep:
            import shutil

            stack.callback(shutil.rmtree, work, ignore_errors=True)
        _prepare_env(work)
        cfg = Config(
            quick=a.quick,
            seed=a.seed,
            work=work,
            scale=0.1 if a.quick else 0.2,
            leads=40 if a.quick else 120,
            kills=a.kills if a.kills is not None else (4 if a.quick else 20),
            fault_rate_alone=0.2,
        )
        print(f"drill work folder: {work}", flush=True)
        drills: list[Drill] = []
        api_url = None
        for name in only:
            if name in ("secrets", "concurrency") and api_url is None:
                api_url = stack.enter_context(prefect_server())
            print(f"\n=== {name}", flush=True)
            t = time.perf_counter()
            try:
                if name == "faults":
                    d = drill_faults(cfg)
                elif name == "kills":
                    d = drill_kills(cfg)
                elif name == "object_kills":
                    from benchmarks.drill_objects import drill_object_kills

                    d = drill_object_kills(cfg)
                elif name == "bad_input":
                    d = drill_bad_input(cfg)
                elif name == "secrets":
                    d = drill_secrets(cfg, str(api_url))
                elif name == "webhooks":
                    from benchmarks.drill_webhooks import drill_webhooks

                    d = drill_webhooks(cfg)
                else:
                    d = drill_concurrency(cfg, str(api_url))
            except Exception as exc:  # noqa: BLE001 - a drill that crashes is a failed drill
                d = Drill(name, did="(crashed)")
                d.problems.append("".join(traceback.format_exception(exc))[-3000:])
            d.seconds = time.perf_counter() - t
            print(f"=== {name}: {'PASS' if d.ok else 'FAIL'} in {d.seconds:.0f} s", flush=True)
            for problem in d.problems:
                print(f"  problem: {problem}", flush=True)
            drills.append(d)
        report = render(drills, cmd.strip(), time.perf_counter() - started, load)
    print("\n" + report, flush=True)
    if a.out:
        Path(a.out).write_text(report)
    summary = {d.name: d.ok for d in drills}
    print(json.dumps({"passed": all(summary.values()), "drills": summary}), flush=True)
    return 0 if all(summary.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
