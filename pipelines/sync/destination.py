"""Where a sync writes: the dlt destination, the dataset, and where dlt keeps its local state.

DuckDB at the configured file unless another dlt destination is named (`postgres`,
`motherduck`, ...). dlt's local state (cursors, pending packages) is keyed by the warehouse it
describes, so two warehouses never share cursors. Must never: keep dlt state where a user would
not look for it (`~/.dlt`): it lives under `DLT_DATA_DIR` or beside the DuckDB file; or print a
destination's credentials (they only feed a hash).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration.exceptions import (
    ConfigFieldMissingException,
    ConfigurationException,
)
from dlt.common.destination.exceptions import DestinationException
from dlt.common.destination.reference import Destination

from pipelines.config import ConfigError, destination_credentials
from pipelines.config import db_path as configured_db_path
from pipelines.config import destination as configured_destination
from pipelines.warehouse import duckdb_lock

DATASET = "hcp"
LOADER_FILE_FORMAT = "jsonl"
"""DuckDB parses dlt's default `insert_values` SQL slowly (20 s for 3,000 jobs); it reads jsonl
with `read_json` in a fraction of that (BENCHMARKS: docs/benchmarks-sync.md). Other
destinations use their own preferred format (PostgreSQL cannot load jsonl)."""


def pipelines_dir_for(db_path: Path | None, destination_key: str) -> Path:
    """Where dlt keeps this pipeline's local state: `DLT_DATA_DIR` or beside the DuckDB file.

    The folder is keyed by the warehouse, so two DuckDB files never share cursors (a cursor
    describes what one warehouse holds).
    """
    base = os.environ.get("DLT_DATA_DIR")
    if base:
        root = Path(base).expanduser() / "pipelines"
    elif db_path is not None:
        root = db_path.parent / ".dlt-data" / "pipelines"
    else:
        root = Path.cwd() / ".dlt-data" / "pipelines"
    return root / destination_key


def account_pipeline_name(account: str) -> str:
    """The dlt pipeline of one account (its own cursors and state): the sync and the webhook
    drain must load through the same one, so the name has one home."""
    return f"hcp_{account}"


def state_dir(db_path: Path | None, destination: Any, dataset: str = DATASET) -> Path:
    """`pipelines_dir_for` the warehouse `resolve_destination` returned (DuckDB file or other)."""
    return pipelines_dir_for(
        db_path, destination_key(db_path, None if db_path else destination, dataset)
    )


def destination_key(db_path: Path | None, destination: Any, dataset: str = DATASET) -> str:
    """The folder name of one warehouse's dlt state: the DuckDB file (name + path hash), or the
    destination's name plus a hash of its configured credentials, plus a non-default dataset."""
    if db_path is not None and destination is None:
        digest = hashlib.sha1(str(db_path.resolve()).encode()).hexdigest()[:8]
        key = f"{db_path.stem}-{digest}"
    else:
        name = getattr(destination, "destination_name", None) or str(destination)
        key = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:60]
        # two PostgreSQL servers (or databases) must not share cursors: key by credentials too
        creds = destination_credentials(name) if isinstance(destination, str) else None
        if creds:
            key += "-" + hashlib.sha1(creds.encode()).hexdigest()[:8]
    if dataset != DATASET:
        key += f"-{dataset}"
    return key


def resolve_destination(
    destination: Destination | str | None, db_path: str | Path | None
) -> tuple[Any, Path | None]:
    """(dlt destination, DuckDB file or None): DuckDB at the configured file unless another
    destination is named by the argument or by `[sync] destination` / `SYNC__DESTINATION`."""
    if destination is None or isinstance(destination, str):
        name = configured_destination(destination)
        if name == "duckdb":
            duck = configured_db_path(db_path)
            return dlt.destinations.duckdb(str(duck)), duck
        check_destination(name)
        return name, None
    return destination, None


def check_destination(name: str) -> None:
    """`ConfigError` with the setting to fix when destination `name` is not one dlt knows or its
    credentials are missing or unreadable. Checked before any request: dlt itself would say so
    only at load time, after the read, in a message pages long."""
    setting = f"DESTINATION__{name.upper()}__CREDENTIALS"
    try:
        dest = Destination.from_reference(name)
    except (DestinationException, ImportError):
        raise ConfigError(
            f"Unknown destination {name!r} (SYNC__DESTINATION or [sync] destination): use one "
            "of dlt's names, e.g. duckdb, postgres, motherduck, bigquery, snowflake."
        ) from None
    spec = dest.spec()
    spec.dataset_name = DATASET
    try:
        dest.configuration(spec)
    except ConfigFieldMissingException:
        raise ConfigError(
            f"Destination {name!r} has no credentials: set {setting} or "
            f"[destination.{name}.credentials] in .dlt/secrets.toml (dlt's destination docs "
            "show the form, e.g. postgresql://user:password@host:5432/database)."
        ) from None
    except ConfigurationException as exc:
        raise ConfigError(
            f"Destination {name!r}: {setting} cannot be read ({type(exc).__name__}); for "
            "postgres it is postgresql://user:password@host:5432/database."
        ) from None


@contextmanager
def warehouse_lock(db_path: Path | None) -> Iterator[None]:
    """The cross-process DuckDB lock for a DuckDB warehouse; nothing for a server destination."""
    with duckdb_lock(db_path) if db_path is not None else nullcontext():
        yield
