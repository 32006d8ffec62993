"""HCP's write rules for the catalogue objects the object push writes (HCP_API.md §6, the spec).

Tags, lead sources and job types: POST `{name}` and PUT `/{id}` `{name}`; a blank name is a 422,
an exact (case-insensitive) duplicate is a 422 "Name has already been taken" (ASSUMED, as for
picklists in `writes._named`); a lead source not `editable` cannot be renamed. Price book:
material categories (POST `{parent_uuid, name}`, PUT `{name}`), materials (POST with
`material_category_uuid` as query parameter and body field, `name`, integer `price` and `cost`
in cents required; PUT partial), price forms (POST `{name, ...}`, PUT partial); an unknown uuid
is a 404. ASSUMED: materials may share a name (the spec says nothing), so a push must not rely on
a 422 to avoid a second one; categories refuse a duplicate name under the same parent.
"""

from __future__ import annotations

from typing import Any

from sandbox.seed import Record
from sandbox.store import Store
from sandbox.writes import WriteError, _message, _named, _object, _text

MATERIAL_TEXT = ("name", "description", "unit_of_measure", "part_number")
MATERIAL_CENTS = ("price", "cost")
MATERIAL_BOOLS = ("flat_rate_enabled", "taxable")
PRICE_FORM_TEXT = ("name", "description", "bookable_as", "question_1", "question_2")
PRICE_FORM_BOOLS = (
    "automatically_add_to_new_job",
    "taxable",
    "olb_enabled",
    "dynamic_duration_enabled",
    "service_area_pricing_enabled",
)
NOT_FOUND = {
    "tags": "Tag not found",
    "lead_sources": "Lead source not found",
    "job_types": "Job type not found",
    "materials": "Material not found",
    "material_categories": "Material category not found",
    "price_forms": "price_form not found",
}


def _existing(store: Store, obj: str, rid: str) -> Record:
    rec = store.get(obj, rid)
    if rec is None:
        raise _message(404, NOT_FOUND[obj])
    return rec


def _name(body: dict[str, Any], *, required: bool) -> str | None:
    if "name" not in body and not required:
        return None
    name = _text(body.get("name"))
    if not name:
        raise _message(422, "Name can't be blank")
    return name


def _unique(store: Store, obj: str, name: str, rid: str | None, same: Any = None) -> None:
    pk = "uuid" if obj.startswith("material") else "id"
    for r in store.all(obj):
        if r[pk] == rid or (same is not None and not same(r)):
            continue
        if str(r.get("name") or "").strip().lower() == name.lower():
            raise _message(422, "Name has already been taken")


def create_job_type(store: Store, body: Any) -> Record:
    return _named(store, "job_types", body, {})


def rename(obj: str) -> Any:
    """PUT /tags|/lead_sources|/job_fields/job_types/{id} `{name}`."""

    def action(store: Store, rid: str, body: Any) -> Record:
        body = _object(body)
        rec = _existing(store, obj, rid)
        if obj == "lead_sources" and rec.get("editable") is False:
            raise _message(422, "This lead source cannot be edited")
        name = _name(body, required=True)
        assert name is not None
        _unique(store, obj, name, rid)
        out = store.update(obj, rid, {"name": name})
        assert out is not None
        return out

    return action


def _category(store: Store, uuid: Any) -> Record:
    rec = store.get("material_categories", str(uuid or ""))
    if rec is None:
        raise _message(404, "Material category not found")
    return rec


def create_material_category(store: Store, body: Any) -> Record:
    body = _object(body)
    name = _name(body, required=True)
    assert name is not None
    parent = _text(body.get("parent_uuid"))
    if parent:
        _category(store, parent)
    _unique(store, "material_categories", name, None, lambda r: r.get("parent_uuid") == parent)
    return store.add(
        "material_categories",
        {
            "object": "material_category",
            "uuid": store.new_id("material_categories"),
            "parent_uuid": parent,
            "name": name,
            "image": None,
        },
    )


def update_material_category(store: Store, uuid: str, body: Any) -> Record:
    body = _object(body)
    rec = _existing(store, "material_categories", uuid)
    name = _name(body, required=False)
    patch: dict[str, Any] = {}
    if name is not None:
        parent = rec.get("parent_uuid")
        _unique(store, "material_categories", name, uuid, lambda r: r.get("parent_uuid") == parent)
        patch["name"] = name
    out = store.update("material_categories", uuid, patch)
    assert out is not None
    return out


def _cents(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise WriteError(422, {"errors": {key: ["must be an integer (cents)"]}})
    return value


def _material_patch(body: dict[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for k in MATERIAL_TEXT:
        if k in body:
            patch[k] = _text(body[k])
    for k in MATERIAL_CENTS:
        if k in body:
            patch[k] = _cents(body, k)
    for k in MATERIAL_BOOLS:
        if k in body:
            patch[k] = bool(body[k])
    if "name" in patch and not patch["name"]:
        raise _message(422, "Name can't be blank")
    return patch


def create_material(store: Store, body: Any, query: dict[str, str] | None = None) -> Record:
    body = _object(body)
    uuid = (query or {}).get("material_category_uuid") or body.get("material_category_uuid")
    if not uuid:
        raise WriteError(422, {"errors": {"material_category_uuid": ["is missing"]}})
    category = _category(store, uuid)
    for k in ("name", "price", "cost"):
        if k not in body:
            raise WriteError(422, {"errors": {k: ["is missing"]}})
    patch = _material_patch(body)
    record: Record = {
        "object": "material",
        "uuid": store.new_id("materials"),
        "material_category_uuid": category["uuid"],
        "material_category_name": category["name"],
        "description": None,
        "image": None,
        "unit_of_measure": None,
        "part_number": None,
        "flat_rate_enabled": False,
        "taxable": False,
        **patch,
    }
    return store.add("materials", record)


def update_material(store: Store, uuid: str, body: Any) -> Record:
    body = _object(body)
    _existing(store, "materials", uuid)
    out = store.update("materials", uuid, _material_patch(body))
    assert out is not None
    return out


def _price_form_patch(body: dict[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for k in PRICE_FORM_TEXT:
        if k in body:
            patch[k] = _text(body[k])
    for k in PRICE_FORM_BOOLS:
        if k in body:
            patch[k] = bool(body[k])
    if "duration_in_minutes" in body:
        value = body["duration_in_minutes"]
        if isinstance(value, bool) or not isinstance(value, int):
            raise WriteError(422, {"errors": {"duration_in_minutes": ["must be an integer"]}})
        patch["duration_in_minutes"] = value
    if "name" in patch and not patch["name"]:
        raise _message(422, "Name can't be blank")
    return patch


def create_price_form(store: Store, body: Any) -> Record:
    body = _object(body)
    _name(body, required=True)
    patch = _price_form_patch(body)
    record: Record = {
        "object": "price_form",
        "id": store.new_id("price_forms"),
        "kind": "standard",
        "description": None,
        "automatically_add_to_new_job": False,
        "olb_enabled": False,
        "duration_in_minutes": 60,
        "taxable": False,
        "template_type": "custom",
        "dynamic_duration_enabled": False,
        "order_index": len(store.all("price_forms")),
        "question_1": None,
        "question_2": None,
        "bookable_as": "service",
        "service_area_pricing_enabled": False,
        "image_url": None,
        "assigned_pros": [],
        "assigned_tags": [],
        "fields": {"data": []},
        **patch,
    }
    return store.add("price_forms", record)


def update_price_form(store: Store, rid: str, body: Any) -> Record:
    body = _object(body)
    _existing(store, "price_forms", rid)
    out = store.update("price_forms", rid, _price_form_patch(body))
    assert out is not None
    return out
