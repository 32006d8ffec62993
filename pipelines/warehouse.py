"""Short-lived DuckDB connections under the cross-process lock.

Open, work, close: a connection never outlives the command that needed it, so flows and CLI runs
take turns on the file instead of failing on DuckDB's own lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from pipelines.dblock import duckdb_lock


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
