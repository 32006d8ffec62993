"""HCP facts as plain constants: the object table (one row per raw table of DESIGN.md
"Tables"; names are a contract), page-size caps, the base URL and the client's default pace.

Adding an object is one row here; the source builds its resources in a loop over `OBJECTS`.
Facts come from HCP_API.md §2 (conventions), §3 (object table) and §5 (incremental reads). Every
other module imports these from here; must never: import from the rest of the tree (this is the
bottom of the dependency graph), or define a constant another module defines too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Strategy = Literal["incremental", "full", "tree", "per_parent", "daily", "single"]
"""How a table is kept fresh:

- `incremental`: newest first (`sort_by=updated_at&sort_direction=desc`), paging stops at the
  saved cursor minus `LOOKBACK_S`; a run without changes costs one request.
- `full`: no usable cursor (HCP has no updated-since filter and these records either have no
  `updated_at` or are tiny); every run reads all pages (2..N concurrently) and merges by key.
- `tree`: material categories; a listing without `parent_uuid` returns only the root level, so
  the tree is walked level by level (one listing per category).
- `per_parent`: materials; `material_category_uuid` is required, so one listing per category.
- `daily`: routes; a listing covers one day (`date=`, default HCP's today). Each run reads today
  (history accumulates by merge) plus an optional window of days around it.
- `single`: `/company`, one object.
"""

DEFAULT_BASE_URL = "https://api.housecallpro.com"
"""HCP's public API; the local sandbox (or a proxy) is the same contract at another URL."""
MAX_PAGE_SIZE = 200
"""HCP's page-size cap (HCP_API.md §2). Live HCP answers a larger `page_size` with 400 "Size must
be less than or equal to 200" (not clamped, as §9 assumed), so the client never asks for more."""
DEFAULT_RATE_LIMIT = 10.0
"""Requests per second of one client, shared by all its threads (an account may set its own)."""
DEFAULT_CONCURRENCY = 4
"""Requests in flight of one client (an account may set its own)."""
ROUTES_PAGE_SIZE = 100
"""`/routes` pages with `per_page`, capped at 100 (HCP_API.md §2, AMP)."""
LOOKBACK_S = 120
"""Seconds re-read behind the saved cursor: rows written in the same second as the cursor and
rows whose `updated_at` landed while the previous run was paging. Costs no extra request unless
more than a page of records changed in that window."""
ESTIMATES_FULL_READ_EVERY_S = 24 * 3600
"""Estimate option approvals do not bump the estimate's `updated_at` (HCP_API.md §3, §5), so
estimates are re-read in full when the last full read is older than this (0 disables)."""

ROUTES_DAYS_BACK = 0
ROUTES_DAYS_AHEAD = 0
"""Extra days of routes read around today (one request per day); 0/0 reads HCP's default day."""

TIMESTAMP = {"data_type": "timestamp"}
CENTS = {"data_type": "bigint"}
TEXT = {"data_type": "text"}


@dataclass(frozen=True)
class HCPObject:
    """One raw table: where it is read from and how it is kept fresh."""

    table: str
    path: str
    envelope_key: str | None
    primary_key: str = "id"
    strategy: Strategy = "full"
    page_size: int = MAX_PAGE_SIZE
    page_size_param: str = "page_size"
    read_from: str | None = None
    """The table whose rows this read depends on (`per_parent`: one listing per row of it), so
    it is read after that one and is incomplete when that one fails. Documentary links between
    records (a job's customer) are not named here: they are columns (`customer__id`)."""
    parent_param: str | None = None
    """Query parameter naming the parent record in a per-parent or tree listing."""
    params: dict[str, Any] = field(default_factory=dict)
    app_key_only: bool = False
    """HCP serves it to application keys / OAuth only (HCP_API.md §2): a 401/403 for it is a
    warning and the sync goes on."""
    cursor: str | None = None
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    """dlt column hints: timestamps typed even when the first batch is all null, money as bigint
    cents, ids as text."""
    nested: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """Column hints for child tables, keyed by the nested path (e.g. `options`)."""
    children: tuple[str, ...] = ()
    """Child tables dlt creates from nested lists (documentation and tests; dlt derives them)."""


def _ts(*names: str) -> dict[str, dict[str, Any]]:
    return {n: {"name": n, **TIMESTAMP} for n in names}


def _cents(*names: str) -> dict[str, dict[str, Any]]:
    return {n: {"name": n, **CENTS} for n in names}


def _text(*names: str) -> dict[str, dict[str, Any]]:
    return {n: {"name": n, **TEXT} for n in names}


LOCAL_TIMES = ("scheduled_start_local", "scheduled_end_local")
"""A schedule's wall-clock times (HCP_API.md §2 Time). HCP sends `2026-06-26T06:45:00-04:00`:
the time of day the office booked, with the offset of the schedule's `time_zone`. Loaded as they
come they became UTC instants (10:45, equal to `scheduled_start`: DuckDB's JSON reader converts
any ISO string with an offset, whatever the column type), so the source drops the offset
(`local_wall_clock`) and they land as timestamps without zone: 06:45. The zone is beside them
in `schedule__time_zone`. A warehouse loaded before this is migrated by the next sync or drain
(`pipelines.sync.upkeep.migrate_local_times`)."""

LOCAL_SCHEDULE = {
    **{
        f"schedule__{n}": {"name": f"schedule__{n}", **TIMESTAMP, "timezone": False}
        for n in LOCAL_TIMES
    },
    **_text("schedule__time_zone"),
}


OBJECTS: tuple[HCPObject, ...] = (
    HCPObject(
        "customers",
        "/customers",
        "customers",
        strategy="incremental",
        cursor="updated_at",
        columns={**_text("id", "company_id"), **_ts("created_at", "updated_at")},
        children=("customers__addresses", "customers__tags"),
    ),
    HCPObject(
        "jobs",
        "/jobs",
        "jobs",
        strategy="incremental",
        cursor="updated_at",
        params={"expand": ["appointments"]},
        columns={
            **_text("id", "invoice_number", "original_estimate_id", "customer__id", "company_id"),
            **_ts(
                "created_at",
                "updated_at",
                "canceled_at",
                "deleted_at",
                "locked_at",
                "schedule__scheduled_start",
                "schedule__scheduled_end",
                "work_timestamps__on_my_way_at",
                "work_timestamps__started_at",
                "work_timestamps__completed_at",
            ),
            **_cents("total_amount", "outstanding_balance", "subtotal"),
            **LOCAL_SCHEDULE,
        },
        nested={"schedule__appointments": {"columns": _ts("start_time", "end_time")}},
        children=(
            "jobs__schedule__appointments",
            "jobs__assigned_employees",
            "jobs__notes",
            "jobs__tags",
        ),
    ),
    HCPObject(
        "estimates",
        "/estimates",
        "estimates",
        strategy="incremental",
        cursor="updated_at",
        columns={
            **_text("id", "estimate_number", "customer__id", "company_id"),
            **_ts(
                "created_at",
                "updated_at",
                "schedule__scheduled_start",
                "schedule__scheduled_end",
                "work_timestamps__on_my_way_at",
                "work_timestamps__started_at",
                "work_timestamps__completed_at",
            ),
            **LOCAL_SCHEDULE,
        },
        nested={
            "options": {
                "columns": {
                    **_ts("created_at", "updated_at", "approval_status_updated_at"),
                    **_cents("total_amount"),
                    **_text("approval_status", "status"),
                }
            }
        },
        children=("estimates__options", "estimates__assigned_employees"),
    ),
    HCPObject(
        "invoices",
        "/invoices",
        "invoices",
        columns={
            # no customer__id: HCP's Invoice has no `customer` (HCP_API.md §4); join via job_id
            **_text("id", "job_id", "invoice_number"),
            # only fields HCP's Invoice has (spec JobInvoice, HCP_API.md §4): no created_at,
            # tax_amount or discount_amount (taxes[] and discounts[] are child tables); a hint
            # for a field HCP never sends made an always-NULL column that read as data
            **_ts("invoice_date", "service_date", "sent_at", "paid_at", "due_at"),
            **_cents("amount", "subtotal", "due_amount"),
        },
        nested={
            "payments": {"columns": {**_ts("paid_at"), **_cents("amount")}},
            "items": {"columns": _cents("unit_price", "unit_cost", "amount")},
        },
        children=("invoices__payments",),
    ),
    HCPObject(
        "leads",
        "/leads",
        "leads",
        # no created_at/updated_at: HCP's Lead has neither (HCP_API.md §4, §9 ASSUMED)
        columns=_text("id", "customer__id"),
        children=("leads__line_items",),
    ),
    HCPObject("lead_sources", "/lead_sources", "lead_sources", columns=_text("id")),
    HCPObject(
        "employees",
        "/employees",
        "employees",
        columns={**_text("id", "mobile_number"), **_ts("created_at")},
        children=("employees__tags",),
    ),
    HCPObject("tags", "/tags", "tags", columns=_text("id")),
    HCPObject("job_types", "/job_fields/job_types", "job_types", columns=_text("id")),
    HCPObject(
        "events",
        "/events",
        "events",
        strategy="incremental",
        cursor="updated_at",
        columns={
            **_text("id"),
            **_ts("created_at", "updated_at", "schedule__start_time", "schedule__end_time"),
        },
        children=("events__assigned_employees",),
    ),
    HCPObject(
        "material_categories",
        "/api/price_book/material_categories",
        "data",
        primary_key="uuid",
        strategy="tree",
        parent_param="parent_uuid",
        columns={**_text("uuid", "parent_uuid"), **_ts("created_at", "updated_at")},
    ),
    HCPObject(
        "materials",
        "/api/price_book/materials",
        "data",
        primary_key="uuid",
        strategy="per_parent",
        read_from="material_categories",
        parent_param="material_category_uuid",
        columns={
            **_text("uuid", "material_category_uuid", "part_number"),
            **_cents("cost", "price"),
        },
    ),
    HCPObject(
        "price_forms",
        "/api/price_book/price_forms",
        "data",
        columns=_text("id"),
    ),
    HCPObject(
        "services",
        "/api/price_book/services",
        "data",
        primary_key="uuid",
        app_key_only=True,
        columns={**_text("uuid"), **_cents("price", "cost")},
    ),
    HCPObject(
        "service_zones",
        "/service_zones",
        "service_zones",
        app_key_only=True,
        columns={**_text("id"), **_cents("trip_charge")},
    ),
    HCPObject(
        "routes",
        "/routes",
        "routes",
        strategy="daily",
        page_size=ROUTES_PAGE_SIZE,
        page_size_param="per_page",
        app_key_only=True,
        columns=_text("id", "date"),
        children=("routes__job_appointments", "routes__employee_ids"),
    ),
    HCPObject("company", "/company", None, strategy="single", columns=_text("id")),
)

ACCOUNT_COLUMN = "account"
"""Every raw row carries the HCP account it came from (the configured account name, `default`
with one key); it leads every primary key so two accounts never collide in one dataset."""
DELETED_AT_COLUMN = "_hcp_deleted_at"
"""Set when a record is missing from a complete full read of its object for its account;
cleared when the record comes back (docs/accounts-history-destinations.md)."""
DELETION_STRATEGIES: frozenset[str] = frozenset({"full", "tree", "per_parent"})
"""Objects read in full on every run, so a record missing from a complete read is gone in HCP.
Incremental objects (jobs carry `deleted_at` / `canceled_at`), routes (one day per listing)
and company are never flagged."""

JOB_LINE_ITEMS = HCPObject(
    "job_line_items",
    "/jobs/{id}/line_items",
    "data",
    strategy="per_parent",
    read_from="jobs",
    columns={
        **_text("id", "job_id", "service_item_id"),
        **_cents("unit_price", "unit_cost", "amount"),
    },
)
"""Optional (`job_line_items = true`): one request per job, so only jobs the incremental jobs
read yields are asked (HCP_API.md §3: `{object:"list",data,url}`, no paging)."""

HISTORY_JSON_COLUMNS: dict[str, tuple[str, ...]] = {
    "jobs": ("notes", "assigned_employees", "tags", "original_estimate_uuids"),
    "invoices": ("items", "payments", "taxes", "discounts"),
    "estimates": ("options", "assigned_employees"),
    "customers": ("addresses", "tags"),
}
"""Lists kept as JSON inside `<object>_history` so one version is one row (an audit reads the
version, not a child-table join); lists not named here still become child tables."""

BY_TABLE: dict[str, HCPObject] = {o.table: o for o in OBJECTS}
TABLES: tuple[str, ...] = tuple(o.table for o in OBJECTS)
INCREMENTAL_TABLES: tuple[str, ...] = tuple(o.table for o in OBJECTS if o.strategy == "incremental")
APP_KEY_ONLY_TABLES: tuple[str, ...] = tuple(o.table for o in OBJECTS if o.app_key_only)
DELETION_TABLES: tuple[str, ...] = tuple(
    o.table for o in OBJECTS if o.strategy in DELETION_STRATEGIES
)
HISTORY_TABLES: tuple[str, ...] = tuple(o.table for o in OBJECTS if o.strategy != "single")
"""Objects whose versions can be kept in `<object>_history` (`history = [...]` in config)."""


def history_table(table: str) -> str:
    """`jobs` -> `jobs_history`: the scd2 table that keeps every version of `table` seen."""
    return f"{table}_history"
