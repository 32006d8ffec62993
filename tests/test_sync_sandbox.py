"""`sync_account` / `hcp sync` end to end against the local HCP sandbox.

What a user relies on: every object lands with the sandbox's counts; a no-change rerun costs the
API minimum and changes nothing; edits and inserts made through the admin API arrive in place;
faults (429 + Retry-After, 5xx, timeouts, dropped connections) and a SIGKILL mid-run leave the
warehouse exactly as a clean run would.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.cli.sync import rate_limit_line
from pipelines.config import Account
from pipelines.sync import sync_account
from pipelines.sync.destination import destination_key, pipelines_dir_for
from sandbox.server import SandboxHandle, run_sandbox
from sandbox.settings import SandboxSettings
from sources.housecallpro.client import HCPClient
from sources.housecallpro.settings import INCREMENTAL_TABLES, OBJECTS
from tests.plugins.sandbox_fixtures import sandbox_dataset
from tests.utils import assert_same_warehouse, table_counts

pytestmark = pytest.mark.slow

SCALE = 0.2  # ~1,500 records: every object and child table present, a full sync in seconds


def account(sb: SandboxHandle, **kw: Any) -> Account:
    return Account("default", sb.api_key, sb.base_url, rate_limit=0, concurrency=4, **kw)


def expected_counts(sb: SandboxHandle) -> dict[str, int]:
    """Ground truth: what the sandbox serves (routes: the day HCP lists by default)."""
    store = sb.state.store
    out = {o.table: len(store.all(o.table)) for o in OBJECTS if o.table not in ("company",)}
    out["routes"] = sum(1 for r in store.all("routes") if r["date"] == store.today())
    out["company"] = 1
    return out


def minimum_requests(sb: SandboxHandle, *, first_run: bool) -> int:
    """The fewest requests HCP's API allows for a sync (HCP_API.md §3, §5)."""
    counts = expected_counts(sb)
    cats = counts["material_categories"]
    total = 1  # /company: the key check, whose body is the company row
    for obj in OBJECTS:
        n = counts[obj.table]
        if obj.table == "company":
            continue
        if obj.strategy == "incremental" and not first_run:
            total += 1
        elif obj.strategy == "tree":
            total += 1 + cats  # root level + each category's children (leaves answer empty)
        elif obj.strategy == "per_parent":
            total += cats  # materials need material_category_uuid
        else:
            total += max(1, math.ceil(n / obj.page_size))
    return total


def test_full_sync_then_no_change_then_edits(sandbox_factory, tmp_path: Path):
    sb = sandbox_factory(scale=SCALE)
    acct = account(sb)
    db = tmp_path / "w.duckdb"

    first = sync_account(acct, db)
    assert first.ok, first.message
    got = table_counts(db)
    want = expected_counts(sb)
    for table, n in want.items():
        assert got.get(table) == n, table
    for child in ("customers__addresses", "jobs__schedule__appointments", "estimates__options"):
        assert got[child] > 0, child
    assert sb.admin.counters()["total_requests"] == minimum_requests(sb, first_run=True)

    sb.admin.reset_counters()
    again = sync_account(acct, db)
    assert again.ok, again.message
    assert table_counts(db) == got
    counters = sb.admin.counters()
    assert counters["total_requests"] == minimum_requests(sb, first_run=False)
    for table in INCREMENTAL_TABLES:
        assert again.objects[table].requests == 1, table

    # an edit (bumps updated_at) lands in place; a new record appears
    customer = sb.admin.records("customers")[5]
    sb.admin.update("customers", customer["id"], {"first_name": "Renamed"})
    job = sb.admin.records("jobs")[7]
    sb.admin.update("jobs", job["id"], {"description": "Edited through the admin API"})
    added = sb.admin.add("customers", {"first_name": "Newcomer", "email": "new@example.com"})
    third = sync_account(acct, db)
    assert third.ok, third.message
    after = table_counts(db)
    assert after["customers"] == got["customers"] + 1
    assert after["jobs"] == got["jobs"]
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute(
            "select first_name from hcp.customers where id = ?", [customer["id"]]
        ).fetchall() == [("Renamed",)]
        assert con.execute(
            "select description from hcp.jobs where id = ?", [job["id"]]
        ).fetchall() == [("Edited through the admin API",)]
        assert con.execute(
            "select count(*) from hcp.customers where id = ?", [added["id"]]
        ).fetchone() == (1,)
        # the job's appointments were replaced, not appended
        assert con.execute(
            "select count(*) from hcp.jobs__schedule__appointments a join hcp.jobs j "
            "on a._dlt_parent_id = j._dlt_id where j.id = ?",
            [job["id"]],
        ).fetchone()[0] == len(job["schedule"].get("appointments") or [])
    finally:
        con.close()


def test_a_client_faster_than_the_limit_draws_few_429s_and_loses_nothing(
    sandbox_factory, tmp_path: Path
):
    """Four threads paced at 4x HCP's limit: the first 429s pause and slow every thread, so
    the rest of the sync runs under the limit (the old per-thread backoff drew ~45% 429s)."""
    sb = sandbox_factory(scale=SCALE, rate_limit=10.0)
    client = HCPClient(sb.api_key, sb.base_url, rate_limit=40.0, concurrency=4)
    with client:
        result = sync_account(account(sb), tmp_path / "w.duckdb", client=client)
    assert result.ok, result.message
    got = table_counts(tmp_path / "w.duckdb")
    for table, n in expected_counts(sb).items():
        assert got.get(table) == n, table
    stats, pacing = client.stats.snapshot(), client.limiter.snapshot()
    assert stats["rate_limited"] == sb.admin.counters()["rate_limited"] >= 1
    assert stats["rate_limited"] <= max(3, stats["requests"] // 8), stats
    assert pacing["paused_s"] >= 1.0 and pacing["rate"] < 40.0, pacing
    # the summary says what the limit cost: the result carries the limiter's figures
    assert result.rate_limit["slowdowns"] >= 1 and result.rate_limit["paused_s"] >= 1.0
    assert "paused after 429s" in (rate_limit_line(result.rate_limit) or "")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted, fault-free sync of the SCALE sandbox, shared by the tests below."""
    settings = SandboxSettings(scale=SCALE)
    db = tmp_path_factory.mktemp("reference") / "reference.duckdb"
    with run_sandbox(settings, dataset=sandbox_dataset(settings)) as sb:
        result = sync_account(account(sb), db)
    assert result.ok, result.message
    return db


def test_faults_leave_the_same_warehouse_as_a_clean_run(
    sandbox_factory, tmp_path: Path, reference: Path
):
    faulty = sandbox_factory(
        scale=SCALE,
        fault_rate=0.1,
        faults=("500", "502", "503", "slow", "drop"),
        slow_seconds=1.5,
        rate_limit=20.0,  # bursts of 4 in flight meet 429 + Retry-After now and then
    )
    # on top of the 10% dice, one of each kind for sure
    faulty.admin.queue_fault("drop", path="/customers")
    faulty.admin.queue_fault("slow", path="/jobs")
    faulty.admin.queue_fault("503", path="/api/price_book/materials")
    result = sync_account(account(faulty), tmp_path / "faulty.duckdb", timeout=0.75, max_retries=8)
    assert result.ok, result.message
    counters = faulty.admin.counters()
    assert counters["faults"].get("drop") and counters["faults"].get("slow")
    assert counters["faults"].get("503") and counters["rate_limited"] > 0
    assert sum(o.retries for o in result.objects.values()) > 0
    assert_same_warehouse(reference, tmp_path / "faulty.duckdb")


def _hcp_sync(sb: SandboxHandle, db: Path) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        SOURCES__HOUSECALLPRO__API_KEY=sb.api_key,
        SOURCES__HOUSECALLPRO__BASE_URL=sb.base_url,
        SOURCES__HOUSECALLPRO__RATE_LIMIT="0",
    )
    hcp = Path(sys.executable).with_name("hcp")
    return subprocess.Popen(
        [str(hcp), "sync", "--db", str(db)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _reached(kill_at: str, sb: SandboxHandle, db: Path, half: int) -> bool:
    if kill_at == "mid-read":
        return sb.admin.counters()["total_requests"] >= half
    # "in-load": the package is normalized and the load has begun (a package left behind)
    pipeline = pipelines_dir_for(db, destination_key(db, None)) / "hcp_default"
    return any((pipeline / "load" / "normalized").glob("*"))


@pytest.mark.parametrize("kill_at", ["mid-read", "in-load"])
def test_sigkill_mid_run_then_rerun_equals_an_uninterrupted_run(
    sandbox_factory, tmp_path: Path, kill_at: str, reference: Path
):
    sb = sandbox_factory(scale=SCALE, latency_ms=25)
    half = minimum_requests(sb, first_run=True) // 2
    db = tmp_path / "killed.duckdb"
    proc = _hcp_sync(sb, db)
    deadline = time.monotonic() + 60
    while not _reached(kill_at, sb, db, half):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "the sync never got there"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    rerun = sync_account(account(sb), db)
    assert rerun.ok, rerun.message
    assert_same_warehouse(reference, db)


def test_every_query_in_the_table_reference_runs(reference: Path):
    """docs/tables.md promises its example queries run as written against a synced warehouse."""
    text = (Path(__file__).parent.parent / "docs" / "tables.md").read_text()
    blocks = [b.split("```", 1)[0].strip() for b in text.split("```sql")[1:]]
    assert len(blocks) >= 5
    con = duckdb.connect(str(reference), read_only=True)
    try:
        for sql in blocks:
            rows = con.execute(sql).fetchall()
            assert rows, f"no rows from:\n{sql}"
    finally:
        con.close()


def test_pages_shorter_than_total_pages_counts_lose_no_invoice(sandbox_factory, tmp_path: Path):
    """Issue 20: a live account served 100 invoices a page while `total_pages` counted pages of
    200, and trusting `total_pages` loaded 300 of 453 with the sync reporting ok."""
    sb = sandbox_factory(scale=SCALE, served_page_size=100)
    invoices = sb.state.records("invoices")
    assert len(invoices) >= 453, "the seed has too few invoices for this shape"
    for extra in invoices[453:]:
        sb.state.store.delete("invoices", extra["id"])
    db = tmp_path / "w.duckdb"
    short = sync_account(account(sb), db, objects="invoices")
    assert short.ok, short.message
    assert table_counts(db)["invoices"] == 453
    assert short.objects["invoices"].requests == 5  # ceil(453 / 100): each served page once
    assert short.deleted == {"invoices": 0}  # a complete read: flagging ran, found no gap
    # an honest server again: back at the API minimum, ceil(453 / 200)
    sb.admin.settings(served_page_size=0)
    honest = sync_account(account(sb), db, objects="invoices")
    assert honest.ok, honest.message
    assert honest.objects["invoices"].requests == 3
    assert honest.deleted == {"invoices": 0} and table_counts(db)["invoices"] == 453
