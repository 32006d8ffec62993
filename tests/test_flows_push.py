"""The push flow end to end: leads staged by SQL -> Prefect flow -> sandbox customers.

Each run stages 3 valid leads and 2 that can never be sent (neither email nor phone), so 40% of
the leads handled fail: a threshold below that fails the run, one above it does not.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from flows.push_leads import push_leads_flow
from pipelines.leads import outbox
from sandbox.server import SandboxHandle
from tests.plugins.prefect_fixtures import flow_run_record
from tests.plugins.sandbox_fixtures import SandboxFactory

pytestmark = pytest.mark.slow

PUSH_KEY = "sk-flowtest-push-5e1b7d3f9a"


@pytest.fixture
def hcp(sandbox_factory: SandboxFactory, monkeypatch: pytest.MonkeyPatch) -> SandboxHandle:
    handle = sandbox_factory(scale=0.1, api_key=PUSH_KEY)
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__API_KEY", PUSH_KEY)
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__BASE_URL", handle.base_url)
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__RATE_LIMIT", "1000")
    return handle


def _stage(db: Path, tag: str) -> list[str]:
    """3 sendable leads and 2 without any contact; returns the sendable leads' emails."""
    emails = [f"flow-{tag}-{i}@example.com" for i in range(3)]
    with duckdb.connect(str(db)) as con:
        outbox.ensure_schema(con)
        for i, email in enumerate(emails):
            con.execute(
                "INSERT INTO staging.leads (lead_id, name, email, lead_source) VALUES (?, ?, ?, ?)",
                [f"{tag}-ok-{i}", f"Pat Flow{i}", email, "Website"],
            )
        for i in range(2):
            con.execute(
                "INSERT INTO staging.leads (lead_id, name) VALUES (?, ?)",
                [f"{tag}-bad-{i}", f"No Contact{i}"],
            )
    return emails


def _statuses(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT status, count(*) FROM staging.leads GROUP BY 1").fetchall()
    return {str(s): int(n) for s, n in rows}


@pytest.mark.parametrize(
    "max_failed_share, run_fails",
    [(0.3, True), (0.5, False)],
    ids=["40%-failed-past-30%", "40%-failed-within-50%"],
)
def test_push_flow_fails_only_past_the_threshold(
    prefect_harness: str,
    hcp: SandboxHandle,
    tmp_path: Path,
    max_failed_share: float,
    run_fails: bool,
) -> None:
    db = tmp_path / "warehouse.duckdb"
    emails = _stage(db, tag=str(int(max_failed_share * 100)))

    state = push_leads_flow(db_path=str(db), max_failed_share=max_failed_share, return_state=True)

    assert state.is_failed() is run_fails
    if run_fails:
        assert "2 of 5 leads failed (40.0%)" in (state.message or "")
    # the push itself did its whole job either way; only the verdict differs
    assert _statuses(db) == {"sent": 3, "failed_permanent": 2}
    created = {c.get("email") for c in hcp.state.created_customers()}
    assert set(emails) <= created

    task_runs, artifacts, logs = flow_run_record(state)
    assert task_runs["push-default"].state.is_completed()
    (artifact,) = artifacts
    assert "leads handled: 5" in artifact
    assert "failed: 2 (40.0%" in artifact
    verdict = "over" if run_fails else "within"
    assert f"{verdict} the threshold of {max_failed_share:.1%}" in artifact
    assert (
        "| default | 2 | 0 | 0 | 0 | 3 | 0 |" in artifact
    )  # failed_p, failed_r, linked, requeued, sent, skipped
    assert PUSH_KEY not in artifact and PUSH_KEY not in logs
    assert "@example.com" not in artifact, "no lead's personal data in the artifact"
