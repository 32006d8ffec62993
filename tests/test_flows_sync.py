"""The sync flow end to end: sandbox -> Prefect flow -> DuckDB, read back from Prefect's API.

Slow: one Prefect test server per session, one sandbox per module, real dlt loads.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from prefect.blocks.system import Secret

from flows.sync import sync_flow
from pipelines.warehouse import duckdb_lock
from sandbox.server import SandboxHandle
from tests.plugins.prefect_fixtures import flow_run_record
from tests.plugins.sandbox_fixtures import SandboxFactory

pytestmark = pytest.mark.slow

GOOD_KEY = "sk-flowtest-good-7f3a9c1e5b"
BAD_KEY = "sk-flowtest-bad-2d8e6f4a0c"
CHECKED = ("customers", "jobs", "estimates", "invoices", "employees")
"""Tables compared with the sandbox's own records after each run."""


@pytest.fixture
def hcp(sandbox_factory: SandboxFactory) -> SandboxHandle:
    return sandbox_factory(scale=0.1, api_key=GOOD_KEY)


@pytest.fixture
def hcp_env(hcp: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The sandbox as the configured HCP, without the client's production pace."""
    env = {
        "SOURCES__HOUSECALLPRO__BASE_URL": hcp.base_url,
        "SOURCES__HOUSECALLPRO__RATE_LIMIT": "1000",
        "SOURCES__HOUSECALLPRO__CONCURRENCY": "8",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def _sandbox_counts(hcp: SandboxHandle) -> dict[str, int]:
    return {t: len(hcp.state.records(t)) for t in CHECKED}


def _warehouse_counts(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        for table in CHECKED:
            pk_dupes = con.execute(
                f"SELECT count(*) - count(DISTINCT id) FROM hcp.{table}"
            ).fetchone()
            assert pk_dupes == (0,), f"duplicate ids in hcp.{table}"
        return {
            t: con.execute(f"SELECT count(*) FROM hcp.{t}").fetchone()[0]  # type: ignore[index]
            for t in CHECKED
        }


def test_sync_lands_data_and_a_bad_key_fails_only_its_task(
    prefect_harness: str,
    hcp: SandboxHandle,
    hcp_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # "good" reads its key from a Prefect Secret block, "bad" from the environment (dlt's way)
    Secret(value=GOOD_KEY).save("hcp-flowtest-good", overwrite=True)
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__ACCOUNTS__BAD__API_KEY", BAD_KEY)
    db = tmp_path / "warehouse.duckdb"

    state = sync_flow(
        db_path=str(db), secret_blocks={"good": "hcp-flowtest-good"}, return_state=True
    )

    assert state.is_failed(), "one account failed, so the run must fail (for alerting)"
    task_runs, artifacts, logs = flow_run_record(state)
    assert task_runs["sync-good"].state.is_completed()
    assert task_runs["sync-bad"].state.is_failed()
    assert task_runs["sync-bad"].run_count == 1, "a 401 must not be retried"
    assert 'HCP says 401 "Unauthorized"' in (task_runs["sync-bad"].state.message or "")
    assert any(name.startswith("transforms") for name in task_runs), "models run on what landed"
    assert _warehouse_counts(db) == _sandbox_counts(hcp)

    (artifact,) = artifacts
    with duckdb.connect(str(db), read_only=True) as con:
        customers = con.execute("SELECT count(*) FROM hcp.customers").fetchone()[0]  # type: ignore[index]
    assert "1 of 2 synced" in artifact
    assert f"| customers | {customers} |" in artifact
    assert "## bad: FAILED" in artifact and 'HCP says 401 "Unauthorized"' in artifact
    assert "requests:" in artifact and "duration:" in artifact
    for key in (GOOD_KEY, BAD_KEY):
        assert key not in artifact
        assert key not in logs
    assert "customers: ok" in logs, "per-object progress goes through Prefect's logger"


def _spawn_sync(db: Path, api_url: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    code = f"from flows.sync import sync_flow; sync_flow(db_path={str(db)!r})"
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, **env, "PREFECT_API_URL": api_url},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parent.parent,
    )


def _wait_for(predicate: Any, what: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_two_sync_flows_at_once_on_one_file_both_finish(
    prefect_harness: str,
    hcp: SandboxHandle,
    hcp_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """Two processes (two deployments, or a deployment and a manual run) on one DuckDB file.

    The test holds the file's lock until both flows are waiting for it, so they are certain to
    collide; then both must finish, one after the other, with a correct warehouse.
    """
    db = tmp_path / "warehouse.duckdb"
    env = {**hcp_env, "SOURCES__HOUSECALLPRO__API_KEY": GOOD_KEY}
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    waiting = "in use by another hcp process; waiting"
    with duckdb_lock(db):
        procs = [_spawn_sync(db, prefect_harness, env, log) for log in logs]
        try:
            _wait_for(
                lambda: (
                    all(waiting in log.read_text(errors="replace") for log in logs)
                    or any(p.poll() is not None for p in procs)
                ),
                "both flows to wait for the DuckDB file",
            )
        except BaseException:
            for p in procs:
                p.kill()
            raise
    codes = [p.wait(timeout=120) for p in procs]
    outputs = [log.read_text(errors="replace") for log in logs]
    assert codes == [0, 0], "\n\n".join(o[-3000:] for o in outputs)
    assert all(waiting in o for o in outputs)
    assert _warehouse_counts(db) == _sandbox_counts(hcp)
