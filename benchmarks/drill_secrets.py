"""The secrets drill: run everything with a recognisable fake key, then look for it everywhere.

The key `sk-drill-SECRET-<hex>` is used for a demo-like run (sync, models, lead load and push,
second sync, attribution report), the Prefect flows (sync and push, under a Prefect test
server), the CLI (full mode) and error paths (a rejected key, a refused connection, a server
that only answers 500). Then:

- every DuckDB file written: every column of every table in every schema, cast to text,
  searched with SQL (a byte scan of a DuckDB file is not conclusive: strings can be compressed);
- every file under the drill's folder (logs, reports, dlt state and load packages, the Prefect
  test server's SQLite database) searched byte for byte;
- the artifacts, flow logs and task-run messages read back from Prefect's API;
- the text, repr and traceback of every exception raised on the error paths.

A positive control first plants the key in a scratch table and a scratch file and checks the
scanner finds both, so "not found" means not there rather than a blind scanner.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

from benchmarks.drill_common import ROOT, Config, Drill


def scan_duckdb(db: Path, needle: str) -> tuple[list[str], int]:
    """(`schema.table.column` holding `needle`, columns scanned) for one DuckDB file."""
    import duckdb

    hits, scanned = [], 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "join information_schema.tables using (table_catalog, table_schema, table_name) "
            "where table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, table, column in columns:
            scanned += 1
            found = con.execute(
                f'select count(*) from "{schema}"."{table}" '
                f'where cast("{column}" as varchar) like ?',
                [f"%{needle}%"],
            ).fetchone()
            if found and found[0]:
                hits.append(f"{db.name}: {schema}.{table}.{column} ({found[0]} rows)")
    finally:
        con.close()
    return hits, scanned


def scan_files(roots: list[Path], needle: str) -> tuple[list[str], int, int]:
    """(files containing `needle`, files scanned, bytes scanned) under `roots`."""
    raw = needle.encode()
    hits, files, size = [], 0, 0
    for root in roots:
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in paths:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            files += 1
            size += len(data)
            if raw in data:
                hits.append(str(path))
    return hits, files, size


def _capture_logs(path: Path) -> logging.Handler:
    """Every log record of this process, at DEBUG, into `path` (scanned afterwards)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in ("httpx", "httpcore", "hcp", "sources", "pipelines", "dlt"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    return handler


def run_secrets_drill(cfg: Config, api_url: str) -> Drill:
    from benchmarks.common import child_env, sandbox_process
    from benchmarks.drill_common import exactly_once, push_until_settled, sync_until_ok
    from benchmarks.drill_inputs import write_leads
    from pipelines.config import Account
    from pipelines.leads.load import load_leads
    from pipelines.leads.profiles import ProfileBook, PushSettings
    from pipelines.leads.push import push_leads
    from pipelines.report import attribution_report
    from pipelines.sync import sync_account
    from pipelines.transform import run_transforms
    from sources.housecallpro.client import HCPClient

    d = Drill("secrets")
    tail = secrets.token_hex(8)
    key = f"sk-drill-SECRET-{tail}"
    needle = f"SECRET-{tail}"  # also catches a key with its prefix cut off
    folder = cfg.work / "secrets"
    folder.mkdir()
    exceptions: list[str] = []
    handler = _capture_logs(folder / "in-process.log")
    steps: list[str] = []
    try:
        with (
            sandbox_process(scale=cfg.scale, api_key=key) as sb,
            sandbox_process(scale=0.1) as other,  # a sandbox that does not know our key
        ):
            acct = Account("default", key, sb.url, rate_limit=0, concurrency=4)
            exceptions += [repr(acct), str(acct)]
            db = folder / "demo-like.duckdb"
            # the demo's path: sync, models, leads, push, sync again, report
            first, _ = sync_until_ok(sb.url, key, db, runs=2)
            d.check(first.ok, f"sync failed: {first.message}")
            run_transforms(db)
            kinds = write_leads(folder / "leads.csv", cfg.leads, "s")
            load_leads(folder / "leads.csv", db_path=db, routes=ProfileBook())
            pushes = push_until_settled(db, sb.url, key)
            d.check(
                not exactly_once(db, sb.admin.created_customers(), kinds), "push not exactly once"
            )
            sync_until_ok(sb.url, key, db, runs=2)
            run_transforms(db)
            _, written = attribution_report(
                db, out=[folder / "report.html", folder / "report.png", folder / "report.csv"]
            )
            steps.append(
                f"demo-like run: sync {first.requests} requests, models, {cfg.leads} leads "
                f"({sum(p.sent for p in pushes)} sent), second sync, report "
                f"({', '.join(p.suffix for p in written)})"
            )
            if not cfg.quick:
                steps.append(_real_demo(folder, tail))
                steps.append(_cli_runs(folder, sb.url, other.url, key, child_env))
            # error paths: the text of every exception a user could see
            errors = 0
            for label, call in (
                ("rejected key", lambda: HCPClient(key, other.url, max_retries=0).get("/company")),
                (
                    "refused connection",
                    lambda: HCPClient(key, "http://127.0.0.1:9", max_retries=0).get("/company"),
                ),  # fmt: skip
                ("server errors", lambda: _always_500(sb, key)),
            ):
                try:
                    call()
                    exceptions.append(f"{label}: no exception")
                except Exception as exc:  # noqa: BLE001 - every exception text is scanned
                    errors += 1
                    exceptions += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
            bad = sync_account(
                Account("default", key, other.url, rate_limit=0), folder / "bad.duckdb"
            )
            exceptions.append(bad.message)
            bad_push = push_leads(
                Account("default", key, other.url, rate_limit=0),
                db_path=folder / "bad.duckdb",
                routes=ProfileBook(),
                settings=PushSettings(),
            )
            exceptions.append(bad_push.message)
            steps.append(
                f"error paths: {errors} exceptions (rejected key, refused connection, 500s after "
                f"retries), a sync and a push with a rejected key (exit {bad.exit_code}, "
                f"{bad_push.exit_code})"
            )
            steps.append(_webhooks(folder, f"wh-drill-SECRET-{tail}", child_env, exceptions))
            artifacts, flow_logs, messages = _flows(folder, sb.url, other.url, key)
            steps.append(
                f"Prefect: a sync flow and a push flow that succeed and a sync flow whose key is "
                f"rejected; {len(artifacts)} artifacts, {len(flow_logs)} log lines and "
                f"{len(messages)} task-run messages read back"
            )
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    (folder / "exceptions.txt").write_text("\n".join(exceptions))

    # positive control: the scanner must find a planted key
    control = folder / "control"
    control.mkdir()
    (control / "planted.log").write_text(f"Authorization: Token {key}\n")
    import duckdb

    with duckdb.connect(str(control / "planted.duckdb")) as con:
        con.execute("create schema s; create table s.t (a int, b json)")
        con.execute("insert into s.t values (1, ?)", [f'{{"k": "{key}"}}'])
    d.check(
        bool(scan_duckdb(control / "planted.duckdb", needle)[0])
        and bool(scan_files([control / "planted.log"], needle)[0]),
        "the scanner did not find a planted key: the scan proves nothing",
    )
    # the scan
    dbs = [p for p in cfg.work.rglob("*.duckdb") if control not in p.parents]
    db_hits: list[str] = []
    columns = 0
    for db in dbs:
        hits, n = scan_duckdb(db, needle)
        db_hits += hits
        columns += n
    prefect_db = _prefect_db()
    roots = [folder, cfg.work / "dlt-data", cfg.work / "prefect-home"] + ([prefect_db] if prefect_db else [])  # fmt: skip
    file_hits, files, size = scan_files([r for r in roots if r.exists()], needle)
    file_hits = [h for h in file_hits if "/control/" not in h]
    api_hits = [
        what
        for what, texts in (("artifact", artifacts), ("flow log", flow_logs), ("task message", messages))
        if any(needle in t for t in texts)
    ]  # fmt: skip
    exc_hits = [t[:200] for t in exceptions if needle in t]
    d.check(not db_hits, f"key found in DuckDB: {db_hits}")
    d.check(not file_hits, f"key found in files: {file_hits[:10]}")
    d.check(not api_hits, f"key found in Prefect: {api_hits}")
    d.check(not exc_hits, f"key found in exception text: {exc_hits[:3]}")
    d.check(len(artifacts) >= 2, f"only {len(artifacts)} artifacts read back from Prefect")
    d.did = (
        "Key `sk-drill-SECRET-<16 hex>` (searched as `SECRET-<hex>`). "
        + " ".join(f"{s}." for s in steps)
        + " Then every DuckDB column, every file, Prefect's API records and every exception text "
        "were searched; a planted key was found by the same scanner (positive control)."
    )
    d.figures += [
        f"- DuckDB: {len(dbs)} files, {columns} columns scanned (every schema, every table): "
        f"{len(db_hits)} hits",
        f"- files: {files} files, {size / 1e6:.1f} MB scanned (logs, reports, dlt state and "
        f"packages, Prefect's database{'' if prefect_db else ' NOT FOUND'}): {len(file_hits)} hits",
        f"- Prefect API: {len(artifacts)} artifacts, {len(flow_logs)} log lines, {len(messages)} "
        f"task-run messages: {len(api_hits)} hits",
        f"- exception texts (str, repr, traceback): {len(exceptions)} texts: {len(exc_hits)} hits",
    ]
    for line in d.figures:
        cfg.log(line)
    return d


def _webhooks(folder: Path, secret: str, child_env: Any, texts: list[str]) -> str:
    """`hcp webhooks serve` with `secret`, fed by a sandbox sending signed events and by
    deliveries it must refuse; its output, its spool and every answer are kept for the scan."""
    import socket
    import time

    import httpx

    from pipelines.webhooks.spool import Spool
    from sandbox.server import run_sandbox
    from sandbox.settings import SandboxSettings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    spool = folder / "drill.webhooks.sqlite"
    hcp = str(Path(sys.executable).with_name("hcp"))
    env = child_env(SOURCES__HOUSECALLPRO__WEBHOOK_SECRET=secret)
    with (folder / "webhooks.log").open("w") as log:
        proc = subprocess.Popen(
            [hcp, "webhooks", "serve", "--port", str(port), "--spool", str(spool)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    texts.append(httpx.get(f"{base}/healthz", timeout=1).text)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("the webhook receiver did not start") from None
                    time.sleep(0.1)
            settings = SandboxSettings(
                scale=0.1, webhook_url=f"{base}/webhooks/default", webhook_secret=secret
            )
            with run_sandbox(settings) as sb, sb.client() as client:
                for i in range(5):
                    made = client.post("/customers", json={"first_name": f"Hook{i}"}).json()
                    client.put(f"/customers/{made['id']}", json={"last_name": "Drill"})
                sender = sb.state.webhooks.sender
                idle = sender is not None and sender.wait_idle(30)
                stats = dict(sender.stats) if sender else {}
                texts.append(httpx.get(f"{sb.base_url}/_sandbox/settings").text)
                texts.append(repr(sb.settings))
            refused = []
            body = b'{"event":"customer.created","customer":{"id":"cus_x"}}'
            stale = str(int(time.time()) - 3600)
            for path, headers in (
                ("default", {"Api-Timestamp": str(int(time.time())), "Api-Signature": "0" * 64}),
                ("default", {"Api-Timestamp": stale, "Api-Signature": "0" * 64}),
                ("default", {}),
                ("nobody", {}),
            ):
                r = httpx.post(f"{base}/webhooks/{path}", content=body, headers=headers)
                refused.append(r.status_code)
                texts.append(r.text)
            texts.append(httpx.get(f"{base}/healthz").text)
        finally:
            proc.terminate()
            proc.wait(10)
    with Spool(spool) as store:
        counts = store.counts()
    if not idle or stats.get("sent") != 10 or counts["pending"] != 10:
        raise RuntimeError(f"webhooks not all delivered: sender {stats}, spool {counts}")
    return (
        f"webhooks: `hcp webhooks serve` took {counts['pending']} signed sandbox events into its "
        f"spool and refused 4 deliveries ({refused}), output captured"
    )


def _always_500(sb: Any, key: str) -> None:
    from sources.housecallpro.client import HCPClient

    sb.admin.settings(fault_rate=1.0, faults=["500"])
    try:
        HCPClient(key, sb.url, max_retries=1, backoff_base=0.01).get("/customers")
    finally:
        sb.admin.settings(fault_rate=0.0)


def _prefect_db() -> Path | None:
    """The Prefect test server's SQLite file (flow runs, logs, artifacts, task states)."""
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    url = str(PREFECT_SERVER_DATABASE_CONNECTION_URL.value() or "")
    path = Path(url.split(":///", 1)[1]) if ":///" in url else None
    return path.parent if path and path.exists() else None


def _flows(folder: Path, url: str, other_url: str, key: str) -> tuple[list[str], list[str], list[str]]:  # fmt: skip
    """Run the flows in this process under the Prefect server; read back what Prefect kept."""
    from benchmarks.drill_inputs import write_leads
    from flows.push_leads import push_leads_flow
    from flows.sync import sync_flow
    from pipelines.leads.load import load_leads
    from pipelines.leads.profiles import ProfileBook
    from tests.plugins.prefect_fixtures import flow_run_record

    db = folder / "flows.duckdb"
    write_leads(folder / "flow-leads.csv", 20, "pf")
    load_leads(folder / "flow-leads.csv", db_path=db, routes=ProfileBook())
    env = {
        "SOURCES__HOUSECALLPRO__API_KEY": key,
        "SOURCES__HOUSECALLPRO__BASE_URL": url,
        "SOURCES__HOUSECALLPRO__RATE_LIMIT": "1000",
        "SOURCES__HOUSECALLPRO__CONCURRENCY": "8",
    }
    artifacts: list[str] = []
    logs: list[str] = []
    messages: list[str] = []
    with mock.patch.dict(os.environ, env):
        states = [
            sync_flow(db_path=str(db), return_state=True),
            push_leads_flow(db_path=str(db), return_state=True),
        ]
        with mock.patch.dict(os.environ, {"SOURCES__HOUSECALLPRO__BASE_URL": other_url}):
            states.append(sync_flow(db_path=str(db), transforms=False, return_state=True))
    for state in states:
        task_runs, arts, text = flow_run_record(state)
        artifacts += arts
        logs += text.splitlines()
        messages += [str(state.message or "")] + [
            str(t.state.message or "") for t in task_runs.values() if t.state
        ]
    return artifacts, logs, messages


def _real_demo(folder: Path, tail: str) -> str:
    """`run_demo` itself, with its random key made recognisable (`demo-sk-drill-SECRET-...`)."""
    from rich.console import Console

    from pipelines.cli.demo import run_demo

    work = folder / "demo"
    work.mkdir()
    # only the demo module's `secrets` name is replaced: patching `secrets.token_hex` itself
    # would also give every dlt pipe the same instance id (dlt draws them from it)
    stub = SimpleNamespace(token_hex=lambda n=None: f"sk-drill-SECRET-{tail}")
    with (work / "console.log").open("w") as out, mock.patch("pipelines.cli.demo.secrets", stub):
        result = run_demo(work, console=Console(file=out, width=120))
    return (
        f"`run_demo` (key `demo-sk-drill-SECRET-<hex>`): {result.leads_pushed} leads pushed, "
        f"{len(result.reports)} report files, console captured"
    )


def _cli_runs(folder: Path, url: str, other_url: str, key: str, child_env: Any) -> str:
    """The `hcp` commands a user would type, output captured to log files (scanned)."""
    hcp = str(Path(sys.executable).with_name("hcp"))
    db = folder / "cli.duckdb"
    env = child_env(
        SOURCES__HOUSECALLPRO__API_KEY=key,
        SOURCES__HOUSECALLPRO__BASE_URL=url,
        SOURCES__HOUSECALLPRO__RATE_LIMIT="1000",
        DLT_DATA_DIR=str(folder / "cli-dlt"),
    )
    leads = ROOT / "pipelines" / "cli" / "demo_data" / "leads.csv"
    runs = [
        ["verify"],
        ["sync", "--db", str(db)],
        ["transform", "--db", str(db)],
        ["leads", "load", str(leads), "--db", str(db)],
        ["leads", "push", "--dry-run", "--db", str(db)],
        ["leads", "push", "--db", str(db)],
        ["leads", "status", "--db", str(db)],
        ["report", "attribution", "--db", str(db), "--out", str(folder / "cli-report.csv")],
    ]
    codes = []
    with (folder / "cli.log").open("w") as log:
        for args in runs:
            r = subprocess.run([hcp, *args], env=env, capture_output=True, text=True, timeout=300)
            log.write(f"$ hcp {' '.join(args)}\n{r.stdout}\n{r.stderr}\nexit {r.returncode}\n")
            codes.append(r.returncode)
        bad = {**env, "SOURCES__HOUSECALLPRO__BASE_URL": other_url}
        for args in (["verify"], ["sync", "--db", str(folder / "cli-bad.duckdb")]):
            r = subprocess.run([hcp, *args], env=bad, capture_output=True, text=True, timeout=300)
            log.write(f"$ hcp {' '.join(args)} (rejected key)\n{r.stdout}\n{r.stderr}\nexit {r.returncode}\n")  # fmt: skip
            codes.append(r.returncode)
    return f"CLI: {len(codes)} `hcp` commands (exit codes {codes}), output captured"
