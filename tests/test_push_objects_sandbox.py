"""The object push end to end against the local sandbox, through the `hcp push` CLI: a price-list
update with its diff, creates of every object, bad rows, lost answers, status and retry."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.config import Account
from pipelines.sync.run import sync_account
from sandbox.server import SandboxHandle

SYNCED = ["materials"]  # what the diff of these tests compares with


@pytest.fixture
def cli(sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__API_KEY", sandbox.api_key)
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__BASE_URL", sandbox.base_url)
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__RATE_LIMIT", "0")
    db = tmp_path / "w.duckdb"
    sync(sandbox, db)

    def run(*args: str) -> Any:
        result = CliRunner().invoke(app, ["push", *args, "--db", str(db)])
        assert sandbox.api_key not in result.output
        return result

    run.db = db  # type: ignore[attr-defined]
    return run


def sync(sb: SandboxHandle, db: Path) -> None:
    acct = Account("default", sb.api_key, sb.base_url, rate_limit=0, concurrency=4)
    assert sync_account(acct, db, objects=SYNCED).ok


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    names = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, names)
        w.writeheader()
        w.writerows(rows)
    return path


def sandbox_writes(sb: SandboxHandle) -> int:
    """POST and PUT requests the sandbox has seen."""
    seen = sb.state.counters.snapshot()["requests"]
    return sum(n for route, n in seen.items() if route.startswith(("POST ", "PUT ")))


def statuses(db: Path, obj: str) -> dict[str, str]:
    with duckdb.connect(str(db), read_only=True) as con:
        if not con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'push_rows'"
        ).fetchone()[0]:
            return {}
        return dict(
            con.execute(
                "SELECT row_key, status FROM staging.push_rows WHERE object = ?", [obj]
            ).fetchall()
        )


def test_a_price_list_updates_only_what_changed(
    sandbox: SandboxHandle, cli: Any, tmp_path: Path
) -> None:
    store = sandbox.state.store
    mats = sorted(store.all("materials"), key=lambda m: m["uuid"])[:6]
    rows = [
        {
            "key": f"q1-{m['uuid']}",
            "uuid": m["uuid"],
            "price_dollars": f"{(m['price'] + 100 * (i % 2)) / 100:.2f}",
        }
        for i, m in enumerate(mats)
    ]
    rows.append({"key": "q1-bad", "uuid": mats[0]["uuid"], "price_dollars": "twelve"})
    rows.append({"key": "q1-gone", "uuid": "pbmat_unknown", "price_dollars": "1.00"})
    file = write_csv(tmp_path / "prices.csv", rows)

    plan = cli("materials", str(file), "--dry-run", "--json")
    assert plan.exit_code == 0, plan.output
    actions = Counter(p["action"] for p in json.loads(plan.output))
    assert actions == {"unchanged": 3, "send": 4, "fail": 1}
    assert statuses(cli.db, "materials") == {}, "a dry run stages nothing"

    result = cli("materials", str(file), "--json")
    assert result.exit_code == 0, result.output
    got = statuses(cli.db, "materials")
    assert Counter(got.values()) == {"unchanged": 3, "updated": 3, "failed_permanent": 2}
    for i, m in enumerate(mats):
        assert store.get("materials", m["uuid"])["price"] == m["price"] + 100 * (i % 2)

    sync(sandbox, cli.db)  # the nightly run: sync, then the same prices again under new keys
    again = write_csv(
        tmp_path / "q2.csv", [{**r, "key": r["key"].replace("q1", "q2")} for r in rows[:6]]
    )
    writes_before = sandbox_writes(sandbox)
    second = json.loads(cli("materials", str(again), "--json").output.split("\n", 0)[0])
    assert second["unchanged"] == 6 and second["writes"] == 0
    assert sandbox_writes(sandbox) == writes_before, "HCP saw no write"

    status = cli("status", "--json")
    counts = {(c["object"], c["status"]): c["rows"] for c in json.loads(status.output)["counts"]}
    assert counts[("materials", "failed_permanent")] == 2


def test_every_object_created_once_despite_lost_answers(
    sandbox_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = sandbox_factory(fault_rate=0.3, faults=("lost", "drop"), fault_seed=7)
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__API_KEY", sb.api_key)
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__BASE_URL", sb.base_url)
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__RATE_LIMIT", "0")
    db = tmp_path / "w.duckdb"
    store = sb.state.store
    category = store.all("material_categories")[0]["uuid"]
    customer = store.all("customers")[0]["id"]
    inputs = {
        "tags": [{"key": f"t{i}", "name": f"Push tag {i}"} for i in range(4)],
        "job_types": [{"key": f"j{i}", "name": f"Push job type {i}"} for i in range(4)],
        "lead_sources": [{"key": f"s{i}", "name": f"Push source {i}"} for i in range(4)],
        "material_categories": [
            {"key": f"c{i}", "name": f"Push category {i}", "parent_uuid": category}
            for i in range(4)
        ],
        "materials": [
            {
                "key": f"m{i}",
                "material_category_uuid": category,
                "name": f"Push part {i}",
                "price": 100 + i,
                "cost": 50,
            }
            for i in range(6)
        ],
        "price_forms": [{"key": f"p{i}", "name": f"Push form {i}"} for i in range(4)],
        "leads": [
            {"key": f"l{i}", "customer_id": customer, "lead_source": f"Push source {i}"}
            for i in range(4)
        ],
    }
    for obj, rows in inputs.items():
        file = write_csv(tmp_path / f"{obj}.csv", rows)
        for _ in range(6):  # like a schedule: until nothing is left to retry
            CliRunner().invoke(app, ["push", obj, str(file), "--db", str(db), "--json"])
            if set(statuses(db, obj).values()) <= {"created", "linked"}:
                break
        assert set(statuses(db, obj).values()) == {"created"}, (obj, statuses(db, obj))
    assert sb.state.counters.snapshot()["faults"].get("lost", 0) > 0
    with duckdb.connect(str(db), read_only=True) as con:
        reconciled = con.execute("SELECT sum(reconciled) FROM staging.push_row_runs").fetchone()[0]
    assert reconciled > 0, "some lost creates were found by their natural key"
    names = Counter(
        r["name"]
        for o in (
            "tags",
            "job_types",
            "lead_sources",
            "material_categories",
            "materials",
            "price_forms",
        )
        for r in store.all(o)
    )
    for obj, rows in inputs.items():
        if obj != "leads":
            assert all(names[r["name"]] == 1 for r in rows), obj
    leads = Counter(
        lead["lead_source"] for lead in store.all("leads") if lead["customer"]["id"] == customer
    )
    assert all(leads[r["lead_source"]] == 1 for r in inputs["leads"])


def test_renames_updates_and_bad_rows(sandbox: SandboxHandle, cli: Any, tmp_path: Path) -> None:
    store = sandbox.state.store
    tag = store.all("tags")[0]
    form = store.all("price_forms")[0]
    customer = store.all("customers")[0]
    assert (
        cli(
            "tags",
            str(
                write_csv(
                    tmp_path / "t.csv",
                    [
                        {"key": "r", "id": tag["id"], "name": "Renamed tag"},
                        {"key": "x", "id": "tag_nope", "name": "Zed"},
                    ],
                )
            ),
        ).exit_code
        == 0
    )
    assert store.get("tags", tag["id"])["name"] == "Renamed tag"
    assert statuses(cli.db, "tags") == {"r": "updated", "x": "failed_permanent"}
    cli(
        "price_forms",
        str(
            write_csv(
                tmp_path / "p.csv",
                [
                    {"key": "f", "id": form["id"], "duration_in_minutes": "75"},
                    {"key": "g", "id": form["id"], "duration_in_minutes": "soon"},
                ],
            )
        ),
    )
    assert store.get("price_forms", form["id"])["duration_in_minutes"] == 75
    assert statuses(cli.db, "price_forms") == {"f": "updated", "g": "failed_permanent"}
    cli(
        "customers",
        str(
            write_csv(
                tmp_path / "c.csv",
                [{"key": "seg", "id": customer["id"], "tags": "Maintenance plan due"}],
            )
        ),
    )
    assert store.get("customers", customer["id"])["tags"] == ["Maintenance plan due"]
    bad = cli("widgets", str(tmp_path / "c.csv"))
    assert bad.exit_code != 0
    retry = cli("retry", "--permanent", "--object", "tags")
    assert "1 row(s) back to pending" in retry.output
