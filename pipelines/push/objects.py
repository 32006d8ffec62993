"""The HCP objects the push writes, as plain facts: one `PushObject` row per object.

Each row says which operations HCP allows (HCP_API.md §6 and the spec), the writable fields and
their types, where a create and an update go, the natural key that finds a record after a create
whose answer never came, and the raw table an update is diffed against. Adding an object is one
row here. It must never: talk to HCP or DuckDB (that is `hcp.py`, `diff.py`, `rows.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["text", "cents", "int", "bool", "tags"]
"""How a field's value is checked and sent: `cents` is HCP's integer money (a `<field>_dollars`
column is accepted and converted), `tags` a list of strings (a CSV cell: `a|b|c`)."""

CREATE = "create"
UPDATE = "update"
RENAME = "rename"  # an update of `name` only, for HCP's picklists


@dataclass(frozen=True)
class PushObject:
    """One object the push writes; `name` is the CLI's and `staging.push_rows.object`'s."""

    name: str
    noun: str  # what one record is called in messages
    operations: tuple[str, ...]
    path: str  # POST here; PUT to `path/{target}`
    id_field: str  # "id" or "uuid": the record's key in HCP and in its raw table
    fields: dict[str, Kind]
    required: tuple[str, ...] = ("name",)  # for a create
    natural_key: tuple[str, ...] = ("name",)  # matched case-insensitively, after trimming
    list_envelope: str = ""  # GET `path` answers {list_envelope: [...]}
    scope: str | None = None  # a natural-key field that is also the listing's query parameter
    raw_table: str | None = None  # hcp.<raw_table>, for diffing an update
    query: tuple[str, ...] = ()  # create fields HCP also wants as query parameters
    link_existing: bool = True  # a create whose natural key HCP already has is `linked`

    def update_path(self, target: str) -> str:
        return f"{self.path}/{target}"


_PICKLIST = {"name": "text"}

_MATERIAL: dict[str, Kind] = {
    "material_category_uuid": "text",
    "name": "text",
    "description": "text",
    "price": "cents",
    "cost": "cents",
    "unit_of_measure": "text",
    "part_number": "text",
    "flat_rate_enabled": "bool",
    "taxable": "bool",
}

_PRICE_FORM: dict[str, Kind] = {
    "name": "text",
    "description": "text",
    "automatically_add_to_new_job": "bool",
    "taxable": "bool",
    "olb_enabled": "bool",
    "duration_in_minutes": "int",
    "dynamic_duration_enabled": "bool",
    "bookable_as": "text",
    "question_1": "text",
    "question_2": "text",
}

# PUT /customers/{id} takes these (no addresses, HCP_API.md §6)
_CUSTOMER: dict[str, Kind] = {
    "first_name": "text",
    "last_name": "text",
    "email": "text",
    "mobile_number": "text",
    "home_number": "text",
    "work_number": "text",
    "company": "text",
    "notes": "text",
    "lead_source": "text",
    "notifications_enabled": "bool",
    "tags": "tags",
}

# POST /leads: `customer_id`, or `customer_<field>` columns that become the embedded customer
_LEAD: dict[str, Kind] = {
    "customer_id": "text",
    **{f"customer_{k}": v for k, v in _CUSTOMER.items() if k != "notifications_enabled"},
    "lead_source": "text",
    "note": "text",
    "tags": "tags",
    "assigned_employee_id": "text",
    "address_id": "text",
}

OBJECTS: dict[str, PushObject] = {
    o.name: o
    for o in (
        PushObject(
            "tags",
            "tag",
            (CREATE, RENAME),
            "/tags",
            "id",
            _PICKLIST,
            list_envelope="tags",
            raw_table="tags",
        ),
        PushObject(
            "job_types",
            "job type",
            (CREATE, RENAME),
            "/job_fields/job_types",
            "id",
            _PICKLIST,
            list_envelope="job_types",
            raw_table="job_types",
        ),
        PushObject(
            "lead_sources",
            "lead source",
            (CREATE, RENAME),
            "/lead_sources",
            "id",
            _PICKLIST,
            list_envelope="lead_sources",
            raw_table="lead_sources",
        ),
        PushObject(
            "material_categories",
            "material category",
            (CREATE, UPDATE),
            "/api/price_book/material_categories",
            "uuid",
            {"name": "text", "parent_uuid": "text"},
            natural_key=("parent_uuid", "name"),
            list_envelope="data",
            scope="parent_uuid",
            raw_table="material_categories",
        ),
        PushObject(
            "materials",
            "material",
            (CREATE, UPDATE),
            "/api/price_book/materials",
            "uuid",
            _MATERIAL,
            required=("material_category_uuid", "name", "price", "cost"),
            natural_key=("material_category_uuid", "name"),
            list_envelope="data",
            scope="material_category_uuid",
            raw_table="materials",
            query=("material_category_uuid",),
        ),
        PushObject(
            "price_forms",
            "price form",
            (CREATE, UPDATE),
            "/api/price_book/price_forms",
            "id",
            _PRICE_FORM,
            list_envelope="data",
            raw_table="price_forms",
        ),
        PushObject(
            "customers",
            "customer",
            (UPDATE,),
            "/customers",
            "id",
            _CUSTOMER,
            required=(),
            natural_key=(),
            list_envelope="customers",
            raw_table="customers",
        ),
        PushObject(
            "leads",
            "lead",
            (CREATE,),
            "/leads",
            "id",
            _LEAD,
            required=(),
            natural_key=("customer", "lead_source"),
            list_envelope="leads",
            link_existing=False,  # a customer may have many leads: only a lost answer is looked up
        ),
    )
}
"""Natural keys (what finds a record after a create whose answer never came, and what a create
links to when HCP already has it): tags, job types, lead sources, price forms: the name; a
material category: its name under its parent; a material: its name within its category; an HCP
lead: its customer (by id, or the embedded customer's email) and lead source."""


def unknown_object(name: str) -> str:
    return f"unknown object {name!r} (known: {', '.join(OBJECTS)})"
