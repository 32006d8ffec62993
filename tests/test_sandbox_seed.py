"""The seeded shop: deterministic, realistic where the warehouse cares, and fast to build."""

from __future__ import annotations

import json
import re
import time
from collections import Counter

import pytest

from sandbox.seed import build_dataset
from sandbox.settings import SandboxSettings
from sandbox.store import Store
from tests.plugins.sandbox_fixtures import sandbox_dataset

TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


@pytest.fixture(scope="module")
def data():
    return sandbox_dataset(SandboxSettings())


def test_same_seed_same_bytes_other_seed_other_data() -> None:
    a = json.dumps(build_dataset(SandboxSettings(seed=3, scale=0.3)).records)
    b = json.dumps(build_dataset(SandboxSettings(seed=3, scale=0.3)).records)
    c = json.dumps(build_dataset(SandboxSettings(seed=4, scale=0.3)).records)
    assert a == b and a != c


def test_runtime_ids_are_deterministic_too() -> None:
    s = SandboxSettings(scale=0.1)
    ds = sandbox_dataset(s)
    ids = [Store(s, ds).add("tags", {"name": "x"})["id"] for _ in range(2)]
    assert ids[0] == ids[1]


def test_small_shop_sizes(data) -> None:
    n = {k: len(v) for k, v in data.records.items()}
    assert n["customers"] == 400 and n["jobs"] == 3000
    # ~2400 billed jobs, 60% of them with a deposit and a final invoice
    assert 3300 < n["invoices"] < 4300 and n["estimates"] == 800 and n["leads"] == 600
    for small in (
        "employees",
        "tags",
        "job_types",
        "events",
        "materials",
        "material_categories",
        "price_forms",
        "services",
        "service_zones",
        "routes",
        "lead_sources",
    ):
        assert n[small] > 0, small


def test_lead_sources_are_skewed_messy_and_sometimes_missing(data) -> None:
    sources = Counter(c["lead_source"] for c in data.records["customers"])
    missing = sources[None] / 400
    assert 0.09 < missing < 0.22
    assert sources.most_common(2)[0][0] in ("Google", None)
    variants = {"google", "Google Ads", "GMB", " Google "}
    assert variants & set(sources), sources
    picklist = {ls["name"] for ls in data.records["lead_sources"]}
    assert {s for s in sources if s} <= picklist


def test_emails_are_unique_so_the_duplicate_rule_never_trips_on_seed(data) -> None:
    emails = [c["email"].lower() for c in data.records["customers"] if c["email"]]
    assert len(emails) == len(set(emails))


def test_timestamps_are_rfc3339_utc_and_before_the_anchor(data) -> None:
    anchor = SandboxSettings().anchor
    for obj in ("customers", "jobs", "estimates", "events"):
        for r in data.records[obj]:
            assert TS.match(r["created_at"]) and TS.match(r["updated_at"]), r["id"]
            assert r["created_at"] <= r["updated_at"] <= anchor
    oldest = min(j["created_at"] for j in data.records["jobs"])
    assert oldest < "2025-04-01"  # ~18 months of history


def test_shapes_the_warehouse_relies_on(data) -> None:
    jobs, invoices, leads = data.records["jobs"], data.records["invoices"], data.records["leads"]
    statuses = Counter(j["work_status"] for j in jobs)
    assert {
        "complete rated",
        "complete unrated",
        "scheduled",
        "pro canceled",
        "needs scheduling",
    } <= set(statuses)
    assert any(j["deleted_at"] for j in jobs) and any(j["canceled_at"] for j in jobs)
    assert all(isinstance(j["total_amount"], int) for j in jobs)
    assert all("created_at" not in lead and "updated_at" not in lead for lead in leads)
    assert all("updated_at" not in i and "created_at" not in i for i in invoices)
    payments = [p for i in invoices for p in i["payments"]]
    assert {"succeeded", "paid"} <= {p["status"] for p in payments}
    assert any(p["category"] == "refund" for p in payments)
    assert any(i["discounts"] for i in invoices)
    options = [o for e in data.records["estimates"] for o in e["options"]]
    assert {"approved", "declined", "awaiting response"} <= {o["approval_status"] for o in options}
    assert any(j["original_estimate_id"] for j in jobs)
    assert all(j["id"].startswith("job_") and len(j["id"]) == 36 for j in jobs)
    assert data.company["time_zone"] == "America/Chicago"


def test_deposit_and_final_invoices_repeat_the_jobs_subtotal_and_discounts(data) -> None:
    """Live HCP (issue 20): most jobs have a deposit and a final invoice, each repeating the
    job's subtotal and discounts[]; together they bill the job's total once."""
    jobs = {j["id"]: j for j in data.records["jobs"]}
    by_job: dict[str, list[dict]] = {}
    for inv in data.records["invoices"]:
        by_job.setdefault(inv["job_id"], []).append(inv)
    pairs = [v for v in by_job.values() if len(v) == 2]
    assert 0.5 < len(pairs) / len(by_job) < 0.7
    assert all(len(v) <= 2 for v in by_job.values())
    assert any(dep["discounts"] for dep, _ in pairs)
    ids = [i["id"] for i in data.records["invoices"]]
    numbers = [i["invoice_number"] for i in data.records["invoices"]]
    assert len(set(ids)) == len(ids) and len(set(numbers)) == len(numbers)
    for dep, final in pairs:
        job = jobs[dep["job_id"]]
        assert dep["invoice_date"] < final["invoice_date"] and dep["status"] == "paid"
        assert dep["invoice_number"] == job["invoice_number"] + "-1"
        assert final["invoice_number"] == job["invoice_number"] + "-2"
        assert dep["subtotal"] == final["subtotal"] == job["subtotal"]
        assert [(d["name"], d["amount"]) for d in dep["discounts"]] == [
            (d["name"], d["amount"]) for d in final["discounts"]
        ]
        billed = final["subtotal"] - sum(d["amount"] for d in final["discounts"])
        billed += sum(t["amount"] for t in final["taxes"])
        assert 0 < dep["amount"] < billed and dep["amount"] + final["amount"] == billed
        assert [p["amount"] for p in dep["payments"]] == [dep["amount"]]
        if final["status"] == "paid" and not any(
            p["category"] == "refund" for p in final["payments"]
        ):
            collected = sum(
                p["amount"]
                for inv in (dep, final)
                for p in inv["payments"]
                if p["status"] in ("succeeded", "paid")
            )
            assert collected == billed


def test_price_book_is_nested_two_to_three_levels(data) -> None:
    cats = {c["uuid"]: c for c in data.records["material_categories"]}

    def depth(c) -> int:
        return 1 if c["parent_uuid"] is None else 1 + depth(cats[c["parent_uuid"]])

    assert max(depth(c) for c in cats.values()) == 3
    assert {m["material_category_uuid"] for m in data.records["materials"]} <= set(cats)


@pytest.mark.slow
def test_scale_ten_is_ten_times_the_big_objects_and_fast() -> None:
    start = time.perf_counter()
    big = build_dataset(SandboxSettings(scale=10))
    elapsed = time.perf_counter() - start
    # ~4 s on an idle 2-core box; the bound only catches a super-linear regression on busy CI
    assert elapsed < 20, f"scale 10 took {elapsed:.1f}s"
    assert len(big.records["customers"]) == 4000 and len(big.records["jobs"]) == 30000
    assert len(big.records["employees"]) == 12
    store = Store(SandboxSettings(scale=10), big)
    start = time.perf_counter()
    rows = store.sorted_asc("jobs", "updated_at", ("updated_at",))
    cold = time.perf_counter() - start
    start = time.perf_counter()
    store.sorted_asc("jobs", "updated_at", ("updated_at",))
    assert time.perf_counter() - start < 0.01 and cold < 2 and len(rows) == 30000
