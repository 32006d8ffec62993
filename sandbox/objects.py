"""The table of HCP list objects the sandbox serves: path, envelope, key, sorts, params.

One row per object of HCP_API.md §3 that a warehouse sync reads; sort fields and array
parameters come from HCP's spec (`hcp_openapi_v1.amp-patched.yaml`). Adding an object is one row
here plus its seed data.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    """Store key and warehouse table name."""
    path: str
    envelope: str
    """`standard` ({page,page_size,total_pages,total_items,<key>}), `pricebook`
    ({object,page,page_size,total_pages_count,total_count,data,url}) or `routes`."""
    key: str
    pk: str = "id"
    sorts: dict[str, tuple[str, ...]] | None = None
    """Allowed `sort_by` values -> field path; None when the endpoint takes no `sort_by`."""
    takes_direction: bool = True
    arrays: frozenset[str] = field(default_factory=frozenset)
    """Parameters HCP only accepts as `name[]=v` (a bare `name=v` is a 422)."""
    app_key_only: bool = False
    """HCP_API.md §2: only application keys / OAuth may list it."""
    url: str = ""
    """The `url` field of the price-book envelope (AMP fixtures)."""
    page_size_param: str = "page_size"
    max_page_size: int = 200


def _s(*names: str) -> dict[str, tuple[str, ...]]:
    return {n: tuple(n.split(".")) for n in names}


_TS = ("created_at", "updated_at")

OBJECTS: dict[str, ObjectSpec] = {
    o.name: o
    for o in (
        ObjectSpec(
            "customers",
            "/customers",
            "standard",
            "customers",
            # ASSUMED: the spec gives no enum; AMP sorts customers by updated_at (HCP_API.md §3)
            sorts=_s(*_TS),
            arrays=frozenset({"location_ids", "expand"}),
        ),
        ObjectSpec(
            "jobs",
            "/jobs",
            "standard",
            "jobs",
            sorts=_s(*_TS, "invoice_number", "id", "description", "work_status"),
            arrays=frozenset({"employee_ids", "work_status", "location_ids", "expand"}),
        ),
        ObjectSpec(
            "estimates",
            "/estimates",
            "standard",
            "estimates",
            sorts=_s(*_TS, "id"),
            arrays=frozenset({"employee_ids", "work_status", "location_ids", "expand"}),
        ),
        ObjectSpec(
            "invoices",
            "/invoices",
            "standard",
            "invoices",
            sorts={
                **_s(*_TS, "due_at", "invoice_number", "paid_at", "sent_at", "status"),
                "amount": ("amount",),
                "due_amount": ("due_amount",),
            },
            arrays=frozenset({"location_ids", "status", "customer_uuid", "payment_method"}),
        ),
        ObjectSpec(
            "leads",
            "/leads",
            "standard",
            "leads",
            sorts=_s(*_TS, "id", "status"),
            arrays=frozenset({"employee_ids", "tag_ids", "lead_source", "location_ids"}),
        ),
        ObjectSpec("lead_sources", "/lead_sources", "standard", "lead_sources", sorts=None),
        ObjectSpec(
            "employees",
            "/employees",
            "standard",
            "employees",
            # ASSUMED: the spec gives no enum for employees
            sorts=_s("created_at", "first_name", "last_name"),
            arrays=frozenset({"location_ids"}),
        ),
        ObjectSpec("tags", "/tags", "standard", "tags", sorts=_s("created_at", "name")),
        ObjectSpec(
            "job_types",
            "/job_fields/job_types",
            "standard",
            "job_types",
            sorts=None,
            takes_direction=False,
        ),
        ObjectSpec(
            "events",
            "/events",
            "standard",
            "events",
            sorts={
                **_s("name", "note", *_TS),
                **{k: ("address", k) for k in ("street", "street_line_2", "city", "state", "zip")},
            },
            arrays=frozenset({"location_ids"}),
        ),
        ObjectSpec(
            "materials",
            "/api/price_book/materials",
            "pricebook",
            "data",
            pk="uuid",
            sorts=_s("name", *_TS),
            url="/pricebook/materials",
        ),
        ObjectSpec(
            "material_categories",
            "/api/price_book/material_categories",
            "pricebook",
            "data",
            pk="uuid",
            sorts=_s("name", *_TS),
            url="/pricebook/material_categories",
        ),
        ObjectSpec(
            "price_forms",
            "/api/price_book/price_forms",
            "pricebook",
            "data",
            sorts=None,
            takes_direction=False,
            url="/pricebook/price_forms",
        ),
        ObjectSpec(
            "services",
            "/api/price_book/services",
            "pricebook",
            "data",
            pk="uuid",
            # ASSUMED: the spec gives no enum for services
            sorts=_s("created_at", "name"),
            arrays=frozenset({"filters"}),
            app_key_only=True,
            url="/pricebook/services",
        ),
        ObjectSpec(
            "service_zones",
            "/service_zones",
            "standard",
            "service_zones",
            sorts=None,
            takes_direction=False,
            app_key_only=True,
        ),
        ObjectSpec(
            "routes",
            "/routes",
            "routes",
            "routes",
            sorts=None,
            takes_direction=False,
            app_key_only=True,
            page_size_param="per_page",
            max_page_size=100,
        ),
    )
}

APP_KEY_ONLY_PATHS: tuple[str, ...] = tuple(o.path for o in OBJECTS.values() if o.app_key_only)

SINGLE_PATHS: dict[str, tuple[str, str]] = {
    # object -> (path template, 404 message)
    "customers": ("/customers/{id}", "Customer not found"),
    "jobs": ("/jobs/{id}", "Job not found"),
    "estimates": ("/estimates/{id}", "Estimate not found"),
    "invoices": ("/api/invoices/{id}", "Invoice not found"),
    "leads": ("/leads/{id}", "Lead not found"),
    "events": ("/events/{id}", "Event not found"),
    "price_forms": ("/api/price_book/price_forms/{id}", "Price form not found"),
}
