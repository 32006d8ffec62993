"""Optional job line items (`/jobs/{id}/line_items`, one request per job), end to end.

What a user relies on: off by default (no request, no table); when enabled, the first run asks
every job once and later runs ask only the jobs that changed, never a job re-read unchanged in
the lookback window; the table holds each job's current line items.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.config import Account
from pipelines.sync import sync_account
from sandbox.seed import job_line_items
from sandbox.server import SandboxHandle

pytestmark = pytest.mark.slow

SCALE = 0.1
PATH = "GET /jobs/{id}/line_items"


def account(sb: SandboxHandle) -> Account:
    return Account("default", sb.api_key, sb.base_url, rate_limit=0, concurrency=4)


def test_line_items_only_for_changed_jobs(sandbox_factory, tmp_path: Path):
    sb = sandbox_factory(scale=SCALE)
    db = tmp_path / "w.duckdb"
    acct = account(sb)
    jobs = sb.admin.records("jobs")

    first = sync_account(acct, db, objects="jobs", job_line_items=True)
    assert first.ok, first.message
    assert sb.admin.counters()["requests"][PATH] == len(jobs)
    assert first.objects["job_line_items"].requests == len(jobs)

    sb.admin.reset_counters()
    unchanged = sync_account(acct, db, objects="jobs", job_line_items=True)
    assert unchanged.ok, unchanged.message
    assert unchanged.objects["jobs"].rows >= 1  # the lookback re-reads the newest job(s)...
    assert sb.admin.counters()["requests"].get(PATH, 0) == 0  # ...but asks none of them again

    sb.admin.update("jobs", jobs[3]["id"], {"description": "changed"})
    sb.admin.update("jobs", jobs[17]["id"], {"subtotal": 54321})  # new line items
    edited = [sb.admin.get("jobs", jobs[i]["id"]) for i in (3, 17)]
    sb.admin.reset_counters()
    changed = sync_account(acct, db, objects="jobs", job_line_items=True)
    assert changed.ok, changed.message
    assert sb.admin.counters()["requests"][PATH] == len(edited)

    con = duckdb.connect(str(db), read_only=True)
    try:
        for job in edited:
            got = con.execute(
                "select id, amount from hcp.job_line_items where account = 'default' "
                "and job_id = ? order by id",
                [job["id"]],
            ).fetchall()
            want = sorted((li["id"], li["amount"]) for li in job_line_items(sb.settings.seed, job))
            assert got == want and got
        total = con.execute("select count(*), count(distinct job_id) from hcp.job_line_items")
        rows, with_items = total.fetchone()
    finally:
        con.close()
    assert with_items <= len(jobs) and rows > with_items


def test_line_items_are_off_by_default(sandbox_factory, tmp_path: Path):
    sb = sandbox_factory(scale=SCALE)
    result = sync_account(account(sb), tmp_path / "w.duckdb", objects="jobs")
    assert result.ok, result.message
    assert "job_line_items" not in result.objects
    assert sb.admin.counters()["requests"].get(PATH, 0) == 0
