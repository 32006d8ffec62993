"""`hcp demo` end to end in a temporary folder, as the README's first command runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.cli.demo import DEMO_DB, QUERIES, DemoError, prepare_db
from pipelines.warehouse import read_copy_path

HCP = Path(sys.executable).parent / "hcp"


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "120"}
    # configured credentials must be ignored: the demo always uses its own sandbox and key
    env["SOURCES__HOUSECALLPRO__API_KEY"] = "not-a-real-key"
    env["SOURCES__HOUSECALLPRO__BASE_URL"] = "http://127.0.0.1:9"
    proc = subprocess.run(
        [str(HCP), "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    db = tmp_path / DEMO_DB
    html, png = tmp_path / "hcp-demo-report.html", tmp_path / "hcp-demo-report.png"
    assert db.exists() and html.stat().st_size > 10_000 and png.stat().st_size > 50_000
    assert str(db) in out.replace("\n", "") and str(html) in out.replace("\n", "")
    assert "Skipped" not in out, out
    # one signed webhook from the sandbox reached the in-process receiver and was drained
    flat = " ".join(out.split())
    assert "webhook customer.updated arrived in" in flat, out
    assert "landed in hcp.customers (hcp.webhook_events: 1 row)" in flat, out
    assert "WARNING" not in proc.stderr  # dlt's all-null-column warnings are kept out of the demo
    for _, sql in QUERIES:
        assert sql.splitlines()[0] in out  # printed as written...
    with duckdb.connect(str(db), read_only=True) as con:
        results = [con.execute(sql).fetchall() for _, sql in QUERIES]  # ...and runs as written
        funnel = dict(
            con.execute(
                "SELECT funnel_stage, count(*) FROM analytics.lead_funnel GROUP BY 1"
            ).fetchall()
        )
        staged = con.execute("SELECT count(*) FROM staging.leads").fetchone()[0]
    assert all(results)
    # every valid sample lead came back from HCP as a customer; the one without contact failed
    assert funnel.get("failed") == 1 and funnel.get("customer") == staged - 1
    # the demo leaves no dlt state behind in the working folder
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == sorted(
        [DEMO_DB, read_copy_path(db).name, html.name, png.name]
    )
    # the read copy analysts open holds what the demo wrote
    with duckdb.connect(str(read_copy_path(db)), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM staging.leads").fetchone()[0] == staged


def test_demo_refuses_a_file_it_did_not_write(tmp_path: Path) -> None:
    db = tmp_path / "mine.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE precious AS SELECT 1 AS x")
    with pytest.raises(DemoError, match="not written by `hcp demo`"):
        prepare_db(db)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT x FROM precious").fetchone() == (1,)
    # an earlier demo's file is replaced
    demo = tmp_path / DEMO_DB
    prepare_db(demo)
    with duckdb.connect(str(demo)) as con:
        con.execute("CREATE TABLE leftover AS SELECT 1 AS x")
    prepare_db(demo)
    with duckdb.connect(str(demo), read_only=True) as con:
        tables = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
    assert tables == {"_hcp_demo"}
