"""The DuckDB file: one process at a time on it, and short-lived connections under that lock.

DuckDB locks its file per process: a second process, even read-only, fails while a writer holds
it. Every command and flow task that opens the file holds `duckdb_lock` (an `fcntl.flock` on
`<db>.lock` beside it) for its whole duration, and waits with a message when another holds it.
The kernel drops a flock when its process dies, so a SIGKILLed holder never leaves a stale lock.
Within one process the lock is re-entrant per thread; two threads still exclude each other.

`connect` opens, works and closes: a connection never outlives the command that needed it, so
flows and CLI runs take turns on the file instead of failing on DuckDB's own lock.

Readers while writers run: when the outermost lock of a process is released after a block that
changed the file, the file is checkpointed and copied to `<stem>.read.duckdb` beside it (written
to a temporary name, then renamed into place), so an analyst, a notebook or a BI tool can keep
that copy open read-only while syncs, transforms and pushes run; a reader sees the new data when
it reconnects (on POSIX the rename leaves its open copy intact). A read-only `connect` while
another hcp process writes reads that copy instead of waiting. `HCP_READ_COPY=0` turns it off.

A program outside hcp holding the file (the DuckDB shell, a notebook, DBeaver) does not take
our flock, so each outermost lock also probes the file: while DuckDB refuses to open it, the
lock waits up to `HCP_FOREIGN_LOCK_TIMEOUT` seconds (default 30) and then raises
`FileHeldElsewhere`, naming the holder's PID, as DuckDB reports it, and the read copy to open.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import duckdb

DEFAULT_TIMEOUT_S = 600.0
DEFAULT_FOREIGN_TIMEOUT_S = 30.0
READ_COPY_SUFFIX = ".read.duckdb"
_local = threading.local()
log = logging.getLogger("hcp.warehouse")


class LockTimeout(Exception):
    """Another process kept the DuckDB file busy for longer than the timeout."""


class FileHeldElsewhere(LockTimeout):
    """A program that is not hcp (DuckDB's own lock, not ours) kept the file open too long."""


def lock_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


def read_copy_path(db_path: str | Path) -> Path:
    """`hcp_sync.duckdb` -> `hcp_sync.read.duckdb`: the copy readers may hold open."""
    db = Path(db_path)
    return db.with_name(db.stem + READ_COPY_SUFFIX)


def _read_copy_enabled() -> bool:
    return os.environ.get("HCP_READ_COPY", "1").strip().lower() not in ("0", "false", "no", "off")


def _fingerprint(db: Path) -> tuple[int, int, int, int]:
    """What changes when DuckDB writes: the file's and its WAL's mtime and size."""
    out: list[int] = []
    for path in (db, db.with_name(db.name + ".wal")):
        try:
            st = path.stat()
            out += [st.st_mtime_ns, st.st_size]
        except FileNotFoundError:
            out += [0, 0]
    return out[0], out[1], out[2], out[3]


def publish_read_copy(db_path: str | Path) -> Path:
    """Checkpoint `db_path` and copy it to its read copy atomically (temp file + rename).

    Call with the lock held. Raises `duckdb.Error` when the file cannot be checkpointed."""
    db = Path(db_path)
    target = read_copy_path(db)
    con = duckdb.connect(str(db))
    try:
        con.execute("CHECKPOINT")
    finally:
        con.close()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(db, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _publish_quietly(db: Path) -> None:
    """Publish the read copy; a failure is logged (readers keep the previous copy), not raised:
    the command itself succeeded."""
    try:
        target = publish_read_copy(db)
    except (duckdb.Error, OSError) as exc:
        log.warning("%s not updated (readers keep the previous copy): %s", read_copy_path(db), exc)
    else:
        log.debug("published %s", target)


_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


def held_by(message: str) -> str | None:
    """DuckDB's "Conflicting lock is held in /usr/bin/python3 (PID 42)" -> "PID 42 (python3)"."""
    match = _HOLDER.search(message)
    if match is None:
        return None
    return f"PID {match['pid']} ({Path(match['program'].strip()).name})"


def is_lock_conflict(exc: BaseException) -> bool:
    """Whether `exc` is DuckDB refusing the file because another process has it open."""
    return isinstance(exc, duckdb.IOException) and "Could not set lock" in str(exc)


_CONFLICT_FILE = re.compile(r'Could not set lock on file "(?P<path>[^"]+)"')


def held_elsewhere_message(
    db: Path | None, exc: BaseException, waited_s: float | None = None
) -> str:
    """One line for a file another program holds: who, what to open instead, how long we waited.
    `db` None: the file DuckDB names in `exc`."""
    if db is None:
        match = _CONFLICT_FILE.search(str(exc))
        db = Path(match["path"]) if match else Path("the DuckDB file")
    holder = held_by(str(exc)) or "another program"
    waited = f" Waited {waited_s:.0f}s." if waited_s is not None else ""
    return (
        f"{db.name} is open in {holder}, which is not an hcp command: DuckDB lets one process "
        f"at a time open the file. Close it there, and open {read_copy_path(db).name} for "
        f"reading instead (hcp refreshes that copy after every change and never locks it).{waited}"
    )


def _wait_for_foreign_holder(
    db: Path, timeout_s: float, on_wait: Callable[[str], None] | None, poll_s: float
) -> None:
    """Block while a non-hcp process holds DuckDB's own lock on `db`; `FileHeldElsewhere` after
    `timeout_s`. A probe is one open and close of the file."""
    if not db.exists():
        return
    started = time.monotonic()
    told = False
    while True:
        try:
            duckdb.connect(str(db)).close()
            return
        except duckdb.IOException as exc:
            if not is_lock_conflict(exc):
                raise
            waited = time.monotonic() - started
            if waited >= timeout_s:
                raise FileHeldElsewhere(held_elsewhere_message(db, exc, waited)) from None
            if not told and on_wait is not None:
                holder = held_by(str(exc)) or "another program"
                on_wait(f"{db.name} is open in {holder}; waiting up to {timeout_s:.0f}s")
                told = True
            time.sleep(poll_s)


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
            foreign_s = float(os.environ.get("HCP_FOREIGN_LOCK_TIMEOUT", DEFAULT_FOREIGN_TIMEOUT_S))
            _wait_for_foreign_holder(db, foreign_s, on_wait, poll_s)
            before = _fingerprint(db)
            yield
            if _read_copy_enabled() and db.exists() and _fingerprint(db) != before:
                _publish_quietly(db)
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
    """A DuckDB connection held under the file's lock for the duration of the block.

    Read-only, while another process (hcp or not) has the file: the read copy, without waiting."""
    path = Path(db_path)
    copy = read_copy_path(path)
    if read_only and copy.exists() and (_held_by_other_process(path) or _held_by_foreign(path)):
        if on_wait is not None:
            at = datetime.fromtimestamp(copy.stat().st_mtime).strftime("%H:%M:%S")
            on_wait(f"{path.name} is being written; reading {copy.name} (published at {at})")
        con = duckdb.connect(str(copy), read_only=True)
        try:
            yield con
        finally:
            con.close()
        return
    with duckdb_lock(path, on_wait=on_wait):
        if read_only and not path.exists():
            read_only = False
        con = duckdb.connect(str(path), read_only=read_only)
        try:
            yield con
        finally:
            con.close()


def _held_by_foreign(db_path: Path) -> bool:
    """Whether DuckDB refuses to open `db_path` for writing right now (a program outside hcp)."""
    if not db_path.exists():
        return False
    try:
        duckdb.connect(str(db_path)).close()
    except duckdb.IOException as exc:
        if is_lock_conflict(exc):
            return True
        raise
    return False


def _held_by_other_process(db_path: Path) -> bool:
    """Whether another process holds the flock on `db_path` right now (never blocks)."""
    db = db_path.resolve()
    if _held().get(str(db)):
        return False
    path = lock_path_for(db)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
