"""HCP's write rules for the objects the lead push touches (HCP_API.md §6, §10).

`POST /customers` needs one of name, email or phone; a second customer with the same email
(case-insensitive) is a 422 "Duplicate customer" while `reject_duplicate_email` is on (§10); an
unknown `lead_source` string is auto-added to the picklist, or a 422 "Lead source not found"
with `strict_lead_sources` (§10, §2 Errors). Only fields HCP documents are taken from a body.
"""

from __future__ import annotations

import re
from typing import Any

from sandbox.seed import Record
from sandbox.seed_base import LEAD_CUSTOMER_KEYS
from sandbox.store import Store

CONTACT_FIELDS = ("first_name", "last_name", "email", "mobile_number", "home_number", "work_number")
PHONE_FIELDS = ("mobile_number", "home_number", "work_number")
CUSTOMER_TEXT_FIELDS = (*CONTACT_FIELDS, "company", "notes")


class WriteError(Exception):
    """A write HCP refuses: HTTP status and HCP's body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


def _message(status: int, text: str) -> WriteError:
    return WriteError(status, {"error": {"message": text}})


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _message(422, "Request body must be a JSON object")
    return body


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _phone(value: Any) -> str | None:
    # ASSUMED: HCP stores phones as plain digits (HCP_API.md §4: "Phones are plain digits")
    text = _text(value)
    return re.sub(r"\D", "", text) or None if text else None


def _email_taken(store: Store, email: str, except_id: str | None = None) -> bool:
    wanted = email.strip().lower()
    return any(
        (c.get("email") or "").strip().lower() == wanted and c["id"] != except_id
        for c in store.all("customers")
    )


def ensure_lead_source(store: Store, name: Any) -> str | None:
    """The lead source string to store, adding it to the picklist unless strict."""
    if name is None or (isinstance(name, str) and not name.strip()):
        return None
    text = str(name)
    if any(ls["name"] == text for ls in store.all("lead_sources")):
        return text
    if store.settings.strict_lead_sources:
        raise _message(422, "Lead source not found")
    store.add("lead_sources", {"name": text, "editable": True})
    return text


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise WriteError(422, {"errors": {"tags": "must be an array"}})
    return [str(t) for t in value if str(t).strip()]


def _addresses(store: Store, value: Any) -> list[Record]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise WriteError(422, {"errors": {"addresses": "must be an array"}})
    out = []
    for a in value:
        if not isinstance(a, dict):
            continue
        out.append(
            {
                "id": store.new_id("addresses"),
                "type": "service",  # ASSUMED (HCP_API.md §6)
                **{
                    k: _text(a.get(k))
                    for k in ("street", "street_line_2", "city", "state", "zip", "country")
                },
                "latitude": a.get("latitude"),
                "longitude": a.get("longitude"),
            }
        )
    return out


def create_customer(store: Store, body: Any) -> Record:
    body = _object(body)
    values: dict[str, Any] = {k: _text(body.get(k)) for k in CUSTOMER_TEXT_FIELDS}
    for f in PHONE_FIELDS:
        values[f] = _phone(body.get(f))
    if not any(values[f] for f in CONTACT_FIELDS):
        raise _message(
            422,
            "At least one of first_name, last_name, email, mobile_number, home_number or "
            "work_number is required",
        )
    if (
        values["email"]
        and store.settings.reject_duplicate_email
        and _email_taken(store, values["email"])
    ):
        raise _message(422, "Duplicate customer")
    lead_source = ensure_lead_source(store, body.get("lead_source"))
    now = store.now_iso()
    record: Record = {
        "id": store.new_id("customers"),
        "first_name": values["first_name"],
        "last_name": values["last_name"],
        "email": values["email"],
        "mobile_number": values["mobile_number"],
        "home_number": values["home_number"],
        "work_number": values["work_number"],
        "company": values["company"],
        "notifications_enabled": bool(body.get("notifications_enabled", False)),
        "lead_source": lead_source,
        "notes": values["notes"],
        "kind": "business" if values["company"] else "homeowner",
        "created_at": now,
        "updated_at": now,
        "company_name": store.company["name"],
        "company_id": store.company["id"],
        "tags": _tags(body.get("tags")),
        "addresses": _addresses(store, body.get("addresses")),
    }
    rec = store.add("customers", record)
    store.created_customers.append({"id": rec["id"], "email": rec["email"], "created_at": now})
    return rec


def update_customer(store: Store, customer_id: str, body: Any) -> Record:
    """`PUT /customers/{id}`: partial; no addresses (HCP_API.md §6)."""
    body = _object(body)
    if store.get("customers", customer_id) is None:
        raise _message(404, "Customer not found")
    patch: dict[str, Any] = {}
    for k in CUSTOMER_TEXT_FIELDS:
        if k in body:
            patch[k] = _phone(body[k]) if k in PHONE_FIELDS else _text(body[k])
    if (
        patch.get("email")
        and store.settings.reject_duplicate_email
        and _email_taken(store, patch["email"], customer_id)
    ):
        raise _message(422, "Duplicate customer")
    if "notifications_enabled" in body:
        patch["notifications_enabled"] = bool(body["notifications_enabled"])
    if "lead_source" in body:
        patch["lead_source"] = ensure_lead_source(store, body["lead_source"])
    if "tags" in body:
        patch["tags"] = _tags(body["tags"])
    if "company" in patch:
        patch["kind"] = "business" if patch["company"] else "homeowner"
    rec = store.update("customers", customer_id, patch)
    assert rec is not None  # existence checked above; the store lock makes deletes atomic
    return rec


def _named(store: Store, obj: str, body: Any, extra: dict[str, Any]) -> Record:
    body = _object(body)
    name = _text(body.get("name"))
    if not name:
        raise _message(422, "Name can't be blank")
    if any(r["name"].strip().lower() == name.lower() for r in store.all(obj)):
        # ASSUMED: HCP's picklists refuse an exact (case-insensitive) duplicate name
        raise _message(422, "Name has already been taken")
    return store.add(obj, {"name": name, **extra})


def create_lead_source(store: Store, body: Any) -> Record:
    return _named(store, "lead_sources", body, {"editable": True})


def create_tag(store: Store, body: Any) -> Record:
    return _named(store, "tags", body, {})


def create_lead(store: Store, body: Any) -> Record:
    """`POST /leads`: `customer_id` or an inline `customer` (HCP_API.md §6)."""
    body = _object(body)
    if body.get("customer_id"):
        customer = store.get("customers", str(body["customer_id"]))
        if customer is None:
            raise _message(404, "Customer not found")
    elif isinstance(body.get("customer"), dict):
        customer = create_customer(store, body["customer"])
    else:
        raise WriteError(422, {"errors": {"customer_id": ["is missing"]}})
    lead_source = (
        ensure_lead_source(store, body.get("lead_source"))
        if "lead_source" in body
        else customer.get("lead_source")
    )
    address = customer["addresses"][0] if customer.get("addresses") else None
    if isinstance(body.get("address"), dict):
        address = _addresses(store, [body["address"]])[0]
    employee = store.get("employees", str(body.get("assigned_employee_id") or ""))
    total = 0
    for li in body.get("line_items") or []:
        if isinstance(li, dict):
            total += int(float(li.get("unit_price") or 0) * float(li.get("quantity") or 1))
    number = 1 + max((r["number"] for r in store.all("leads")), default=0)
    record: Record = {
        "number": number,
        "customer": {k: customer.get(k) for k in LEAD_CUSTOMER_KEYS},
        "address": {
            k: address.get(k) for k in ("id", "city", "state", "street", "street_line_2", "zip")
        }
        if address
        else None,
        "lead_source": lead_source,
        "tags": _tags(body.get("tags")),
        "assigned_employee": employee,
        "status": "open",
        "pipeline_status": "New lead",
        "lost_at": None,
        "job_fields": {"job_type": None, "business_unit": None},
        "total_amount": total,
        "conversions": [],
        "company_name": store.company["name"],
        "company_id": store.company["id"],
    }
    return store.add("leads", record)
