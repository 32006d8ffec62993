"""The object push against a scripted HCP (respx): each object's outcomes, bad input, lost answers,
the diff before an update, and 401/403 stopping the run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import respx

from pipelines.config import Account
from pipelines.push.mapping import InvalidRow, build_request
from pipelines.push.objects import OBJECTS
from pipelines.push.run import push_objects
from pipelines.push.stage import stage
from sources.housecallpro.client import HCPClient

BASE = "https://hcp.test"
KEY = "objects_SECRET_key_0123456789"
ENVELOPES = {o.path: (o.list_envelope, o.id_field) for o in OBJECTS.values()}


class FakeHCP:
    """Lists, creates and updates for every object path, with scripted answers per write."""

    def __init__(self) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {p: [] for p in ENVELOPES}
        self.script: list[Any] = []  # answers for the next writes: int status or "lost"
        self.writes: list[tuple[str, str, dict[str, Any]]] = []
        self.company_status = 200

    def add(self, path: str, **rec: Any) -> dict[str, Any]:
        _, id_field = ENVELOPES[path]
        rec.setdefault(id_field, f"{path.rsplit('/', 1)[-1][:3]}_{len(self.records[path]) + 1}")
        self.records[path].append(rec)
        return rec

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/company":
            return httpx.Response(self.company_status, json={"id": "co_1", "name": "Shop"})
        base, _, rid = path.rpartition("/")
        if path in ENVELOPES:
            base, rid = path, ""
        envelope, id_field = ENVELOPES[base]
        if request.method == "GET":
            items = self.records[base]
            for k, v in request.url.params.items():
                if k not in ("page", "page_size"):
                    items = [
                        i
                        for i in items
                        if str(i.get(k) or (i.get("customer") or {}).get("id")) == v
                    ]
            body = {"page": 1, "page_size": 200, "total_pages": 1, "total_items": len(items)}
            return httpx.Response(200, json={**body, envelope: items})
        payload = json.loads(request.content or b"{}")
        self.writes.append((request.method, path, payload))
        answer = self.script.pop(0) if self.script else None
        if answer == "taken":
            self.add(base, **payload)
            answer = 422
        if isinstance(answer, int):
            bodies = {
                404: {"error": {"message": "not found"}},
                422: {"error": {"message": "Name has already been taken"}},
            }
            return httpx.Response(answer, json=bodies.get(answer, {"error": {"message": "boom"}}))
        if request.method == "POST":
            if base == "/leads":
                cid = payload.get("customer_id")
                rec = self.add(base, customer={"id": cid}, lead_source=payload.get("lead_source"))
            else:
                rec = self.add(base, **{**payload, **dict(request.url.params)})
        else:
            found = [r for r in self.records[base] if r[id_field] == rid]
            if not found:
                return httpx.Response(404, json={"error": {"message": "not found"}})
            found[0].update(payload)
            rec = found[0]
        if answer == "lost":
            raise httpx.RemoteProtocolError("Server disconnected", request=request)
        return httpx.Response(200 if base != "/tags" else 201, json=rec)


@pytest.fixture
def hcp() -> FakeHCP:
    fake = FakeHCP()
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        mock.route(url__regex=re.escape(BASE) + r"/.*").mock(side_effect=fake.handle)
        yield fake


def _push(db: Path, obj: str, rows: list[dict[str, Any]], **kw: Any) -> Any:
    with duckdb.connect(str(db)) as con:
        stage(con, obj, rows)
    client = HCPClient(KEY, BASE, rate_limit=0, sleep=lambda _s: None, max_retries=1)
    return push_objects(obj, Account("default", KEY, BASE), db_path=db, client=client, **kw)


def _rows(db: Path, obj: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(db)) as con:
        cur = con.execute(
            "SELECT row_key, status, hcp_id, error_reason, attempts FROM staging.push_rows "
            "WHERE object = ? ORDER BY row_key",
            [obj],
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"colour": "red", "name": "x"}, "unknown field 'colour' for materials"),
        ({"uuid": "m1", "price": "abc"}, "price 'abc' is not a number"),
        ({"uuid": "m1", "price": "12.5"}, "price '12.5' is not a whole number of cents"),
        ({"name": "Pipe", "price": 1, "cost": 1}, "material_category_uuid required"),
        ({"uuid": "m1", "material_category_uuid": "c2"}, "cannot be changed by an update"),
    ],
)
def test_bad_material_rows_are_refused_with_the_reason(fields: dict[str, Any], reason: str) -> None:
    target = fields.pop("uuid", None)
    with pytest.raises(InvalidRow) as err:
        build_request("materials", "update" if target else "create", target, fields)
    assert reason in err.value.reason


def test_dollars_become_cents_and_unknown_operations_are_refused() -> None:
    req = build_request("materials", "update", "m1", {"price_dollars": "$12.50", "cost": "400"})
    assert (req.method, req.path, req.body) == (
        "PUT",
        "/api/price_book/materials/m1",
        {"price": 1250, "cost": 400},
    )
    with pytest.raises(InvalidRow, match="tags cannot 'update'"):
        build_request("tags", "update", "t1", {"name": "x"})
    with pytest.raises(InvalidRow, match="unknown object 'widgets'"):
        build_request("widgets", "create", None, {"name": "x"})


CREATES = [
    ("tags", "/tags", {"name": "VIP"}),
    ("job_types", "/job_fields/job_types", {"name": "Tune-up"}),
    ("lead_sources", "/lead_sources", {"name": "Yard sign"}),
    (
        "material_categories",
        "/api/price_book/material_categories",
        {"name": "Valves", "parent_uuid": "cat_root"},
    ),
    (
        "materials",
        "/api/price_book/materials",
        {"material_category_uuid": "cat_1", "name": "Ball valve", "price": 1200, "cost": 600},
    ),
    (
        "price_forms",
        "/api/price_book/price_forms",
        {"name": "Drain clean", "duration_in_minutes": 90},
    ),
    ("leads", "/leads", {"customer_id": "cus_1", "lead_source": "Website", "note": "call back"}),
]


@pytest.mark.parametrize(("obj", "path", "fields"), CREATES, ids=[c[0] for c in CREATES])
def test_a_create_whose_answer_is_lost_exists_once(
    hcp: FakeHCP, tmp_path: Path, obj: str, path: str, fields: dict[str, Any]
) -> None:
    hcp.script = ["lost"]
    r = _push(tmp_path / "w.duckdb", obj, [{"key": "k1", **fields}])
    assert len(hcp.records[path]) == 1, "created exactly once"
    assert [w[0] for w in hcp.writes] == ["POST"], "looked up by natural key, not sent again"
    (row,) = _rows(tmp_path / "w.duckdb", obj)
    assert (
        row["status"] == "created" and row["hcp_id"] == hcp.records[path][0][OBJECTS[obj].id_field]
    )
    assert r.counts["reconciled"] == 1


def test_a_material_post_carries_its_category_as_query_and_body(
    hcp: FakeHCP, tmp_path: Path
) -> None:
    _push(tmp_path / "w.duckdb", "materials", [{"key": "k", **CREATES[4][2]}])
    ((method, path, body),) = hcp.writes
    assert (
        body["material_category_uuid"] == "cat_1"
        and hcp.records[path][0]["material_category_uuid"] == "cat_1"
    )


def test_a_create_hcp_already_has_is_linked_not_duplicated(hcp: FakeHCP, tmp_path: Path) -> None:
    hcp.add("/tags", id="tag_vip", name="vip ")
    _push(tmp_path / "w.duckdb", "tags", [{"key": "a", "name": "VIP"}, {"key": "b", "name": "New"}])
    assert [r["status"] for r in _rows(tmp_path / "w.duckdb", "tags")] == ["linked", "created"]
    assert [w[2] for w in hcp.writes] == [{"name": "New"}]


def test_a_name_taken_meanwhile_is_linked_after_a_fresh_lookup(
    hcp: FakeHCP, tmp_path: Path
) -> None:
    hcp.script = ["taken"]  # someone creates "Install" between our listing and our POST: a 422
    db = tmp_path / "w.duckdb"
    _push(db, "job_types", [{"key": "k", "name": "Install"}])
    (row,) = _rows(db, "job_types")
    assert (row["status"], row["hcp_id"]) == (
        "linked",
        hcp.records["/job_fields/job_types"][0]["id"],
    )
    assert len(hcp.records["/job_fields/job_types"]) == 1


def test_an_unknown_uuid_fails_permanently_and_the_rest_proceed(
    hcp: FakeHCP, tmp_path: Path
) -> None:
    hcp.add("/api/price_book/materials", uuid="m1", name="Pipe", price=100, cost=50)
    hcp.script = [None, 404]
    _push(
        tmp_path / "w.duckdb",
        "materials",
        [{"key": "a", "uuid": "m1", "price": 150}, {"key": "b", "uuid": "m404", "price": 1}],
    )
    a, b = _rows(tmp_path / "w.duckdb", "materials")
    assert a["status"] == "updated" and hcp.records["/api/price_book/materials"][0]["price"] == 150
    assert b["status"] == "failed_permanent" and "HCP has no material 'm404'" in b["error_reason"]


def test_a_missing_category_on_create_fails_permanently(hcp: FakeHCP, tmp_path: Path) -> None:
    hcp.script = [404]
    _push(
        tmp_path / "w.duckdb",
        "materials",
        [{"key": "a", "material_category_uuid": "nope", "name": "X", "price": 1, "cost": 1}],
    )
    (row,) = _rows(tmp_path / "w.duckdb", "materials")
    assert (
        row["status"] == "failed_permanent"
        and "HCP has no material category 'nope'" in row["error_reason"]
    )


def _raw_materials(db: Path, rows: list[tuple[str, int]]) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE SCHEMA hcp")
        con.execute(
            "CREATE TABLE hcp.materials (account VARCHAR, uuid VARCHAR, price BIGINT, cost BIGINT, name VARCHAR, _hcp_deleted_at TIMESTAMPTZ)"
        )
        con.executemany("INSERT INTO hcp.materials VALUES ('default', ?, ?, 10, 'x', NULL)", rows)


def test_an_update_the_raw_table_already_has_sends_nothing(hcp: FakeHCP, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    _raw_materials(db, [("m1", 100), ("m2", 200)])
    hcp.add("/api/price_book/materials", uuid="m2", price=200)
    r = _push(
        db,
        "materials",
        [
            {"key": "a", "uuid": "m1", "price": "100", "cost": 10},
            {"key": "b", "uuid": "m2", "price": 250},
        ],
    )
    assert [x["status"] for x in _rows(db, "materials")] == ["unchanged", "updated"]
    assert [w[1] for w in hcp.writes] == ["/api/price_book/materials/m2"]
    assert (r.counts["unchanged"], r.writes) == (1, 1)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_stops_the_run_and_rows_stay_pending(
    hcp: FakeHCP, tmp_path: Path, status: int
) -> None:
    # a refused key is refused on every request, including writes already in flight on the
    # other sender threads (one refusal followed by successes would be a race, not HCP)
    hcp.script = [status] * 5
    r = _push(tmp_path / "w.duckdb", "tags", [{"key": f"k{i}", "name": f"T{i}"} for i in range(5)])
    assert r.status == "stopped" and r.exit_code == (2 if status == 401 else 3)
    rows = _rows(tmp_path / "w.duckdb", "tags")
    assert {x["status"] for x in rows} == {"pending"} and all(x["attempts"] == 0 for x in rows)
    assert KEY not in json.dumps(r.as_dict())


def test_rows_naming_an_unknown_object_fail_and_others_proceed(
    hcp: FakeHCP, tmp_path: Path
) -> None:
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        stage(con, "tags", [{"key": "ok", "name": "Fine"}])
        con.execute(
            "INSERT INTO staging.push_rows (object, row_key, operation, fields) VALUES ('widgets', 'w', 'create', '{}')"
        )
    client = HCPClient(KEY, BASE, rate_limit=0, sleep=lambda _s: None)
    push_objects("tags", Account("default", KEY, BASE), db_path=db, client=client)
    with duckdb.connect(str(db)) as con:
        got = dict(
            con.execute(
                "SELECT object, status || ': ' || coalesce(error_reason, '') FROM staging.push_rows"
            ).fetchall()
        )
    assert got == {
        "tags": "created: ",
        "widgets": "failed_permanent: unknown object 'widgets' (known: tags, job_types, lead_sources, material_categories, materials, price_forms, customers, leads)",
    }


def test_customer_update_and_embedded_customer_lead(hcp: FakeHCP, tmp_path: Path) -> None:
    hcp.add("/customers", id="cus_9", email="ann@x.io", first_name="Ann", tags=[])
    _push(
        tmp_path / "w.duckdb",
        "customers",
        [{"key": "c", "id": "cus_9", "tags": "maintenance due|vip", "notes": "plan due"}],
    )
    assert hcp.writes[-1] == (
        "PUT",
        "/customers/cus_9",
        {"tags": ["maintenance due", "vip"], "notes": "plan due"},
    )
    req = build_request(
        "leads",
        "create",
        None,
        {"customer_email": "bob@x.io", "customer_first_name": "Bob", "lead_source": "Web"},
    )
    assert req.body == {
        "lead_source": "Web",
        "customer": {"email": "bob@x.io", "first_name": "Bob"},
    }


def test_a_fixed_row_staged_again_under_its_key_replaces_the_failed_one(
    hcp: FakeHCP, tmp_path: Path
) -> None:
    db = tmp_path / "w.duckdb"
    hcp.add("/api/price_book/materials", uuid="m1", price=100)
    with duckdb.connect(str(db)) as con:
        first = stage(con, "materials", [{"key": "q3-1", "uuid": "m1", "price_dollars": "call us"}])
        again = stage(con, "materials", [{"key": "q3-1", "uuid": "m1", "price_dollars": "1.25"}])
        same = stage(con, "materials", [{"key": "q3-1", "uuid": "m1", "price_dollars": "9.99"}])
    assert (first.inserted, again.restaged, same.already_staged) == (1, 1, 1)
    _push(db, "materials", [])
    assert _rows(db, "materials")[0]["status"] == "updated"
    assert hcp.records["/api/price_book/materials"][0]["price"] == 125
