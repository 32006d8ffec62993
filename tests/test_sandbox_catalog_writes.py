"""The sandbox's catalogue writes (HCP_API.md §6, the spec): statuses, validation, 404s for unknown
ids and uuids, duplicate names, and the `lost` fault on them."""

from __future__ import annotations

import httpx
import pytest

from sandbox.server import SandboxHandle

BOOK = "/api/price_book"


@pytest.fixture
def http(sandbox: SandboxHandle) -> httpx.Client:
    return sandbox.client()


def test_creates_answer_as_the_spec_says(sandbox: SandboxHandle, http: httpx.Client) -> None:
    store = sandbox.state.store
    category = store.all("material_categories")[0]["uuid"]
    jt = http.post("/job_fields/job_types", json={"name": "Sandbox type"})
    assert jt.status_code == 200 and jt.json()["id"].startswith("jbt_")
    cat = http.post(
        f"{BOOK}/material_categories", json={"name": "Sandbox valves", "parent_uuid": category}
    )
    assert cat.status_code == 200 and cat.json()["parent_uuid"] == category
    mat = http.post(
        f"{BOOK}/materials",
        params={"material_category_uuid": cat.json()["uuid"]},
        json={"name": "Ball valve", "price": 1200, "cost": 600},
    )
    assert mat.status_code == 200 and mat.json()["material_category_name"] == "Sandbox valves"
    assert store.get("materials", mat.json()["uuid"])["price"] == 1200
    form = http.post(f"{BOOK}/price_forms", json={"name": "Drain clean", "duration_in_minutes": 90})
    assert form.status_code == 200 and form.json()["duration_in_minutes"] == 90


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        (
            "POST",
            f"{BOOK}/materials?material_category_uuid=pbmcat_nope",
            {"name": "x", "price": 1, "cost": 1},
            404,
        ),
        ("POST", f"{BOOK}/materials", {"name": "x", "price": 1, "cost": 1}, 422),
        ("PUT", f"{BOOK}/materials/pbmat_nope", {"price": 1}, 404),
        ("PUT", f"{BOOK}/material_categories/pbmcat_nope", {"name": "x"}, 404),
        ("PUT", f"{BOOK}/price_forms/pbpf_nope", {"name": "x"}, 404),
        ("PUT", "/tags/tag_nope", {"name": "x"}, 404),
        ("PUT", "/job_fields/job_types/jbt_nope", {"name": "x"}, 404),
        ("PUT", "/lead_sources/lso_nope", {"name": "x"}, 404),
        ("POST", f"{BOOK}/price_forms", {"name": " "}, 422),
        ("POST", "/job_fields/job_types", {}, 422),
    ],
)
def test_unknown_ids_and_invalid_bodies(
    http: httpx.Client, method: str, path: str, body: dict, status: int
) -> None:
    r = http.request(method, path, json=body)
    assert r.status_code == status, r.text


def test_material_money_must_be_integer_cents(sandbox: SandboxHandle, http: httpx.Client) -> None:
    mat = sandbox.state.store.all("materials")[0]
    r = http.put(f"{BOOK}/materials/{mat['uuid']}", json={"price": "12.50"})
    assert r.status_code == 422 and "price" in r.text
    assert http.put(f"{BOOK}/materials/{mat['uuid']}", json={"price": 1250}).json()["price"] == 1250


def test_duplicate_names_where_hcp_refuses_them(sandbox: SandboxHandle, http: httpx.Client) -> None:
    store = sandbox.state.store
    tag, other = store.all("tags")[:2]
    r = http.put(f"/tags/{other['id']}", json={"name": tag["name"].upper()})
    assert r.status_code == 422 and "already been taken" in r.text
    root = next(c for c in store.all("material_categories") if c["parent_uuid"] is None)
    assert http.post(f"{BOOK}/material_categories", json={"name": root["name"]}).status_code == 422
    child = {"name": "Dup child", "parent_uuid": root["uuid"]}
    assert http.post(f"{BOOK}/material_categories", json=child).status_code == 200
    assert http.post(f"{BOOK}/material_categories", json=child).status_code == 422
    fixed = next(s for s in store.all("lead_sources") if s.get("editable") is False)
    assert http.put(f"/lead_sources/{fixed['id']}", json={"name": "Mine"}).status_code == 422


def test_a_lost_fault_applies_the_update_and_drops_the_answer(
    sandbox: SandboxHandle, http: httpx.Client
) -> None:
    mat = sandbox.state.store.all("materials")[0]
    path = f"{BOOK}/materials/{mat['uuid']}"
    sandbox.state.faults.enqueue("lost", method="PUT", path=path)
    with pytest.raises(httpx.TransportError):
        http.put(path, json={"price": 4242})
    assert sandbox.state.store.get("materials", mat["uuid"])["price"] == 4242
