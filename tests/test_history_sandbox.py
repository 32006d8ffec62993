"""`<object>_history`: every version seen, end to end against the local sandbox.

What a finance user relies on: a job edited twice shows three versions whose validity windows
chain without gaps; an incremental run that did not re-read a job leaves its current version
open (dlt's scd2 would otherwise retire every row absent from the load); re-reading an
unchanged record adds no version; history is off unless configured.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.config import Account
from pipelines.sync import sync_account
from sandbox.server import SandboxHandle
from tests.utils import table_names

pytestmark = pytest.mark.slow

SCALE = 0.1


def account(sb: SandboxHandle) -> Account:
    return Account("default", sb.api_key, sb.base_url, rate_limit=0, concurrency=4)


def test_a_job_edited_twice_has_three_versions(sandbox_factory, tmp_path: Path):
    sb = sandbox_factory(scale=SCALE)
    db = tmp_path / "w.duckdb"
    acct = account(sb)
    history = ["jobs", "invoices"]
    only = "jobs,invoices"  # the other objects play no part here

    first = sync_account(acct, db, objects=only, history=history)
    assert first.ok, first.message
    jobs = sb.admin.records("jobs")
    job, bystander = jobs[4], jobs[9]
    sb.admin.update("jobs", job["id"], {"total_amount": 11111, "description": "edit 1"})
    second = sync_account(acct, db, objects=only, history=history)
    assert second.ok, second.message
    assert second.objects["jobs"].mode == "incremental"
    sb.admin.update("jobs", job["id"], {"total_amount": 22222, "description": "edit 2"})
    third = sync_account(acct, db, objects=only, history=history)
    assert third.ok, third.message

    con = duckdb.connect(str(db), read_only=True)
    try:
        versions = con.execute(
            "select total_amount, description, valid_from, valid_to from hcp.jobs_history "
            "where account = 'default' and id = ? order by valid_from",
            [job["id"]],
        ).fetchall()
        assert [v[:2] for v in versions] == [
            (job["total_amount"], job["description"]),
            (11111, "edit 1"),
            (22222, "edit 2"),
        ]
        assert versions[0][3] == versions[1][2] and versions[1][3] == versions[2][2]
        assert versions[0][2] < versions[1][2] < versions[2][2]
        assert versions[2][3] is None  # the current version is open

        # a job no run re-read after the first keeps exactly one, open version
        assert con.execute(
            "select count(*), count(*) filter (where valid_to is null) from hcp.jobs_history "
            "where id = ?",
            [bystander["id"]],
        ).fetchone() == (1, 1)
        # every job has exactly one open version, matching the live table
        open_versions = con.execute(
            "select count(*), count(distinct id) from hcp.jobs_history where valid_to is null"
        ).fetchone()
        assert open_versions == (len(jobs), len(jobs))
        assert con.execute(
            "select count(*) from hcp.jobs_history h join hcp.jobs j using (account, id) "
            "where h.valid_to is null and h.total_amount is distinct from j.total_amount"
        ).fetchone() == (0,)
        # invoices are read in full every run; unchanged ones add no version
        invoices = len(sb.admin.records("invoices"))
        assert con.execute("select count(*) from hcp.invoices_history").fetchone() == (invoices,)
    finally:
        con.close()


def test_history_is_off_unless_configured(sandbox_factory, tmp_path: Path):
    sb = sandbox_factory(scale=SCALE)
    db = tmp_path / "w.duckdb"
    result = sync_account(account(sb), db, objects="jobs")
    assert result.ok, result.message
    tables = set(table_names(db))
    assert "jobs" in tables and not any(t.endswith("_history") for t in tables)


def test_unknown_history_object_is_refused(sandbox_factory, tmp_path: Path):
    sb = sandbox_factory(scale=SCALE)
    with pytest.raises(Exception, match="history: unknown object"):
        sync_account(account(sb), tmp_path / "w.duckdb", objects="tags", history=["jbos"])
