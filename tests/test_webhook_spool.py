"""The webhook spool: durable appends, redeliveries stored once, drained rows read again only
until marked, and a second process sees what the first committed."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.webhooks.spool import Spool, spool_path_for

BODY = b'{"event":"job.created","event_occurred_at":"2026-04-02T15:20:38Z","job":{"id":"job_1"}}'


def test_append_then_pending_then_drained(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.sqlite") as spool:
        assert spool.append("default", "sig-1", BODY, api_timestamp="1775143244")
        [delivery] = spool.pending()
        assert (delivery.account, delivery.signature, delivery.body) == ("default", "sig-1", BODY)
        assert delivery.api_timestamp == "1775143244"
        spool.mark_drained([delivery.delivery_id])
        assert spool.pending() == []
        assert spool.counts() == {"pending": 0, "drained": 1}


def test_a_redelivery_of_the_same_body_is_stored_once(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.sqlite") as spool:
        assert spool.append("default", "sig-1", BODY)
        assert not spool.append("default", "sig-1", BODY)  # exact replay
        assert not spool.append("default", "sig-2", BODY)  # re-signed with a new timestamp
        assert spool.append("north", "sig-1", BODY)  # another account's event is its own
        assert spool.counts()["pending"] == 2


def test_a_second_process_reads_what_the_first_committed(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    code = (
        "import sys; from pipelines.webhooks.spool import Spool; "
        f"s = Spool({str(path)!r}); print(s.append('default', 'sig', sys.argv[1].encode()))"
    )
    for n in range(3):
        out = subprocess.run(
            [sys.executable, "-c", code, f'{{"n": {n}}}'], capture_output=True, text=True
        )
        assert out.stdout.strip() == "True", out.stderr
    with Spool(path) as spool:
        assert [d.body for d in spool.pending()] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']


def test_prune_removes_only_old_drained_rows(tmp_path: Path) -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    with Spool(tmp_path / "s.sqlite") as spool:
        spool.append("default", "a", b"{}")
        spool.append("default", "b", b"[]")
        first, second = spool.pending()
        spool.mark_drained([first.delivery_id], now=now - timedelta(days=8))
        spool.mark_drained([second.delivery_id], now=now - timedelta(days=1))
        assert spool.prune(timedelta(days=7), now=now) == 1
        assert spool.counts() == {"pending": 0, "drained": 1}


def test_the_default_spool_lives_beside_the_warehouse(tmp_path: Path) -> None:
    assert (
        spool_path_for(tmp_path / "hcp_sync.duckdb") == tmp_path / "hcp_sync.duckdb.webhooks.sqlite"
    )


def test_pending_for_one_account_is_not_hidden_by_another_accounts_backlog(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.sqlite") as spool:
        for n in range(5):
            spool.append("north", f"n{n}", f'{{"n": {n}}}'.encode())
        spool.append("south", "s", b'{"s": 1}')
        assert [d.account for d in spool.pending(2, account="south")] == ["south"]
        assert len(spool.pending(2, account="north")) == 2
