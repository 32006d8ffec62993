"""The documented list filters of each HCP object, and nothing else (HCP_API.md §3).

There is deliberately no updated-since filter anywhere: HCP has none (§5), and a client that
sends one must see it ignored, exactly as live. Range bounds are inclusive [HAE filter.rb]; a
bound that is not a date is a 400 (`QueryError`), as live.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.datastructures import QueryParams

from sandbox.clock import iso, parse_iso
from sandbox.query import QueryError
from sandbox.seed import Record
from sandbox.store import Store

Predicate = Callable[[Record], bool]

# the jobs/estimates *query* enum -> the response's work_status values (HCP_API.md §4 Job)
WORK_STATUS_QUERY = {
    "unscheduled": {"needs scheduling"},
    "scheduled": {"scheduled"},
    "in_progress": {"in progress"},
    "completed": {"complete rated", "complete unrated"},
    "canceled": {"user canceled", "pro canceled"},
}

_PHONE_QUERY = re.compile(r"^[\d\s()+.\-]+$")


def _digits(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")


def customer_matches(rec: Record, q: str) -> bool:
    """`GET /customers?q=`: case-insensitive substring over name, email, company, address; a
    phone-like q is compared on digits (q "555-123-4567" finds mobile "5551234567").
    ASSUMED (HCP_API.md §9): the exact fields HCP searches are not documented."""
    needle = q.strip().lower()
    if not needle:
        return True
    name = f"{rec.get('first_name') or ''} {rec.get('last_name') or ''}".lower()
    hay = [name, (rec.get("email") or "").lower(), (rec.get("company") or "").lower()]
    for a in rec.get("addresses") or []:
        hay.append(f"{a.get('street') or ''} {a.get('city') or ''} {a.get('zip') or ''}".lower())
    if any(needle in h for h in hay):
        return True
    if _PHONE_QUERY.match(needle):
        digits = _digits(needle)
        if len(digits) == 11 and digits.startswith("1"):
            digits = digits[1:]
        if len(digits) >= 3:
            for f in ("mobile_number", "home_number", "work_number"):
                if digits in _digits(rec.get(f)):
                    return True
    return False


def _bound(params: QueryParams, name: str) -> str | None:
    """A `*_min`/`*_max` date bound; one that does not parse (empty included) is a 400, as
    live HCP answers it (the message wording is ASSUMED)."""
    raw = params.get(name)
    if raw is None:
        return None
    ts = parse_iso(raw)
    if ts is None:
        raise QueryError({"message": f"{name} must be a valid date"}, status=400)
    return iso(ts)


def _range(
    params: QueryParams, prefix: str, get: Callable[[Record], str | None]
) -> list[Predicate]:
    preds: list[Predicate] = []
    lo, hi = _bound(params, f"{prefix}_min"), _bound(params, f"{prefix}_max")
    if lo is not None:
        preds.append(lambda r: (v := get(r)) is not None and v >= lo)
    if hi is not None:
        preds.append(lambda r: (v := get(r)) is not None and v <= hi)
    return preds


def _schedule_filters(params: QueryParams, arrays: dict[str, list[str]]) -> list[Predicate]:
    preds = _range(
        params, "scheduled_start", lambda r: (r.get("schedule") or {}).get("scheduled_start")
    )
    preds += _range(
        params, "scheduled_end", lambda r: (r.get("schedule") or {}).get("scheduled_end")
    )
    if "employee_ids" in arrays:
        wanted = set(arrays["employee_ids"])
        preds.append(lambda r: any(e["id"] in wanted for e in r.get("assigned_employees") or []))
    if params.get("customer_id"):
        cid = params["customer_id"]
        preds.append(lambda r: (r.get("customer") or {}).get("id") == cid)
    if "work_status" in arrays:
        statuses: set[str] = set()
        for v in arrays["work_status"]:
            statuses |= WORK_STATUS_QUERY.get(v, set())
        preds.append(lambda r: r.get("work_status") in statuses)
    return preds


def predicates(
    obj: str, params: QueryParams, arrays: dict[str, list[str]], store: Store
) -> list[Predicate]:
    """Row predicates for the documented filters of `obj` present in the request."""
    preds: list[Predicate] = []
    if obj == "customers" and params.get("q"):
        q = params["q"]
        preds.append(lambda r: customer_matches(r, q))
    elif obj in ("jobs", "estimates"):
        preds += _schedule_filters(params, arrays)
    elif obj == "invoices":
        preds += _invoice_filters(params, arrays, store)
    elif obj == "leads":
        preds += _lead_filters(params, arrays, store)
    elif obj in ("lead_sources", "services") and params.get("q"):
        q = params["q"].lower()
        preds.append(lambda r: q in (r.get("name") or "").lower())
    elif obj == "job_types" and params.get("name"):
        name = params["name"].lower()
        preds.append(lambda r: name in (r.get("name") or "").lower())
    elif obj == "materials":
        cat = params.get("material_category_uuid")
        preds.append(lambda r: r.get("material_category_uuid") == cat)
    elif obj == "material_categories":
        parent = params.get("parent_uuid") or None  # omitted: root level only
        preds.append(lambda r: r.get("parent_uuid") == parent)
    elif obj == "service_zones":
        preds += _zone_filters(params)
    elif obj == "routes":
        day = params.get("date") or store.today()
        preds.append(lambda r: r.get("date") == day)
    return preds


def _invoice_filters(
    params: QueryParams, arrays: dict[str, list[str]], store: Store
) -> list[Predicate]:
    preds: list[Predicate] = []
    if "status" in arrays:
        wanted = set(arrays["status"])
        preds.append(lambda r: r.get("status") in wanted)
    if "customer_uuid" in arrays:
        customers = set(arrays["customer_uuid"])

        def of_customer(r: Record) -> bool:
            job = store.get("jobs", r.get("job_id") or "")
            return job is not None and (job.get("customer") or {}).get("id") in customers

        preds.append(of_customer)
    if "payment_method" in arrays:
        methods = set(arrays["payment_method"])
        preds.append(
            lambda r: any(p.get("payment_method") in methods for p in r.get("payments") or [])
        )
    preds += _range(
        params, "created_at", lambda r: store.hidden("invoices", r["id"]).get("created_at")
    )
    preds += _range(params, "due_at", lambda r: r.get("due_at"))
    preds += _range(params, "paid_at", lambda r: r.get("paid_at"))
    for name, op in (("amount_due_min", "ge"), ("amount_due_max", "le")):
        raw = params.get(name)
        if raw is None:
            continue
        try:
            bound = float(raw)
        except ValueError:
            continue
        if op == "ge":
            preds.append(lambda r, b=bound: (r.get("due_amount") or 0) >= b)
        else:
            preds.append(lambda r, b=bound: (r.get("due_amount") or 0) <= b)
    return preds


def _lead_filters(
    params: QueryParams, arrays: dict[str, list[str]], store: Store
) -> list[Predicate]:
    preds: list[Predicate] = []
    if params.get("status"):
        status = params["status"]
        preds.append(lambda r: r.get("status") == status)
    if params.get("customer_id"):
        cid = params["customer_id"]
        preds.append(lambda r: (r.get("customer") or {}).get("id") == cid)
    if "employee_ids" in arrays:
        wanted = set(arrays["employee_ids"])
        preds.append(lambda r: ((r.get("assigned_employee") or {}).get("id")) in wanted)
    if "tag_ids" in arrays:
        names = {t["name"] for t in (store.get("tags", i) for i in arrays["tag_ids"]) if t}
        preds.append(lambda r: bool(names.intersection(r.get("tags") or [])))
    if "lead_source" in arrays:
        sources = set(arrays["lead_source"])
        preds.append(lambda r: r.get("lead_source") in sources)
    return preds


def _zone_filters(params: QueryParams) -> list[Predicate]:
    preds: list[Predicate] = []
    if params.get("zip_code"):
        z = params["zip_code"].strip()
        preds.append(lambda r: z in (r.get("zip_codes") or []))
    if params.get("address"):
        # ASSUMED: HCP geocodes the address; the sandbox matches a zip or city inside it
        text = params["address"].lower()

        def covers(r: Record) -> bool:
            return any(z in text for z in r.get("zip_codes") or []) or any(
                c["city"].lower() in text for c in r.get("cities") or []
            )

        preds.append(covers)
    return preds


def apply(rows: list[Record], preds: list[Predicate]) -> list[Record]:
    if not preds:
        return rows
    return [r for r in rows if all(p(r) for p in preds)]
