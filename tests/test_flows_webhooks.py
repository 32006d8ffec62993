"""The `hcp-webhooks-drain` flow under Prefect's test server: every account's spooled deliveries
land in the warehouse without a request to HCP, and the run is recorded with its counts.

Slow: it uses the session's Prefect test server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.webhooks import webhooks_drain_flow
from pipelines.webhooks.spool import Spool, spool_path_for
from tests.plugins.prefect_fixtures import flow_run_record
from tests.utils import query

pytestmark = pytest.mark.slow


def _body(first_name: str) -> bytes:
    record = {"id": "cus_1", "first_name": first_name, "updated_at": "2026-04-02T15:20:38Z"}
    return json.dumps(
        {
            "event": "customer.created",
            "event_occurred_at": "2026-04-02T15:20:38Z",
            "company_id": "bdd640fb-0667-4ad1-ac80-317fa3b1799d",
            "customer": record,
        }
    ).encode()


def test_the_drain_flow_applies_every_accounts_spool(prefect_harness: str, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with Spool(spool_path_for(db)) as spool:
        spool.append("north", "sig", _body("North"))
        spool.append("south", "sig", _body("South"))
        spool.append("south", "sig", b"not json")

    state = webhooks_drain_flow(accounts=["north", "south"], db_path=str(db), return_state=True)
    assert state.is_completed(), state.message
    figures = {f["account"]: f for f in state.result()}
    assert (figures["north"]["drained"], figures["north"]["applied"]) == (1, 1)
    assert figures["south"]["statuses"] == {"applied": 1, "malformed": 1}

    rows = query(db, "select account, first_name from hcp.customers order by 1")
    assert rows == [("north", "North"), ("south", "South")]
    assert query(db, "select count(*) from hcp.webhook_events") == [(3,)]
    with Spool(spool_path_for(db)) as spool:
        assert spool.counts() == {"pending": 0, "drained": 3}

    task_runs, _, logs = flow_run_record(state)
    assert task_runs["drain-webhooks"].state.is_completed()
    assert "south: 2 webhook deliveries drained (1 applied, 1 malformed)" in logs
