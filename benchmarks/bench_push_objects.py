"""Object push benchmark: a price-book update at the rate limit, creates without duplicates, and
a no-change rerun that sends nothing.

    python -m benchmarks.bench_push_objects                 # 1,000 updates at 50 req/s
    python -m benchmarks.bench_push_objects --rate 20 --materials 500

The sandbox runs in its own process with its rate limit at R and 1,000 extra materials; the push
runs here with the client's limiter at R. Steps: sync the price book; stage N price updates and
push them (requests/s over R, target >= 90%); create `creates` new materials (duplicates by
name, target 0); sync again; stage the same prices under new keys and push (writes, target 0:
the diff against the synced raw table finds nothing to change).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any


def bench_push_objects(
    rate: float, workdir: Path, materials: int = 1000, creates: int = 100, concurrency: int = 4
) -> dict[str, Any]:
    from benchmarks.common import sandbox_process
    from pipelines.config import Account
    from pipelines.push.run import push_objects
    from pipelines.push.stage import stage
    from pipelines.sync.run import sync_account
    from pipelines.warehouse import connect

    db = workdir / "objects.duckdb"
    with sandbox_process(rate_limit=rate) as sb:
        admin = sb.admin
        category = admin.add(
            "material_categories",
            {"object": "material_category", "name": "Bench supplier", "parent_uuid": None},
        )["uuid"]
        for i in range(materials):
            admin.add(
                "materials",
                {
                    "object": "material",
                    "material_category_uuid": category,
                    "material_category_name": "Bench supplier",
                    "name": f"Bench part {i}",
                    "price": 1000 + i,
                    "cost": 500,
                    "taxable": True,
                },
            )
        mine = [m for m in admin.records("materials") if m["material_category_uuid"] == category]
        account = Account("default", sb.api_key, sb.url, rate_limit=rate, concurrency=concurrency)

        def sync() -> None:
            result = sync_account(
                account,
                db,
                objects=["material_categories", "materials"],
                pipelines_dir=workdir / "dlt",
            )
            if not result.ok:
                raise RuntimeError(f"bench sync failed: {result.message}")

        def push(rows: list[dict[str, Any]]) -> Any:
            with connect(db) as con:
                stage(con, "materials", rows)
            return push_objects("materials", account, db_path=db, max_attempts=5)

        sync()
        prices = [{"uuid": m["uuid"], "price": m["price"] + 250} for m in mine]
        updates = push([{"key": f"q1-{p['uuid']}", **p} for p in prices])
        new = push(
            [
                {
                    "key": f"new-{i}",
                    "material_category_uuid": category,
                    "name": f"Bench new part {i}",
                    "price": 100 + i,
                    "cost": 50,
                }
                for i in range(creates)
            ]
        )
        sync()
        rerun = push([{"key": f"q2-{p['uuid']}", **p} for p in prices])
        names = Counter(m["name"] for m in admin.records("materials"))
        applied = sum(1 for p in prices if admin.get("materials", p["uuid"])["price"] == p["price"])
        counters = admin.counters()
    return {
        "rate_limit": rate,
        "updates": len(prices),
        "updated": updates.counts["updated"],
        "applied": applied,
        "update_requests": updates.requests,
        "update_seconds": round(updates.duration_s, 2),
        "update_share_of_limit": round(updates.requests / updates.duration_s / rate, 3),
        "creates": creates,
        "created": new.counts["created"],
        "create_requests": new.requests,
        "duplicates": sum(n - 1 for name, n in names.items() if name.startswith("Bench") and n > 1),
        "rerun_unchanged": rerun.counts["unchanged"],
        "rerun_writes": rerun.writes,
        "rerun_requests": rerun.requests,
        "sandbox_429s": counters.get("rate_limited", 0),
    }


def ok(r: dict[str, Any]) -> bool:
    return (
        r["update_share_of_limit"] >= 0.9
        and r["duplicates"] == 0
        and r["applied"] == r["updates"]
        and r["rerun_writes"] == 0
        and r["rerun_unchanged"] == r["updates"]
    )


def describe(r: dict[str, Any]) -> str:
    return (
        f"- object push at {r['rate_limit']:g} req/s: {r['updates']:,} material price updates in "
        f"{r['update_seconds']:.1f} s ({r['update_requests']} requests, **"
        f"{r['update_share_of_limit']:.1%}** of the limit, {r['applied']:,} applied); "
        f"{r['created']} of {r['creates']} creates, {r['duplicates']} duplicates; no-change "
        f"rerun: {r['rerun_unchanged']:,} unchanged, **{r['rerun_writes']} writes** "
        f"({r['rerun_requests']} request(s)); sandbox 429s {r['sandbox_429s']}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_push_objects", description=__doc__)
    p.add_argument("--rate", type=float, default=50.0, help="rate limit, req/s")
    p.add_argument("--materials", type=int, default=1000)
    p.add_argument("--creates", type=int, default=100)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hcp-bench-objects-") as name:
        r = bench_push_objects(a.rate, Path(name), a.materials, a.creates)
    print(describe(r))
    print(json.dumps(r))
    return 0 if ok(r) else 1


if __name__ == "__main__":
    raise SystemExit(main())
