"""The object push under kill -9 (`python -m benchmarks.drill --only object_kills`).

Rows for every object the push writes (creates of tags, job types, lead sources, material
categories, materials, price forms and HCP leads; material price updates; customer tag updates)
are staged in one DuckDB file; `python -m pipelines.cli push <object>` subprocesses, paced at
`PUSH_KILL_RATE` req/s, are SIGKILLed at a random moment after their first write reached the
sandbox (so each kill lands mid-sending). Recovery pushes every object until settled. Then:
each intended create exists exactly once in the sandbox (by its natural key), each update was
applied, and every row is terminal with its HCP id.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.drill_common import Config, Drill, query, sync_until_ok

PUSH_KILL_RATE = 5.0
"""req/s of the killed runs: slow enough that a batch of claimed rows is mid-sending."""
LOST_RATE = 0.5
"""Share of writes whose answer the sandbox swallows after applying them (`lost`) while runs are
killed: with the kills, rows end up with a create HCP applied but the run never recorded, the
case only the natural-key lookup recovers. (A kill alone rarely does: the sandbox drops a request
whose client vanished before it read the body.)"""
CREATES = ("tags", "job_types", "lead_sources", "material_categories", "materials", "price_forms")
ORDER = (*CREATES, "leads", "customers")
QUICK_KILLS = ("materials", "leads")
"""--quick kills these (creates and updates by category-scoped natural key; HCP leads by
customer); the full drill kills every object in `ORDER`."""


def _rows(admin: Any, n: int) -> dict[str, list[dict[str, Any]]]:
    """n rows per object: fresh names for creates, new prices and tags for updates."""
    category = admin.records("material_categories")[0]["uuid"]
    customers = admin.records("customers")
    materials = sorted(admin.records("materials"), key=lambda m: m["uuid"])[:n]
    rows: dict[str, list[dict[str, Any]]] = {
        "tags": [{"key": f"t{i}", "name": f"Drill tag {i}"} for i in range(n)],
        "job_types": [{"key": f"j{i}", "name": f"Drill job type {i}"} for i in range(n)],
        "lead_sources": [{"key": f"s{i}", "name": f"Drill source {i}"} for i in range(n)],
        "material_categories": [
            {"key": f"c{i}", "name": f"Drill category {i}", "parent_uuid": category}
            for i in range(n)
        ],
        "materials": [
            {
                "key": f"m{i}",
                "material_category_uuid": category,
                "name": f"Drill part {i}",
                "price": 1000 + i,
                "cost": 500,
            }
            for i in range(n)
        ]
        + [
            {"key": f"u{i}", "uuid": m["uuid"], "price": m["price"] + 111}
            for i, m in enumerate(materials)
        ],
        "price_forms": [{"key": f"p{i}", "name": f"Drill form {i}"} for i in range(n)],
        "leads": [
            {"key": f"l{i}", "customer_id": customers[i]["id"], "lead_source": "Drill lead"}
            for i in range(n)
        ],
        "customers": [
            {"key": f"k{i}", "id": c["id"], "tags": f"Drill segment {i % 3}"}
            for i, c in enumerate(customers[n : 2 * n])
        ],
    }
    return rows


def _spawn(obj: str, url: str, key: str, db: Path, log: Path) -> subprocess.Popen[bytes]:
    from benchmarks.common import child_env

    env = child_env(
        SOURCES__HOUSECALLPRO__API_KEY=key,
        SOURCES__HOUSECALLPRO__BASE_URL=url,
        SOURCES__HOUSECALLPRO__RATE_LIMIT=str(PUSH_KILL_RATE),
        HCP_LOCK_TIMEOUT="60",
    )
    cmd = [sys.executable, "-m", "pipelines.cli", "push", obj, "--json", "--db", str(db)]
    with log.open("ab") as fh:
        return subprocess.Popen(cmd, env=env, cwd=db.parent, stdout=fh, stderr=subprocess.STDOUT)


def _writes(admin: Any) -> int:
    seen = admin.counters()["requests"]
    return sum(n for route, n in seen.items() if route.startswith(("POST ", "PUT ")))


def _check(d: Drill, admin: Any, db: Path, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Each create exactly once, each update applied, every row terminal with an id."""
    for obj in CREATES:
        names = Counter(str(r.get("name")) for r in admin.records(obj))
        wanted = [r["name"] for r in rows[obj] if "name" in r]
        wrong = {w: names[w] for w in wanted if names[w] != 1}
        d.check(not wrong, f"{obj}: not exactly once: {dict(list(wrong.items())[:3])}")
    leads = Counter(
        (lead["customer"]["id"], lead["lead_source"])
        for lead in admin.records("leads")
        if lead.get("lead_source") == "Drill lead"
    )
    d.check(
        all(leads[(r["customer_id"], "Drill lead")] == 1 for r in rows["leads"]),
        f"HCP leads not exactly once: {[v for v in leads.values() if v != 1][:3]}",
    )
    for r in rows["materials"]:
        if "uuid" in r:
            price = admin.get("materials", r["uuid"])["price"]
            d.check(
                price == r["price"], f"material {r['uuid']}: price {price}, wanted {r['price']}"
            )
    for r in rows["customers"]:
        tags = admin.get("customers", r["id"])["tags"]
        d.check(tags == [r["tags"]], f"customer {r['id']}: tags {tags}, wanted {[r['tags']]}")
    left = query(
        db,
        "select object, status, count(*) from staging.push_rows "
        "where status not in ('created', 'updated') or hcp_id is null group by all",
    )
    d.check(not left, f"rows not created/updated with an id after recovery: {left}")


def drill_object_kills(cfg: Config) -> Drill:
    from benchmarks.common import sandbox_process
    from pipelines.push.run import push_objects
    from pipelines.push.stage import stage
    from pipelines.warehouse import connect
    from sources.housecallpro.client import HCPClient

    d = Drill("object kills")
    rng = random.Random(cfg.seed + 16)
    n = 6 if cfg.quick else 30
    killed = QUICK_KILLS if cfg.quick else ORDER
    kills = len(killed)
    d.did = (
        f"{n} rows per object (creates of {', '.join(CREATES)} and HCP leads; {n} material price "
        f"updates; {n} customer tag updates) staged in one DuckDB file; {kills} "
        f"`python -m pipelines.cli push <object>` runs (paced at {PUSH_KILL_RATE:g} req/s, {LOST_RATE:.0%} of "
        "writes answered never (applied, answer lost), objects "
        "in turn) SIGKILLed 0.2-0.8 s after their first write reached the sandbox; then every "
        "object pushed until settled -> each create exactly once by its natural key, each "
        "update applied, every row terminal with its HCP id."
    )
    folder = cfg.work / "object-kills"
    folder.mkdir()
    db = folder / "objects.duckdb"
    log = folder / "runs.log"
    landed: list[str] = []
    sending: list[int] = []  # rows each kill left in `sending` (cumulative)
    with sandbox_process(scale=cfg.scale) as sb:
        admin = sb.admin
        synced, _ = sync_until_ok(sb.url, sb.api_key, db)  # the diff's raw tables
        d.check(synced.ok, f"the first sync failed: {synced.message}")
        rows = _rows(admin, n)
        with connect(db) as con:
            for obj, recs in rows.items():
                stage(con, obj, recs)
        admin.settings(fault_rate=LOST_RATE, faults=["lost"])
        for i in range(kills):
            obj = killed[i]
            before = _writes(admin)
            proc = _spawn(obj, sb.url, sb.api_key, db, log)
            deadline = time.monotonic() + 30
            while proc.poll() is None and _writes(admin) == before and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.2, 0.8))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                landed.append(obj)
            code = proc.wait(timeout=30)
            d.check(code in (0, -signal.SIGKILL), f"push {obj} exited {code} (see {log.name})")
            left = query(db, "select count(*) from staging.push_rows where status = 'sending'")
            sending.append(int(left[0][0]))
        lost = admin.counters()["faults"].get("lost", 0)
        admin.settings(fault_rate=0.0)
        recovery: Counter[str] = Counter()
        with HCPClient(sb.api_key, sb.url, rate_limit=0, concurrency=4) as client:
            for obj in ORDER:
                for _ in range(4):
                    r = push_objects(obj, "default", db_path=db, client=client)
                    recovery[obj] += 1
                    if not r.counts["failed_retryable"] and r.status == "ok":
                        break
        d.check(any(sending), "no kill left a row in 'sending': the drill tested no recovery")
        _check(d, admin, db, rows)
        statuses = dict(query(db, "select status, count(*) from staging.push_rows group by 1"))
        reconciled = query(db, "select coalesce(sum(reconciled), 0) from staging.push_row_runs")
        killed = query(db, "select count(*) from staging.push_row_runs where status = 'killed'")
    d.figures += [
        f"- kills landed mid-sending: {len(landed)} ({', '.join(landed) or 'none'}); rows left "
        f"in 'sending' after each kill (cumulative): {sending}",
        f"- rows after recovery: {statuses}; lost answers {lost}, reconciled by natural-key "
        f"lookup: {reconciled[0][0]} (in finished runs); runs marked killed: {killed[0][0]}",
        f"- recovery push runs per object: {dict(recovery)}",
    ]
    for line in d.figures:
        cfg.log(line)
    return d
