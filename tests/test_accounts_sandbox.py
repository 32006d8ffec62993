"""Several HCP accounts in one warehouse, end to end against two local sandboxes.

What a user relies on: every raw row names its account, so `select ... group by account` is the
one place to see them all; two accounts never overwrite each other, even with identical ids; one
account with a bad key fails alone, and `hcp sync`'s exit code and last line say which; a
warehouse synced before the `account` column existed is migrated in place (no duplicates).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import duckdb
import pytest

from pipelines.config import Account
from pipelines.sync import summarize, sync
from sandbox.server import SandboxHandle
from sources.housecallpro.settings import OBJECTS

pytestmark = pytest.mark.slow

SCALE = 0.1
ROOT = Path(__file__).resolve().parent.parent
PRE_ACCOUNT_COLUMN = "becbdef"
"""The last commit whose sync wrote no `account` column (a warehouse users already have)."""


def account(name: str, sb: SandboxHandle, key: str | None = None) -> Account:
    return Account(name, key or sb.api_key, sb.base_url, rate_limit=0, concurrency=4)


def expected(sb: SandboxHandle) -> dict[str, int]:
    """What the sandbox serves per table (routes: only the day HCP lists by default)."""
    store = sb.state.store
    out = {o.table: len(store.all(o.table)) for o in OBJECTS if o.table != "company"}
    out["routes"] = sum(1 for r in store.all("routes") if r["date"] == store.today())
    out["company"] = 1
    return out


def per_account(db: Path, table: str) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(f'select account, count(*) from hcp."{table}" group by 1').fetchall()
    finally:
        con.close()
    return dict(rows)


def test_two_accounts_one_warehouse(sandbox_factory, tmp_path: Path):
    north = sandbox_factory(scale=SCALE, seed=1)
    south = sandbox_factory(scale=0.15, seed=2)  # other seed and size: other ids, other counts
    db = tmp_path / "w.duckdb"
    # "twin" reads north again under another name: the same ids, which must not collide
    results = sync([account("north", north), account("south", south), account("twin", north)], db)
    assert [r.ok for r in results] == [True, True, True], [r.message for r in results]
    assert summarize(results)[0] == 0

    want = {"north": expected(north), "south": expected(south), "twin": expected(north)}
    assert want["north"]["jobs"] != want["south"]["jobs"]  # the seeds really differ
    for obj in OBJECTS:
        got = per_account(db, obj.table)
        for name, counts in want.items():
            assert got.get(name, 0) == counts[obj.table], (obj.table, name)

    con = duckdb.connect(str(db), read_only=True)
    try:
        # the union: one query over every account, and it adds up
        union = dict(
            con.execute(
                "select account, sum(total_amount) from hcp.jobs group by account order by 1"
            ).fetchall()
        )
        north_total = sum(j["total_amount"] or 0 for j in north.state.store.all("jobs"))
        south_total = sum(j["total_amount"] or 0 for j in south.state.store.all("jobs"))
        assert union == {"north": north_total, "south": south_total, "twin": north_total}
        total = con.execute("select count(*) from hcp.jobs").fetchone()[0]
        assert total == 2 * want["north"]["jobs"] + want["south"]["jobs"]
        # child tables carry the account of their parent row
        assert con.execute(
            "select count(*) from hcp.customers__addresses a join hcp.customers c "
            "on a._dlt_parent_id = c._dlt_id where a.account is distinct from c.account"
        ).fetchone() == (0,)
        assert set(per_account(db, "customers__addresses")) == {"north", "south", "twin"}
    finally:
        con.close()

    # an edit in one account lands in that account only
    job = north.admin.records("jobs")[0]
    north.admin.update("jobs", job["id"], {"description": "north only"})
    again = sync([account("north", north)], db)
    assert again[0].ok, again[0].message
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "select account, description from hcp.jobs where id = ? order by 1", [job["id"]]
        ).fetchall()
    finally:
        con.close()
    assert rows == [("north", "north only"), ("twin", job["description"])]


def _hcp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    hcp = Path(sys.executable).with_name("hcp")
    return subprocess.run(
        [str(hcp), "sync", *args], env=env, capture_output=True, text=True, timeout=120
    )


def _env(**accounts: tuple[SandboxHandle, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__HOUSECALLPRO")}
    env["SOURCES__HOUSECALLPRO__RATE_LIMIT"] = "0"
    for name, (sb, key) in accounts.items():
        prefix = f"SOURCES__HOUSECALLPRO__ACCOUNTS__{name.upper()}__"
        env[prefix + "API_KEY"] = key
        env[prefix + "BASE_URL"] = sb.base_url
    return env


def test_a_bad_key_fails_its_account_alone(sandbox_factory, tmp_path: Path):
    good = sandbox_factory(scale=SCALE, seed=3)
    other = sandbox_factory(scale=0.15, seed=4)
    db = tmp_path / "w.duckdb"
    env = _env(
        broken=(good, "not-a-key"),  # runs first: its failure must not stop the next ones
        alpha=(good, good.api_key),
        beta=(other, other.api_key),
    )
    proc = _hcp(env, "--db", str(db), "--objects", "jobs")  # the per-account run is what counts
    assert proc.returncode == 2, proc.stderr  # the bad key's exit code, as `hcp verify`
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("1 of 3 account(s) failed: broken."), proc.stderr
    assert "Synced: alpha, beta" in last
    assert "not-a-key" not in proc.stdout + proc.stderr
    jobs = per_account(db, "jobs")
    assert jobs == {"alpha": expected(good)["jobs"], "beta": expected(other)["jobs"]}

    # --account runs that one only
    proc = _hcp(env, "--db", str(db), "--objects", "jobs", "--account", "beta")
    assert proc.returncode == 0, proc.stderr
    assert "alpha" not in proc.stdout and "broken" not in proc.stdout + proc.stderr


def _old_tree(dest: Path) -> Path | None:
    """`sources/` and `pipelines/` as of the commit before the `account` column."""
    try:
        blob = subprocess.run(
            ["git", "-C", str(ROOT), "archive", PRE_ACCOUNT_COLUMN, "sources", "pipelines"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def test_a_warehouse_synced_before_accounts_is_migrated(sandbox_factory, tmp_path: Path):
    old = _old_tree(tmp_path / "old")
    if old is None:
        pytest.skip(f"git history with {PRE_ACCOUNT_COLUMN} not available")
    sb = sandbox_factory(scale=SCALE, seed=5)
    db = tmp_path / "legacy.duckdb"
    code = (
        "from pipelines.config import Account; from pipelines.sync import sync_account; "
        f"r = sync_account(Account('default', {sb.api_key!r}, {sb.base_url!r}, rate_limit=0), "
        f"{str(db)!r}); assert r.ok, r.message"
    )
    env = dict(os.environ, PYTHONPATH=str(old))
    subprocess.run([sys.executable, "-c", code], env=env, cwd=old, check=True, timeout=120)
    con = duckdb.connect(str(db), read_only=True)
    try:
        cols = {r[0] for r in con.execute("describe hcp.jobs").fetchall()}
    finally:
        con.close()
    assert "account" not in cols  # really a legacy warehouse

    job = sb.admin.records("jobs")[2]
    sb.admin.update("jobs", job["id"], {"description": "after the upgrade"})
    results = sync([account("default", sb)], db)
    assert results[0].ok, results[0].message
    want = expected(sb)
    for table in ("jobs", "customers", "invoices", "leads", "materials", "company"):
        assert per_account(db, table) == {"default": want[table]}, table
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute(
            "select description from hcp.jobs where id = ?", [job["id"]]
        ).fetchall() == [("after the upgrade",)]
        assert con.execute(
            "select count(*) from hcp.customers__addresses where account is null"
        ).fetchone() == (0,)
        # nothing vanished, so nothing is flagged deleted
        assert con.execute(
            "select count(*) from hcp.leads where _hcp_deleted_at is not null"
        ).fetchone() == (0,)
    finally:
        con.close()
