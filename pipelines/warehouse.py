"""The DuckDB file: one process at a time on it, and short-lived connections under that lock.

DuckDB locks its file per process: a second process, even read-only, fails while a writer holds
it. Every command and flow task that opens the file holds `duckdb_lock` (an `fcntl.flock` on
`<db>.lock` beside it) for its whole duration, and waits with a message when another holds it.
The kernel drops a flock when its process dies, so a SIGKILLed holder never leaves a stale lock.
Within one process the lock is re-entrant per thread; two threads still exclude each other.

`connect` opens, works and closes: a connection never outlives the command that needed it, so
flows and CLI runs take turns on the file instead of failing on DuckDB's own lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

DEFAULT_TIMEOUT_S = 600.0
_local = threading.local()


class LockTimeout(Exception):
    """Another process kept the DuckDB file busy for longer than the timeout."""


def lock_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


def _held() -> dict[str, int]:
    if not hasattr(_local, "held"):
        _local.held = {}
    return _local.held


@contextlib.contextmanager
def duckdb_lock(
    db_path: str | Path,
    timeout_s: float | None = None,
    on_wait: Callable[[str], None] | None = None,
    poll_s: float = 0.2,
) -> Iterator[None]:
    """Hold the cross-process lock on `db_path`; `LockTimeout` after `timeout_s` of waiting."""
    db = Path(db_path).resolve()
    key = str(db)
    held = _held()
    if held.get(key):
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    if timeout_s is None:
        timeout_s = float(os.environ.get("HCP_LOCK_TIMEOUT", DEFAULT_TIMEOUT_S))
    db.parent.mkdir(parents=True, exist_ok=True)
    path = lock_path_for(db)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told and on_wait is not None:
                    on_wait(
                        f"{db.name} is in use by another hcp process; waiting up to {timeout_s:.0f}s"
                    )
                    told = True
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"{db} is still in use by another process after {timeout_s:.0f}s "
                        f"(lock file {path}). Wait for it to finish, or raise HCP_LOCK_TIMEOUT."
                    ) from None
                time.sleep(poll_s)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        held[key] = 1
        try:
            yield
        finally:
            held.pop(key, None)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def connect(
    db_path: str | Path,
    read_only: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection held under the file's lock for the duration of the block."""
    path = Path(db_path)
    with duckdb_lock(path, on_wait=on_wait):
        if read_only and not path.exists():
            read_only = False
        con = duckdb.connect(str(path), read_only=read_only)
        try:
            yield con
        finally:
            con.close()
