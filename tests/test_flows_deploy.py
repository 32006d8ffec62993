"""docs/flows.md "Way 2" as a user runs it: `prefect deploy --all` from prefect.yaml, then a worker.

Against the session's Prefect test server (a real server process on a temporary database), with
the pinned Prefect/FastAPI pair: FastAPI 0.151+ made that server answer 422 to the `"limit":
null` Prefect's own client sends, so `prefect deploy` failed after the first deployment and
`prefect deployment ls` failed outright.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PREFECT = str(Path(sys.executable).with_name("prefect"))
POOL = "hcp-local"


def _prefect(args: list[str], env: dict[str, str], timeout: float = 60) -> str:
    """Run the `prefect` command in the project folder; fail the test with its output."""
    done = subprocess.run(
        [PREFECT, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"prefect {' '.join(args)} exited {done.returncode}:\n{output}"
    assert "Traceback" not in output, output
    return output


async def _create_pool() -> None:
    """The docs' `prefect work-pool create hcp-local --type process`, in-process (faster)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(name=POOL, type="process"), overwrite=True)


async def _start_run(db: Path) -> Any:
    """One run of the cheapest deployment (the drain: no HCP, no key), for the worker to pick up."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        deployment = await client.read_deployment_by_name("hcp-webhooks-drain/hcp-webhooks-drain")
        run = await client.create_flow_run_from_deployment(
            deployment.id, parameters={"accounts": ["default"], "db_path": str(db)}
        )
        return run.id


async def _read_back(run_id: Any) -> tuple[Any, list[str], list[str]]:
    """What the server answers with the client's defaults: the calls that were 422 before
    (`read_deployments()` is what `prefect deployment ls` sends; in-process, it saves a
    Prefect start-up of several seconds)."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        run = await client.read_flow_run(run_id)
        deployments = [d.name for d in await client.read_deployments()]
        workers = [w.name for w in await client.read_workers_for_work_pool(POOL)]
        return run.state, deployments, workers


def test_prefect_deploy_all_then_a_worker_runs_a_deployment(
    prefect_harness: str, tmp_path: Path
) -> None:
    env = {**os.environ, "PREFECT_API_URL": prefect_harness}
    db = tmp_path / "deployed.duckdb"
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    expected = sorted(d["name"] for d in spec["deployments"])

    asyncio.run(_create_pool())
    _prefect(["deploy", "--all"], env)
    run_id = asyncio.run(_start_run(db))
    _prefect(["worker", "start", "--pool", POOL, "--run-once"], env, timeout=90)

    state, deployments, workers = asyncio.run(_read_back(run_id))
    assert sorted(deployments) == expected
    assert state.is_completed(), state
    assert workers, "the worker never registered with the pool"


async def _pause(name: str) -> None:
    """Pause `name` if it exists (the deploy test registered it): serving unpauses it."""
    from prefect.client.orchestration import get_client

    if await _paused(name) is False:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name(name)
            await client.pause_deployment(deployment.id)


async def _paused(name: str) -> bool | None:
    """Whether deployment `name` is paused; None while it does not exist yet."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    async with get_client() as client:
        try:
            return (await client.read_deployment_by_name(name)).paused
        except ObjectNotFound:
            return None


def test_sigterm_to_hcp_serve_pauses_what_it_served_quietly(
    prefect_harness: str, tmp_path: Path
) -> None:
    """A service manager stops `hcp serve` with SIGTERM: its deployments must be paused (nothing
    schedules runs nobody serves), and the log must not end in a warning or a traceback."""
    name = "hcp-webhooks-drain/hcp-webhooks-drain"
    log = tmp_path / "serve.log"
    env = {**os.environ, "PREFECT_API_URL": prefect_harness}
    hcp = str(Path(sys.executable).with_name("hcp"))
    asyncio.run(_pause(name))
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [hcp, "serve", "--only", "hcp-webhooks-drain", "--every", "3600"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while asyncio.run(_paused(name)) is not False:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "hcp serve never registered its deployment"
                time.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    output = log.read_text()
    assert code == 0, output
    assert "Traceback" not in output and "Warning" not in output, output
    assert asyncio.run(_paused(name)) is True
