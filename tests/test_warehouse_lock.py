"""The one cross-process lock on a DuckDB file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.warehouse import LockTimeout, duckdb_lock

HOLDER = """
import sys, time
from pipelines.warehouse import duckdb_lock
with duckdb_lock(sys.argv[1], timeout_s=1):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""

ROOT = Path(__file__).resolve().parents[1]


def start_holder(db: Path, hold_s: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db), str(hold_s)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_process_waits_then_fails_clearly(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    holder = start_holder(db, 30)
    try:
        messages: list[str] = []
        with (
            pytest.raises(LockTimeout) as info,
            duckdb_lock(db, timeout_s=0.5, on_wait=messages.append, poll_s=0.05),
        ):
            pass
        assert "still in use by another process" in str(info.value)
        assert "HCP_LOCK_TIMEOUT" in str(info.value)
        assert messages and "waiting" in messages[0]
    finally:
        holder.kill()
        holder.wait()


def test_waiter_gets_the_lock_when_holder_finishes(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    holder = start_holder(db, 0.5)
    started = time.monotonic()
    with duckdb_lock(db, timeout_s=20, poll_s=0.05):
        waited = time.monotonic() - started
    holder.wait()
    assert waited > 0.1


def test_no_lock_left_behind_after_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    holder = start_holder(db, 60)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with duckdb_lock(db, timeout_s=2, poll_s=0.05):
        pass


def test_reentrant_in_one_thread(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with duckdb_lock(db, timeout_s=1), duckdb_lock(db, timeout_s=1):
        pass
