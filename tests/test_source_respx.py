"""The HCP source against a small in-memory HCP behind respx: the read strategies, one by one.

`FakeHCP` answers list endpoints the way HCP does (both envelopes, sorting, paging, the price
book's parent filters) and logs every request, so tests assert on requests made, not on code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb
import httpx
import pytest
import respx

from pipelines.config import Account
from pipelines.sync import sync_account
from sources.housecallpro import housecallpro, local_wall_clock
from sources.housecallpro.client import HCPClient
from sources.housecallpro.figures import ReadTracker
from sources.housecallpro.settings import BY_TABLE, MAX_PAGE_SIZE, OBJECTS
from tests.utils import table_counts

BASE = "https://hcp.test"
KEY = "test-key"
T0 = datetime(2026, 9, 1, tzinfo=UTC)


def ts(minutes: float) -> str:
    return (T0 - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeHCP:
    """Records per table, served with HCP's paging and sorting; `fail` injects errors."""

    def __init__(self, data: dict[str, list[dict[str, Any]]]) -> None:
        self.data = data
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.fail: Callable[[str, dict[str, Any]], httpx.Response | None] | None = None
        self.overstate: dict[str, int] = {}
        """Rows added to the reported total of a path (a listing HCP counts wrong)."""
        self.company = {"id": "co_1", "name": "Fake Plumbing", "time_zone": "America/Chicago"}

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        params: dict[str, Any] = {}
        for k, v in request.url.params.multi_items():
            params.setdefault(k, []).append(v) if k.endswith("[]") else params.__setitem__(k, v)
        self.requests.append((path, params))
        if self.fail is not None:
            injected = self.fail(path, params)
            if injected is not None:
                return injected
        if path == "/company":
            return httpx.Response(200, json=self.company)
        obj = next((o for o in OBJECTS if o.path == path), None)
        if obj is None:
            return httpx.Response(404, json={"error": {"message": "not found"}})
        rows = list(self.data.get(obj.table, []))
        if obj.table == "material_categories":
            rows = [r for r in rows if r.get("parent_uuid") == params.get("parent_uuid")]
        if obj.table == "materials":
            cat = params.get("material_category_uuid")
            rows = [r for r in rows if r["material_category_uuid"] == cat]
        sort_by = params.get("sort_by", "created_at")
        rows.sort(key=lambda r: r.get(sort_by) or "", reverse=params.get("sort_direction") != "asc")
        size = int(params.get(obj.page_size_param, 10))
        page = int(params.get("page", 1))
        chunk = rows[(page - 1) * size : page * size]
        pages = math.ceil(len(rows) / size) if rows else 0
        total = len(rows) + self.overstate.get(path, 0)
        if obj.envelope_key == "data":
            body = {
                "object": "list",
                "page": page,
                "page_size": size,
                "total_pages_count": pages,
                "total_count": total,
                "data": chunk,
            }
        else:
            body = {
                "page": page,
                "page_size": size,
                "total_pages": pages,
                "total_items": total,
                obj.envelope_key: chunk,
            }
        return httpx.Response(200, json=body)


def customers(n: int, *, start: float = 0) -> list[dict[str, Any]]:
    """`n` customers, one minute apart, newest first at `start` minutes before T0."""
    return [
        {
            "id": f"cus_{i:04d}",
            "first_name": f"C{i}",
            "created_at": ts(start + 10_000 + i),
            "updated_at": ts(start + i),
            "tags": ["vip"] if i % 2 else [],
            "addresses": [{"id": f"adr_{i}", "type": "service", "city": "Austin"}],
        }
        for i in range(n)
    ]


def small_dataset() -> dict[str, list[dict[str, Any]]]:
    cats = [
        {"uuid": "pbmcat_root", "parent_uuid": None, "name": "Plumbing", "updated_at": ts(1)},
        {"uuid": "pbmcat_a", "parent_uuid": "pbmcat_root", "name": "Pipes", "updated_at": ts(1)},
        {"uuid": "pbmcat_b", "parent_uuid": "pbmcat_a", "name": "Copper", "updated_at": ts(1)},
        {"uuid": "pbmcat_r2", "parent_uuid": None, "name": "HVAC", "updated_at": ts(1)},
    ]
    mats = [
        {"uuid": f"pbmat_{c['uuid']}_{i}", "material_category_uuid": c["uuid"], "price": 100 * i}
        for c in cats
        for i in range(2)
    ]
    jobs = [
        {
            "id": f"job_{i}",
            "created_at": ts(100 + i),
            "updated_at": ts(i),
            "total_amount": 1000 * i,
            "schedule": {
                "scheduled_start": ts(-60),
                # as HCP sends them (HAE jobs.json): the wall clock with its offset
                "time_zone": "America/New_York",
                "scheduled_start_local": f"2026-06-26T0{6 + i}:45:00-04:00",
                "appointments": [{"id": f"appt_{i}_{k}", "start_time": ts(-60)} for k in range(2)],
            },
        }
        for i in range(3)
    ]
    estimates = [
        {
            "id": f"csr_{i}",
            "created_at": ts(100 + i),
            "updated_at": ts(i),
            "options": [{"id": f"est_{i}", "total_amount": None, "approval_status": None}],
        }
        for i in range(2)
    ]
    return {
        "customers": customers(5),
        "jobs": jobs,
        "estimates": estimates,
        "events": [{"id": "evt_1", "created_at": ts(50), "updated_at": ts(5)}],
        "invoices": [
            {"id": "invoice_1", "job_id": "job_1", "amount": 500, "payments": [{"id": "pmt_1"}]}
        ],
        "leads": [{"id": "lea_1", "status": "open"}],
        "lead_sources": [{"id": "ls_1", "name": "Google"}],
        "employees": [{"id": "pro_1", "first_name": "Pat", "created_at": ts(500)}],
        "tags": [{"id": "tag_1", "name": "vip"}],
        "job_types": [{"id": "jbt_1", "name": "Repair"}],
        "material_categories": cats,
        "materials": mats,
        "price_forms": [{"id": "pbpf_1", "name": "Std"}],
        "services": [{"uuid": "svc_1", "name": "Drain clean", "price": 9900}],
        "service_zones": [{"id": "sz_1", "name": "Central"}],
        "routes": [{"id": "rte_1", "date": "2026-09-01", "job_appointments": [{"id": "appt_0_0"}]}],
    }


@pytest.fixture
def fake() -> FakeHCP:
    hcp = FakeHCP(small_dataset())
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=hcp.handle)
        yield hcp


@pytest.fixture
def account() -> Account:
    return Account("default", KEY, BASE, rate_limit=0, concurrency=4)


def client(**kw: Any) -> HCPClient:
    kw.setdefault("rate_limit", 0)
    kw.setdefault("max_retries", 1)
    kw.setdefault("backoff_base", 0.0)
    return HCPClient(KEY, BASE, **kw)


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# ---------------------------------------------------------------------------- tests


def test_every_object_lands_with_child_tables(fake: FakeHCP, account: Account, tmp_path: Path):
    db = tmp_path / "w.duckdb"
    result = sync_account(account, db)
    assert result.ok, result.message
    got = table_counts(db)
    for obj in OBJECTS:
        expected = 1 if obj.table == "company" else len(fake.data[obj.table])
        assert got[obj.table] == expected, obj.table
    assert got["customers__addresses"] == 5
    assert got["customers__tags"] == 2
    assert got["jobs__schedule__appointments"] == 6
    assert got["estimates__options"] == 2
    assert got["invoices__payments"] == 1
    # jobs asked HCP for their appointments with the array encoding
    assert any(p == "/jobs" and q.get("expand[]") == ["appointments"] for p, q in fake.requests)
    # company came from the key check: one request for both
    assert fake.count("/company") == 1
    # HCP answers a page_size over its cap with 400: no read ever asks for more
    sizes = [int(q[k]) for _, q in fake.requests for k in ("page_size", "per_page") if k in q]
    assert sizes and max(sizes) <= MAX_PAGE_SIZE


def test_types_timestamps_and_cents(fake: FakeHCP, account: Account, tmp_path: Path):
    db = tmp_path / "w.duckdb"
    assert sync_account(account, db).ok
    types = dict(
        query(
            db,
            "select table_name || '.' || column_name, data_type from information_schema.columns "
            "where table_schema='hcp'",
        )
    )
    assert types["customers.updated_at"].startswith("TIMESTAMP")
    assert types["jobs.schedule__scheduled_start"].startswith("TIMESTAMP")
    assert types["jobs.total_amount"] == "BIGINT"
    assert types["customers.id"] == "VARCHAR"
    # all-null in the first batch, still typed from the hints
    assert types["estimates__options.total_amount"] == "BIGINT"
    assert types["materials.price"] == "BIGINT"


def test_a_warehouse_with_utc_local_times_is_migrated_to_the_wall_clock(
    fake: FakeHCP, account: Account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """`scheduled_start_local` is HCP's local time of day (06:45 booked in New York): loaded as
    sent it became the UTC instant (10:45, the same as `scheduled_start`). An older version's
    warehouse holds such rows; the next sync turns them into the wall clock (via
    `schedule__time_zone`), so old and new rows agree, and a later sync leaves them be."""
    import sources.housecallpro as source

    db = tmp_path / "w.duckdb"
    with monkeypatch.context() as old:  # the older version: no hint, offsets kept
        old.setattr(source, "local_wall_clock", lambda row: None)
        for key in ("schedule__scheduled_start_local", "schedule__scheduled_end_local"):
            old.delitem(BY_TABLE["jobs"].columns, key)
        assert sync_account(account, db, objects="jobs").ok
    before = query(db, "select typeof(schedule__scheduled_start_local) from hcp.jobs limit 1")
    assert before == [("TIMESTAMP WITH TIME ZONE",)]
    for _ in range(2):  # the migration, then a sync with nothing left to migrate
        assert sync_account(account, db, objects="jobs").ok
        rows = query(
            db,
            "select schedule__scheduled_start_local, typeof(schedule__scheduled_start_local), "
            "schedule__time_zone from hcp.jobs order by id",
        )
        assert [str(r[0]) for r in rows] == [f"2026-06-26 0{6 + i}:45:00" for i in range(3)]
        assert rows[0][1:] == ("TIMESTAMP", "America/New_York")


def test_local_wall_clock_drops_only_the_offset() -> None:
    row = {
        "schedule": {
            "scheduled_start_local": "2026-06-26T06:45:00-04:00",
            "scheduled_end_local": "not a time",
            "scheduled_start": "2026-06-26T10:45:00Z",
        }
    }
    local_wall_clock(row)
    assert row["schedule"] == {
        "scheduled_start_local": "2026-06-26T06:45:00",
        "scheduled_end_local": "not a time",
        "scheduled_start": "2026-06-26T10:45:00Z",
    }


def test_category_walk_reads_every_level_and_materials_per_category(
    fake: FakeHCP, account: Account, tmp_path: Path
):
    db = tmp_path / "w.duckdb"
    result = sync_account(account, db, objects="material_categories,materials")
    assert result.ok, result.message
    path = BY_TABLE["material_categories"].path
    parents = sorted(q.get("parent_uuid", "<root>") for p, q in fake.requests if p == path)
    # root level, then one listing per category (leaves answer empty)
    assert parents == ["<root>", "pbmcat_a", "pbmcat_b", "pbmcat_r2", "pbmcat_root"]
    mpath = BY_TABLE["materials"].path
    cats = sorted(q["material_category_uuid"] for p, q in fake.requests if p == mpath)
    assert cats == ["pbmcat_a", "pbmcat_b", "pbmcat_r2", "pbmcat_root"]
    assert table_counts(db)["materials"] == 8
    assert result.objects["materials"].requests == 4
    assert result.objects["material_categories"].requests == 5


def test_desc_early_stop_one_request_when_nothing_changed(
    fake: FakeHCP, account: Account, tmp_path: Path
):
    fake.data["customers"] = customers(450)  # 3 pages of 200
    db = tmp_path / "w.duckdb"
    first = sync_account(account, db, objects="customers")
    assert first.ok and table_counts(db)["customers"] == 450
    assert first.objects["customers"].requests == 3
    fake.requests.clear()
    again = sync_account(account, db, objects="customers")
    assert again.ok
    assert fake.count("/customers") == 1  # page 1 is older than the cursor: stop
    assert again.objects["customers"].rows == 200  # rows seen on that page
    assert table_counts(db)["customers"] == 450
    _, params = next(r for r in fake.requests if r[0] == "/customers")
    assert params["sort_by"] == "updated_at" and params["sort_direction"] == "desc"


def test_changed_rows_deep_in_the_list_are_reached_and_merged(
    fake: FakeHCP, account: Account, tmp_path: Path
):
    fake.data["customers"] = customers(450)
    db = tmp_path / "w.duckdb"
    assert sync_account(account, db, objects="customers").ok
    # 250 customers change after the first run: they move to the top of the desc order
    for row in fake.data["customers"][100:350]:
        row["updated_at"] = ts(-5)
        row["first_name"] = "Changed"
    fake.requests.clear()
    assert sync_account(account, db, objects="customers").ok
    # 250 changed rows fill page 1 and part of page 2, whose oldest row is older: stop there
    assert fake.count("/customers") == 2
    assert table_counts(db)["customers"] == 450
    assert query(db, "select count(*) from hcp.customers where first_name='Changed'") == [(250,)]


def test_lookback_rereads_rows_written_just_before_the_cursor(
    fake: FakeHCP, account: Account, tmp_path: Path
):
    fake.data["customers"] = customers(10)
    db = tmp_path / "w.duckdb"
    assert sync_account(account, db, objects="customers", lookback_s=120).ok
    # a row saved in the same second as the cursor but committed after our read: same
    # updated_at as the newest one, so only a lookback brings it in
    late = customers(1)[0] | {"id": "cus_late", "updated_at": ts(0)}
    fake.data["customers"].append(late)
    # and one just older than the lookback: a real change would have a newer timestamp
    fake.data["customers"].append(customers(1)[0] | {"id": "cus_old", "updated_at": ts(3)})
    assert sync_account(account, db, objects="customers", lookback_s=120).ok
    ids = {r[0] for r in query(db, "select id from hcp.customers")}
    assert "cus_late" in ids
    assert "cus_old" not in ids


def test_failed_read_keeps_its_cursor_and_a_rerun_finishes(
    fake: FakeHCP, account: Account, tmp_path: Path
):
    fake.data["customers"] = customers(450)
    db = tmp_path / "w.duckdb"

    def page3_fails(path: str, params: dict[str, Any]) -> httpx.Response | None:
        if path == "/customers" and params.get("page") == "3":
            return httpx.Response(503, json={"error": {"message": "down"}})
        return None

    fake.fail = page3_fails
    first = sync_account(account, db, objects="customers,tags", max_retries=1)
    assert not first.ok and first.exit_code == 1
    assert first.objects["customers"].status == "failed"
    assert first.objects["tags"].status == "ok"
    got = table_counts(db)
    assert got["tags"] == 1  # the object that succeeded is loaded
    assert got["customers"] == 400  # what was read is loaded too, harmlessly
    fake.fail = None
    second = sync_account(account, db, objects="customers")
    assert second.ok
    # the cursor did not move: the rerun reads from the start again and lands the rest
    assert second.objects["customers"].mode == "full"
    assert table_counts(db)["customers"] == 450


def test_a_read_short_of_total_items_fails_keeps_its_cursor_and_flags_nothing(
    fake: FakeHCP, account: Account, tmp_path: Path
):
    fake.data["customers"] = customers(450)
    fake.data["tags"] = [{"id": f"tag_{i}", "name": f"t{i}"} for i in range(3)]
    db, pdir = tmp_path / "w.duckdb", tmp_path / "dlt"
    kw: dict[str, Any] = {"objects": "customers,tags", "pipelines_dir": pdir}
    assert sync_account(account, db, **kw).ok

    def cursor() -> str:
        pipeline = dlt.pipeline("hcp_default", pipelines_dir=str(pdir))
        state = pipeline.state["sources"]["housecallpro"]["resources"]["customers"]
        return state["incremental"]["updated_at"]["last_value"]

    saved = cursor()
    fake.data["customers"].append(customers(1)[0] | {"id": "cus_new", "updated_at": ts(-10)})
    del fake.data["tags"][0]  # gone in HCP: a complete read would flag it
    fake.overstate = {"/customers": 1, "/tags": 1}  # HCP's totals say one row more than served
    failed = sync_account(account, db, full_refresh=True, **kw)
    assert not failed.ok
    for table, rows in (("customers", 451), ("tags", 2)):
        fig = failed.objects[table]
        assert fig.status == "failed"
        assert fig.error == (
            f"GET /{table}: incomplete read: read {rows} rows but total_items says {rows + 1}"
        )
    assert cursor() == saved  # not moved past rows it may have missed
    assert failed.deleted == {}
    assert query(db, "select count(*) from hcp.tags where _hcp_deleted_at is not null") == [(0,)]

    fake.overstate = {}
    again = sync_account(account, db, **kw)
    assert again.ok, again.message
    assert again.deleted == {"tags": 1}
    assert cursor() == ts(-10)


def test_app_key_only_objects_skipped_on_403(fake: FakeHCP, account: Account, tmp_path: Path):
    app_only = {o.path for o in OBJECTS if o.app_key_only}

    def company_key(path: str, params: dict[str, Any]) -> httpx.Response | None:
        if path in app_only:
            return httpx.Response(403, json={"error": {"message": "Permission denied"}})
        return None

    fake.fail = company_key
    db = tmp_path / "w.duckdb"
    result = sync_account(account, db)
    assert result.ok, result.message
    assert {o.table for o in result.skipped} == {"routes", "service_zones", "services"}
    got = table_counts(db)
    assert "routes" not in got and got["customers"] == 5


def test_403_on_a_regular_object_fails_it(fake: FakeHCP, account: Account, tmp_path: Path):
    fake.fail = lambda path, params: (
        httpx.Response(403, json={"error": {"message": "Permission denied"}})
        if path == "/invoices"
        else None
    )
    result = sync_account(account, tmp_path / "w.duckdb", objects="invoices,tags")
    assert not result.ok
    assert result.objects["invoices"].status == "failed"
    assert "invoices" in result.message


def test_bad_key_stops_before_any_read(fake: FakeHCP, account: Account, tmp_path: Path):
    fake.fail = lambda path, params: httpx.Response(
        401, json={"error": {"message": "Unauthorized"}}
    )
    result = sync_account(account, tmp_path / "w.duckdb")
    assert not result.ok and result.exit_code == 2
    assert "401" in result.message
    assert len(fake.requests) == 1


def test_full_refresh_rereads_and_keeps_tables(fake: FakeHCP, account: Account, tmp_path: Path):
    fake.data["customers"] = customers(450)
    db = tmp_path / "w.duckdb"
    assert sync_account(account, db, objects="customers").ok
    fake.requests.clear()
    result = sync_account(account, db, objects="customers", full_refresh=True)
    assert result.ok and result.objects["customers"].mode == "full"
    assert fake.count("/customers") == 3
    assert table_counts(db)["customers"] == 450
    fake.requests.clear()
    # the cursor still sits at the newest row: the next run is incremental again
    assert sync_account(account, db, objects="customers").objects["customers"].requests == 1


def test_estimates_full_read_when_the_last_one_is_old(
    fake: FakeHCP, account: Account, tmp_path: Path
):
    db = tmp_path / "w.duckdb"
    fake.data["estimates"][1]["updated_at"] = ts(30)  # well behind the cursor and lookback
    assert sync_account(account, db, objects="estimates").ok
    # an option approval: HCP does not bump the estimate's updated_at
    fake.data["estimates"][1]["options"][0]["approval_status"] = "approved"
    quick = sync_account(account, db, objects="estimates")
    assert quick.objects["estimates"].mode == "incremental"
    assert query(
        db, "select count(*) from hcp.estimates__options where approval_status='approved'"
    ) == [(0,)]
    full = sync_account(account, db, objects="estimates", estimates_full_read_every_s=1e-9)
    assert full.objects["estimates"].mode == "full"
    assert query(
        db, "select count(*) from hcp.estimates__options where approval_status='approved'"
    ) == [(1,)]
    assert table_counts(db)["estimates__options"] == 2  # replaced in place, not appended


def test_source_runs_standalone_with_dlt(fake: FakeHCP, tmp_path: Path):
    """The source is a plain dlt source: usable without `pipelines.sync`."""
    tracker = ReadTracker()
    pipeline = dlt.pipeline(
        "standalone",
        destination=dlt.destinations.duckdb(str(tmp_path / "s.duckdb")),
        dataset_name="hcp",
        pipelines_dir=str(tmp_path / "dlt"),
    )
    source = housecallpro(api_key=KEY, base_url=BASE, rate_limit=0, tracker=tracker)
    pipeline.run(source.with_resources("tags", "company"))
    assert table_counts(tmp_path / "s.duckdb") == {"tags": 1, "company": 1}
    assert tracker.figures["tags"].status == "ok"


def test_sync_and_standalone_source_share_schema_and_cursors(
    fake: FakeHCP, account: Account, tmp_path: Path
):
    """The sync's client-built source is the `housecallpro` source: one schema name, one state
    layout, so a warehouse synced by either is read on incrementally by the other."""
    fake.data["customers"] = customers(450)
    db, pdir = tmp_path / "w.duckdb", tmp_path / "dlt"
    first = sync_account(account, db, objects="customers", pipelines_dir=pdir)
    assert first.ok, first.message
    pipeline = dlt.pipeline(
        "hcp_default",
        destination=dlt.destinations.duckdb(str(db)),
        dataset_name="hcp",
        pipelines_dir=str(pdir),
    )
    assert pipeline.default_schema_name == "housecallpro"
    state = pipeline.state["sources"]["housecallpro"]["resources"]["customers"]
    cursor = state["incremental"]["updated_at"]["last_value"]
    assert cursor == max(c["updated_at"] for c in fake.data["customers"])
    fake.requests.clear()
    source = housecallpro(api_key=KEY, base_url=BASE, rate_limit=0)
    pipeline.run(source.with_resources("customers"))
    assert fake.count("/customers") == 1  # the sync's cursor, picked up by the standalone source
    fake.requests.clear()
    again = sync_account(account, db, objects="customers", pipelines_dir=pdir)
    assert again.ok and fake.count("/customers") == 1
    assert table_counts(db)["customers"] == 450
