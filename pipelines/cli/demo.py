"""`hcp demo`: the whole product against its own sandbox, in about a minute, no account needed.

Sandbox (fixed seed, its own random key, loopback only) -> sync -> models -> sample leads loaded
and pushed -> one webhook: the receiver runs in-process on a loopback port with a random secret,
the sandbox signs and POSTs the event of one customer update to it, and the drain applies it
(`hcp.webhook_events` + `hcp.customers`) -> a second sync that brings the new customers back -> models again -> attribution
report (HTML + PNG) -> a summary with three SQL queries that run as printed.

It never reads configured credentials (DESIGN.md): the account is built here from the sandbox
handle, and nothing of the user's config reaches the sync or the push. It only writes the demo
DuckDB file (refusing to overwrite a file an earlier demo did not create), the two report files,
and dlt state and the webhook spool in a temporary folder it removes. It never prints the
sandbox's key or the webhook secret.

`run_demo` is the runner (benchmarks/drill_secrets.py calls it); `demo_command` is `hcp demo`.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import typer
import uvicorn
from rich.console import Console
from rich.markup import escape

from pipelines.cli.options import fail
from pipelines.config import Account
from pipelines.leads.load import load_leads
from pipelines.leads.profiles import ProfileBook, PushSettings
from pipelines.leads.push import push_leads
from pipelines.report import attribution_report
from pipelines.sync import SyncResult, sync_account
from pipelines.sync.destination import DATASET, account_pipeline_name, warehouse_lock
from pipelines.transform import run_transforms
from pipelines.warehouse import connect, read_copy_path
from pipelines.webhooks.drain import drain_into
from pipelines.webhooks.receiver import create_app
from pipelines.webhooks.spool import Spool

DEMO_SEED = 42
DEMO_DB = "hcp-demo.duckdb"
DEMO_REPORT = "hcp-demo-report"
DATA_DIR = Path(__file__).resolve().parent / "demo_data"
LEADS_CSV = DATA_DIR / "leads.csv"
SPEND_CSV = DATA_DIR / "marketing_spend.csv"
MARKER_TABLE = "main._hcp_demo"
WEBHOOK_WAIT_S = 5.0
"""How long the demo waits for its one webhook to reach the spool (it takes milliseconds)."""

# Three queries the summary prints; tests run each one as written.
QUERIES: tuple[tuple[str, str], ...] = (
    (
        "Which channels make money (lead-source buckets, all months)",
        "SELECT lead_source_bucket, sum(new_customers) AS customers, "
        "sum(jobs_completed) AS completed_jobs, sum(job_revenue) AS revenue, "
        "sum(amount_paid) AS paid\n"
        "FROM analytics.lead_source_performance GROUP BY 1 ORDER BY revenue DESC;",
    ),
    (
        "Paid channels: spend, cost per customer and ROAS (revenue / spend) by month",
        "SELECT month, lead_source_bucket, marketing_spend, new_customers, cost_per_customer, "
        "job_revenue, roas\n"
        "FROM analytics.lead_source_bucket_performance WHERE marketing_spend IS NOT NULL\n"
        "ORDER BY month DESC, roas DESC LIMIT 12;",
    ),
    (
        "What the pushed leads became",
        "SELECT funnel_stage, push_status, count(*) AS leads, "
        "string_agg(lead_name, ', ' ORDER BY lead_name) AS who\n"
        "FROM analytics.lead_funnel GROUP BY ALL ORDER BY leads DESC;",
    ),
)


class DemoError(Exception):
    """The demo cannot run (e.g. the target file belongs to someone else); nothing was changed."""


@dataclass
class DemoResult:
    db_path: Path
    reports: list[Path] = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    leads_pushed: int = 0
    customers_back: int = 0
    webhook_event: str = ""
    webhook_seconds: float = 0.0
    """From the sandbox's write to the receiver's spool commit."""


def prepare_db(path: Path) -> None:
    """Start from an empty file; replace an earlier demo's, refuse anything else."""
    if path.exists():
        with connect(path) as con:
            is_demo = con.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = 'main' AND table_name = '_hcp_demo'"
            ).fetchone()[0]
        if not is_demo:
            raise DemoError(
                f"{path} exists and was not written by `hcp demo`; pass --db with a new file name"
            )
        path.unlink()
        for extra in (path.with_name(path.name + ".wal"),):
            extra.unlink(missing_ok=True)
    with connect(path) as con:
        con.execute(
            f"CREATE TABLE {MARKER_TABLE} AS SELECT now() AS created_at, {DEMO_SEED} AS sandbox_seed, "
            "'written by hcp demo; safe to delete' AS note"
        )


@contextmanager
def _quiet_dlt() -> Iterator[None]:
    """dlt warns about every all-null column of the sandbox data; the demo shows its own progress.

    A filter, not a level: dlt resets its logger's level whenever a pipeline starts.
    """
    logger = logging.getLogger("dlt")

    def errors_only(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR

    logger.addFilter(errors_only)
    try:
        yield
    finally:
        logger.removeFilter(errors_only)


class _Steps:
    """Numbered progress lines with timings."""

    def __init__(self, console: Console, total: int, result: DemoResult) -> None:
        self.console, self.total, self.result, self.n = console, total, result, 0

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.n += 1
        started = time.perf_counter()
        self.console.print(f"[bold cyan][{self.n}/{self.total}][/] {title}")
        yield
        took = time.perf_counter() - started
        self.result.steps[title] = took
        self.console.print(f"      [dim]done in {took:.1f}s[/]")

    def say(self, text: str, style: str = "") -> None:
        self.console.print(
            f"      {f'[{style}]' if style else ''}{escape(text)}{'[/]' if style else ''}"
        )


def run_demo(
    workdir: str | Path = ".",
    *,
    db_path: str | Path | None = None,
    console: Console | None = None,
    seed: int = DEMO_SEED,
) -> DemoResult:
    """Run the demo in `workdir`; returns what it wrote and how long each step took."""
    from sandbox.server import run_sandbox
    from sandbox.settings import SandboxSettings

    console = console or Console()
    work = Path(workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    db = Path(db_path).expanduser().resolve() if db_path else work / DEMO_DB
    result = DemoResult(db_path=db)
    steps = _Steps(console, 10, result)
    started = time.perf_counter()
    prepare_db(db)
    with ExitStack() as stack:
        state_dir = Path(tempfile.mkdtemp(prefix="hcp-demo-dlt-"))
        stack.callback(shutil.rmtree, state_dir, ignore_errors=True)
        with steps.step("Starting the sandbox (a local HCP with a seeded plumbing & HVAC shop)"):
            settings = SandboxSettings(seed=seed, api_key=f"demo-{secrets.token_hex(12)}")
            handle = stack.enter_context(run_sandbox(settings, host="127.0.0.1", port=0))
            steps.say(f"{handle.base_url} · {settings.company_name} · seed {seed}")
        account = Account(
            name="default", api_key=handle.api_key, base_url=handle.base_url, rate_limit=0.0
        )
        stack.enter_context(_quiet_dlt())
        _run_steps(steps, result, account, db, state_dir, work, handle)
    result.seconds = time.perf_counter() - started
    _summary(console, result)
    return result


def _sync(steps: _Steps, account: Account, db: Path, state_dir: Path) -> SyncResult:
    res = sync_account(account, db, pipelines_dir=state_dir)
    steps.say(res.message, "green" if res.ok else "yellow")
    main = ("customers", "jobs", "estimates", "invoices", "leads")
    read = [f"{t} {res.objects[t].rows:,}" for t in main if t in res.objects]
    if read:
        steps.say("rows read: " + " · ".join(read) + f" ({res.requests} requests)")
    if not res.ok:
        raise DemoError(f"the sync against the demo sandbox failed: {res.message}")
    return res


def _transform(steps: _Steps, db: Path) -> None:
    res = run_transforms(db, seeds={"marketing_spend": SPEND_CSV})
    rows = {m.name.split(".")[1]: m.rows for m in res.models}
    passed = sum(a.passed for a in res.audits)
    steps.say(
        f"{len(res.models)} models, {passed}/{len(res.audits)} audits passed; "
        f"lead_source_performance {rows.get('lead_source_performance', 0):,} rows, "
        f"lead_funnel {rows.get('lead_funnel', 0):,} rows"
    )


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the demo's main thread keeps Ctrl-C
        return None


@contextmanager
def _receiver(spool: Spool, secret: str, timeout_s: float = 10.0) -> Iterator[str]:
    """`pipelines.webhooks.receiver` under uvicorn in a thread on a free loopback port; yields
    the webhook URL of account `default`."""
    app = create_app({"default": secret}, spool)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="off"
    )
    server = _ThreadServer(config)
    thread = threading.Thread(target=server.run, name="hcp-demo-webhooks", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise DemoError("the demo's webhook receiver did not start")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}/webhooks/default"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout_s)


def _webhook(steps: _Steps, result: DemoResult, handle: Any, db: Path, state_dir: Path) -> None:
    """One customer update in the sandbox -> signed event -> receiver -> spool -> drain."""
    secret = f"demo-whsec-{secrets.token_hex(16)}"  # never printed
    with connect(db, read_only=True) as con:
        customer_id = con.execute("SELECT id FROM hcp.customers ORDER BY id LIMIT 1").fetchone()[0]
    with Spool(state_dir / "webhooks.sqlite") as spool, _receiver(spool, secret) as url:
        handle.state.update_settings({"webhook_url": url, "webhook_secret": secret})
        try:
            wrote_at = time.time()
            with handle.client(timeout=10) as http:
                http.put(
                    f"/customers/{customer_id}", json={"notes": "updated by hcp demo"}
                ).raise_for_status()
            deadline = time.monotonic() + WEBHOOK_WAIT_S
            while not (arrived := spool.pending(1)):
                if time.monotonic() > deadline:
                    raise DemoError(f"no webhook reached the receiver within {WEBHOOK_WAIT_S:g} s")
                time.sleep(0.01)
        finally:
            handle.state.update_settings({"webhook_url": "", "webhook_secret": ""})
        result.webhook_seconds = max(0.0, arrived[0].received_at.timestamp() - wrote_at)
        result.webhook_event = str(_event_name(arrived[0].body))
        pipeline = dlt.pipeline(
            pipeline_name=account_pipeline_name("default"),
            destination=dlt.destinations.duckdb(str(db)),
            dataset_name=DATASET,
            pipelines_dir=str(state_dir),
        )
        drained = drain_into(pipeline, spool, "default", lock=lambda: warehouse_lock(db))
    with connect(db, read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM hcp.webhook_events").fetchone()[0]
        notes = con.execute(
            "SELECT notes FROM hcp.customers WHERE id = ?", [customer_id]
        ).fetchone()[0]
    landed = "landed in hcp.customers" if notes == "updated by hcp demo" else "did NOT land"
    steps.say(
        f"webhook {result.webhook_event} arrived in {result.webhook_seconds:.2f} s and {landed} "
        f"(hcp.webhook_events: {rows} row{'s' if rows != 1 else ''})",
        "green" if drained.applied == 1 else "yellow",
    )
    if drained.applied != 1:
        raise DemoError(f"the demo's webhook was not applied: {drained.line()}")


def _event_name(body: bytes) -> object:
    return json.loads(body).get("event")


def _run_steps(
    steps: _Steps,
    result: DemoResult,
    account: Account,
    db: Path,
    state_dir: Path,
    work: Path,
    handle: Any,
) -> None:
    with steps.step("Syncing HCP -> DuckDB (every object, dataset `hcp`)"):
        _sync(steps, account, db, state_dir)

    with steps.step("Building the analytics models (transforms/ -> schema `analytics`)"):
        _transform(steps, db)

    with steps.step(f"Staging sample leads ({LEADS_CSV.name} -> staging.leads)"):
        loaded = load_leads(LEADS_CSV, db_path=db, account=account.name, routes=ProfileBook())
        steps.say(f"{loaded.staged} staged, {loaded.failed} rejected with a reason")

    with steps.step("Pushing the leads into HCP as customers (exactly once each)"):
        pushed = push_leads(account, db_path=db, routes=ProfileBook(), settings=PushSettings())
        result.leads_pushed = pushed.sent + pushed.linked
        steps.say(
            f"{pushed.sent} sent, {pushed.linked} linked, {pushed.failed_permanent} failed "
            f"({pushed.requests} requests)",
            "green" if pushed.exit_code == 0 else "yellow",
        )

    with steps.step("Receiving one HCP webhook (a customer update, signed) and draining it"):
        _webhook(steps, result, handle, db, state_dir)

    with steps.step("Syncing again (brings the new customers back; incremental)"):
        before = _count(db, "hcp.customers")
        _sync(steps, account, db, state_dir)
        result.customers_back = _count(db, "hcp.customers") - before
        steps.say(f"{result.customers_back} new customer(s) in hcp.customers")

    with steps.step("Rebuilding the models with the pushed leads"):
        _transform(steps, db)

    with steps.step("Writing the attribution report (HTML + PNG)"):
        report, written = attribution_report(
            db, out=[work / f"{DEMO_REPORT}.html", work / f"{DEMO_REPORT}.png"]
        )
        result.reports = written
        top = report.rows[0] if report.rows else None
        if top is not None:
            steps.say(
                f"{len(report.rows)} lead sources; top: {top.lead_source} "
                f"(${top.job_revenue:,.0f} revenue from {top.jobs_completed:,} completed jobs)"
            )

    with steps.step("Checking the queries of the summary"):
        with connect(db, read_only=True) as con:
            for _, sql in QUERIES:
                con.execute(sql).fetchall()
        steps.say(f"{len(QUERIES)} queries run as printed")


def _count(db: Path, table: str) -> int:
    with connect(db, read_only=True) as con:
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _summary(console: Console, result: DemoResult) -> None:
    console.rule("[bold]hcp demo: done")
    console.print(f"Finished in [bold]{result.seconds:.0f}s[/].")
    console.print(f"DuckDB file:  [bold]{escape(str(result.db_path))}[/]")
    console.print(
        f"Read copy:    [bold]{escape(str(read_copy_path(result.db_path)))}[/] "
        "(open this one in a notebook or BI tool: hcp refreshes it after every change and "
        "never locks it)"
    )
    for path in result.reports:
        console.print(f"Report:       [bold]{escape(str(path))}[/]")
    console.print(
        "\nThree queries to try (Python below, or the DuckDB shell, a separate install: README):"
    )
    for title, sql in QUERIES:
        console.print(f"\n[bold]-- {escape(title)}[/]")
        console.print(escape(sql), highlight=False, soft_wrap=True)
    console.print(
        "\nFrom Python (the project's .venv/bin/python): "
        f"python -c \"import duckdb; duckdb.connect('{read_copy_path(result.db_path).name}', "
        "read_only=True)"
        ".sql('SELECT * FROM analytics.lead_source_performance LIMIT 5').show()\"",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        "Models and columns: docs/models.md · Your own HCP account: README, "
        "'Use it with your HCP account'."
    )


def demo_command(
    db: Path | None = typer.Option(
        None, "--db", help=f"DuckDB file to write (default: {DEMO_DB} in the working folder)."
    ),
) -> None:
    """Always its own sandbox and key (never your credentials): sync, models, sample leads pushed, report."""
    try:
        run_demo(Path.cwd(), db_path=db)
    except DemoError as exc:
        raise fail(str(exc)) from None
