"""The same sync into a real PostgreSQL, by dlt configuration alone.

What a user relies on: `DESTINATION__POSTGRES__CREDENTIALS` plus `destination="postgres"`
(`hcp sync --destination postgres`) lands the same tables and counts as DuckDB, a rerun merges
instead of appending, and history / line items / deletion flags work there too. Needs a server:
`.ci/run` starts one (`.ci/postgres.sh`) and exports `HCP_TEST_POSTGRES_DSN`.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from pipelines.config import Account
from pipelines.sync import sync_account
from sandbox.server import SandboxHandle
from tests.utils import table_counts

pytestmark = pytest.mark.slow

DSN = os.environ.get("HCP_TEST_POSTGRES_DSN")


def dlt_dsn(dsn: str) -> str:
    """dlt insists on a password; `.ci/postgres.sh` trusts loopback, so any placeholder works."""
    parts = urlsplit(dsn)
    if parts.password is None and parts.username:
        netloc = f"{parts.username}:unused@{parts.hostname}" + (
            f":{parts.port}" if parts.port else ""
        )
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


SCALE = 0.1
EXTRAS = {"history": ["jobs", "invoices"], "job_line_items": True}


def account(sb: SandboxHandle) -> Account:
    return Account("default", sb.api_key, sb.base_url, rate_limit=0, concurrency=4)


def postgres_counts(cur: object, schema: str) -> dict[str, int]:
    cur.execute(  # type: ignore[attr-defined]
        "select table_name from information_schema.tables "
        "where table_schema = %s and table_name not like '\\_dlt%%'",
        [schema],
    )
    names = [r[0] for r in cur.fetchall()]  # type: ignore[attr-defined]
    out = {}
    for name in names:
        cur.execute(f'select count(*) from "{schema}"."{name}"')  # type: ignore[attr-defined]
        out[name] = cur.fetchone()[0]  # type: ignore[attr-defined]
    return out


@pytest.mark.skipif(
    not DSN,
    reason="no PostgreSQL: set HCP_TEST_POSTGRES_DSN (`.ci/run` starts one with .ci/postgres.sh)",
)
def test_postgres_lands_the_same_counts_as_duckdb(
    sandbox_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import psycopg2

    sb = sandbox_factory(scale=SCALE)
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", dlt_dsn(DSN or ""))
    schema = (
        f"hcp_test_{uuid.uuid4().hex[:10]}"  # one schema per run: parallel CI jobs share a server
    )
    acct = account(sb)
    try:
        on_pg = sync_account(
            acct, destination="postgres", dataset=schema, pipelines_dir=tmp_path / "pg", **EXTRAS
        )
        assert on_pg.ok, on_pg.message
        on_duck = sync_account(acct, tmp_path / "w.duckdb", **EXTRAS)
        assert on_duck.ok, on_duck.message

        with psycopg2.connect(DSN) as conn, conn.cursor() as cur:
            pg = postgres_counts(cur, schema)
            duck = table_counts(tmp_path / "w.duckdb")
            assert pg == duck
            for table in ("jobs", "jobs_history", "invoices_history", "job_line_items", "leads"):
                assert pg[table] > 0, table

            # a rerun after an edit and a deletion merges in place, on PostgreSQL's own SQL
            job = sb.admin.records("jobs")[1]
            sb.admin.update("jobs", job["id"], {"total_amount": 4242})
            tag = sb.admin.records("tags")[0]
            sb.admin.delete("tags", tag["id"])
            again = sync_account(
                acct,
                destination="postgres",
                dataset=schema,
                pipelines_dir=tmp_path / "pg",
                **EXTRAS,
            )
            assert again.ok, again.message
            conn.commit()
            cur.execute(f'select count(*), count(distinct account) from "{schema}".jobs')
            assert cur.fetchone() == (pg["jobs"], 1)
            cur.execute(
                f'select total_amount, valid_to is null from "{schema}".jobs_history '
                "where id = %s order by valid_from",
                [job["id"]],
            )
            assert cur.fetchall() == [(job["total_amount"], False), (4242, True)]
            cur.execute(f'select id from "{schema}".tags where _hcp_deleted_at is not null')
            assert cur.fetchall() == [(tag["id"],)]
    finally:
        with psycopg2.connect(DSN) as conn, conn.cursor() as cur:
            cur.execute(f'drop schema if exists "{schema}" cascade')
            cur.execute(f'drop schema if exists "{schema}_staging" cascade')
