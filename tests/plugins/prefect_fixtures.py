"""One Prefect test server for the whole session (it takes ~9 s to start).

`prefect_harness` runs a temporary Prefect API on a temporary SQLite database; flows called in
tests record their runs, task runs, logs and artifacts there, and tests read them back with
`prefect_client`. Requested only by the flow tests, so the rest of the suite never pays for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[str]:
    """Start the temporary Prefect server; yields its API URL (for subprocess flows)."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield str(PREFECT_API_URL.value())


def flow_run_record(state: Any) -> tuple[dict[str, Any], list[str], str]:
    """What Prefect recorded of the flow run behind `state`: task runs by name, the artifacts'
    markdown (not the result records Prefect keeps), and every log line (flows and tasks) joined by newlines."""
    from prefect.logging.handlers import APILogHandler

    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    APILogHandler().flush()  # logs travel to the API in batches; wait until all have arrived
    return asyncio.run(_read_flow_run(flow_run_id))


async def _read_flow_run(flow_run_id: Any) -> tuple[dict[str, Any], list[str], str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.client.schemas.sorting import TaskRunSort

    runs = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    lines: list[str] = []
    async with get_client() as client:
        task_runs = await client.read_task_runs(
            flow_run_filter=runs, sort=TaskRunSort.EXPECTED_START_TIME_ASC, limit=200
        )
        records = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
        artifacts = [a.data for a in records if a.type == "markdown"]
        while True:
            page = await client.read_logs(
                LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
                limit=200,
                offset=len(lines),
            )
            lines += [log.message for log in page]
            if len(page) < 200:
                break
    return {t.name: t for t in task_runs}, [str(a) for a in artifacts], "\n".join(lines)
