"""Upkeep of the warehouse around a load: schema migration, deletion flags, crash repair.

Before a load: `drop_duplicate_extracted` undoes the one crash window of dlt's normalize step a
rerun cannot get past, `migrate_account_column` adds `account` to tables synced before it
existed, and `migrate_local_times` turns schedules' `*_local` columns stored as UTC instants
into the wall clock. After a load: `flag_deleted` marks records a complete full read no longer returned.
Must never: flag a record after a failed, partial, incremental or unsteady read (a listing
that changed during every pass may have skipped a record: `ObjectFigures.unsteady`; only
`fully_read` tables reach `flag_deleted`), or delete a row: records are flagged, never removed.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt

from sources.housecallpro.figures import ObjectFigures
from sources.housecallpro.settings import (
    ACCOUNT_COLUMN,
    DELETED_AT_COLUMN,
    DELETION_STRATEGIES,
    DELETION_TABLES,
    LOCAL_TIMES,
    OBJECTS,
    TABLES,
)

log = logging.getLogger("hcp.sync")

LEGACY_ACCOUNT = "default"
"""Account of rows synced before the `account` column existed (one key = account `default`)."""


def finish_interrupted(pipeline: dlt.Pipeline) -> None:
    """Before anything new is loaded (a sync's read, a webhook drain): repair normalize's crash
    window, load the package a killed run left behind (its cursors and rows land together
    before anyone reads on from them), then migrate an old warehouse."""
    drop_duplicate_extracted(pipeline)
    if pipeline.has_pending_data:
        log.info("loading the package a previous run left behind")
        pipeline.normalize()
        pipeline.load()
    migrate_account_column(pipeline)  # after: a package left by an older version has no account
    migrate_local_times(pipeline)


def drop_duplicate_extracted(pipeline: dlt.Pipeline) -> None:
    """Undo the one crash window of dlt's normalize step that a rerun cannot get past.

    Normalize ends by renaming `load/new/<id>` to `load/normalized/<id>` (atomic) and then
    deleting `normalize/extracted/<id>`. A SIGKILL between the two leaves both; the rerun then
    normalizes the extracted copy again and fails with "Directory not empty" on the rename. The
    normalized copy is complete, so the extracted duplicate is dropped.
    """
    work = Path(pipeline.working_dir)
    for extracted in (work / "normalize" / "extracted").glob("*"):
        if any(
            (work / "load" / done / extracted.name).exists() for done in ("normalized", "loaded")
        ):
            log.warning("dropping extracted package %s: already normalized", extracted.name)
            shutil.rmtree(extracted)


def migrate_account_column(pipeline: dlt.Pipeline) -> list[str]:
    """Add `account` to tables synced before it existed and backfill it as `default`.

    Before this column, one key (account `default`) filled the warehouse. Without the backfill
    the merge on (`account`, id) would never match those rows (NULL = x is never true) and
    every re-read record would be duplicated; dlt itself would also try to add the key column
    as NOT NULL to a table with rows. Idempotent: a table that has the column is left alone.
    Returns the tables migrated.
    """
    migrated: list[str] = []
    names = _data_tables(pipeline)
    with pipeline.destination_client() as client:
        if getattr(client, "sql_client", None) is None:
            log.warning("%s: no SQL client, `account` backfill skipped", pipeline.destination)
            return migrated
        migrated += _add_account_column(client, names)
        # dlt's merge stages rows in `<dataset>_staging`; its tables need the column as well
        with client.with_staging_dataset():  # type: ignore[attr-defined]
            _add_account_column(client, names)
    return migrated


def _add_account_column(client: Any, names: Sequence[str]) -> list[str]:
    sql = client.sql_client
    if not sql.has_dataset():
        return []
    lacking = [
        name
        for name, columns in client.get_storage_tables(names)
        if columns and ACCOUNT_COLUMN not in {c.lower() for c in columns}
    ]
    for name in lacking:
        table = sql.make_qualified_table_name(name)
        column = sql.escape_column_name(ACCOUNT_COLUMN)
        typ = client.type_mapper.to_destination_type(
            {"name": ACCOUNT_COLUMN, "data_type": "text"}, {"name": name}
        )
        log.warning("migrating %s: adding %s = %r", table, ACCOUNT_COLUMN, LEGACY_ACCOUNT)
        with sql.begin_transaction():
            sql.execute_sql(f"ALTER TABLE {table} ADD COLUMN {column} {typ}")
            sql.execute_sql(
                f"UPDATE {table} SET {column} = %s WHERE {column} IS NULL", LEGACY_ACCOUNT
            )
    return lacking


LOCAL_TIME_TABLES = tuple(o.table for o in OBJECTS if "schedule__time_zone" in o.columns)


def migrate_local_times(pipeline: dlt.Pipeline) -> list[str]:
    """Turn `schedule__scheduled_*_local` columns an older version loaded as UTC instants
    (TIMESTAMP WITH TIME ZONE) into the local wall clock they stand for (settings.LOCAL_TIMES):
    `value AT TIME ZONE schedule__time_zone`, as TIMESTAMP. Without it, new rows (wall clock)
    and old ones (UTC) would share a column. Idempotent; returns the columns migrated."""
    migrated: list[str] = []
    with pipeline.destination_client() as client:
        if getattr(client, "sql_client", None) is None:
            return migrated
        migrated += _localise(client)
        with client.with_staging_dataset():  # type: ignore[attr-defined]
            _localise(client)  # dlt's merge stages rows there: the same type, or a cast
    return migrated


def _localise(client: Any) -> list[str]:
    sql = client.sql_client
    if not sql.has_dataset():
        return []
    # the column's type as the database has it: dlt reports both kinds as "timestamp"
    rows = sql.execute_sql(
        "SELECT table_name, column_name, lower(data_type) FROM information_schema.columns "
        "WHERE table_schema = %s",
        sql.dataset_name,
    )
    types = {(t, c): d for t, c, d in rows or ()}
    done: list[str] = []
    for name in LOCAL_TIME_TABLES:
        for key in LOCAL_TIMES:
            column = f"schedule__{key}"
            if "with time zone" not in types.get((name, column), ""):
                continue  # absent, or already the wall clock
            table = sql.make_qualified_table_name(name)
            col = sql.escape_column_name(column)
            zone = "schedule__time_zone"
            tz = sql.escape_column_name(zone) if (name, zone) in types else "NULL"
            log.warning("migrating %s.%s: UTC instants -> local wall clock", table, col)
            sql.execute_sql(
                f"ALTER TABLE {table} ALTER COLUMN {col} TYPE TIMESTAMP "
                f"USING ({col} AT TIME ZONE COALESCE({tz}, 'UTC'))"
            )
            done.append(f"{name}.{column}")
    return done


def _data_tables(pipeline: dlt.Pipeline) -> list[str]:
    """Tables this pipeline knows (its schema) plus every raw table name, for a warehouse whose
    local state is gone."""
    names = set(TABLES) | {c for o in OBJECTS for c in o.children}
    if pipeline.default_schema_name:
        names |= set(pipeline.default_schema.data_table_names())
    return sorted(n for n in names if not n.startswith("_dlt"))


def flag_deleted(
    pipeline: dlt.Pipeline, account: str, load_id: str, tables: Sequence[str]
) -> dict[str, int]:
    """Flag this account's rows that a complete full read (load `load_id`) did not return.

    A full read re-merges every record it returns, so each of them now carries `load_id`; a row
    of the same account with an older `_dlt_load_id` was not returned: HCP no longer lists it.
    It gets `_hcp_deleted_at` (once: the first run that missed it). A record that comes back is
    re-merged as a fresh row, whose `_hcp_deleted_at` is NULL. Callers pass only tables whose
    read completed in this run; a failed or partial read must never reach here.
    """
    flagged: dict[str, int] = {}
    if not tables:
        return flagged
    with pipeline.destination_client() as client:
        sql = client.sql_client  # type: ignore[attr-defined]
        existing = {
            name
            for name, columns in client.get_storage_tables(tables)  # type: ignore[attr-defined]
            if columns and DELETED_AT_COLUMN in {c.lower() for c in columns}
        }
        now = datetime.now(UTC)
        for name in tables:
            if name not in existing:
                continue
            table = sql.make_qualified_table_name(name)
            deleted = sql.escape_column_name(DELETED_AT_COLUMN)
            acct = sql.escape_column_name(ACCOUNT_COLUMN)
            where = f"{acct} = %s AND _dlt_load_id <> %s AND {deleted} IS NULL"
            rows = sql.execute_sql(f"SELECT count(*) FROM {table} WHERE {where}", account, load_id)
            count = int(rows[0][0]) if rows else 0
            if count:
                sql.execute_sql(
                    f"UPDATE {table} SET {deleted} = %s WHERE {where}", now, account, load_id
                )
                log.warning("%s: %d record(s) of %s no longer listed by HCP", name, count, account)
            flagged[name] = count
    return flagged


def fully_read(objects: Mapping[str, ObjectFigures]) -> list[str]:
    """The tables whose read in this run was complete, full and steady, so a record missing
    from it is gone in HCP: ok, read in full (not incrementally), of a strategy that reads
    everything, and not `unsteady` (the listing moved during every pass, so a record may have
    been skipped: `sources.housecallpro.helpers`)."""
    return [
        t
        for t in DELETION_TABLES
        if t in objects
        and objects[t].status == "ok"
        and objects[t].mode in DELETION_STRATEGIES
        and not objects[t].unsteady
    ]
