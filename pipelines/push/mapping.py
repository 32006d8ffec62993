"""A staged row -> the one HCP request it stands for (pure: no HTTP, no DuckDB).

A row names its object, its operation, the HCP id/uuid it changes (`target`, for an update or a
rename) and its desired fields. Everything HCP would refuse for a reason we can see is refused
here first, with a one-line reason the user can act on: an unknown object, operation or field,
a price that is not a number, a missing required field (a material without its category). The
request built here is what is sent and what `--dry-run` shows. It must never: guess a field,
round money silently, or send a field HCP does not document for that operation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from pipelines.push.objects import CREATE, OBJECTS, RENAME, UPDATE, Kind, PushObject, unknown_object

# create-only fields: HCP's PUT for the object does not take them (spec requestBody)
CREATE_ONLY: dict[str, tuple[str, ...]] = {
    "materials": ("material_category_uuid",),
    "material_categories": ("parent_uuid",),
}
TRUE = {"true", "t", "yes", "y", "1"}
FALSE = {"false", "f", "no", "n", "0"}


class InvalidRow(Exception):
    """A row that cannot become a request; `reason` is the row's `failed_permanent` reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Request:
    """One write: what is sent, and the fields an update wants (what the diff compares)."""

    obj: PushObject
    operation: str
    method: str
    path: str
    body: dict[str, Any]
    query: dict[str, str] = field(default_factory=dict)
    target: str | None = None

    @property
    def is_create(self) -> bool:
        return self.operation == CREATE

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "body": self.body,
        }


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _cents(name: str, value: Any, *, dollars: bool) -> int:
    """HCP's integer cents from a number (cents, or dollars for `<name>_dollars`)."""
    if isinstance(value, bool):
        raise InvalidRow(f"{name} {value!r} is not a number")
    text = str(value).strip().replace(",", "")
    if dollars:
        text = text.removeprefix("$")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise InvalidRow(f"{name} {value!r} is not a number") from None
    if not number.is_finite():
        raise InvalidRow(f"{name} {value!r} is not a number")
    cents = number * 100 if dollars else number
    if cents != cents.to_integral_value():
        unit = "cents" if dollars else "cents (HCP prices are integer cents)"
        raise InvalidRow(f"{name} {value!r} is not a whole number of {unit}")
    if cents < 0:
        raise InvalidRow(f"{name} {value!r} is negative")
    return int(cents)


def _value(name: str, kind: Kind, value: Any) -> Any:
    if kind == "text":
        return str(value).strip()
    if kind == "cents":
        return _cents(name, value, dollars=False)
    if kind == "int":
        try:
            return int(str(value).strip())
        except ValueError:
            raise InvalidRow(f"{name} {value!r} is not a whole number") from None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        raise InvalidRow(f"{name} {value!r} is not true or false")
    # tags: a list, or one cell "a|b|c"
    items = value if isinstance(value, list) else str(value).split("|")
    return [str(t).strip() for t in items if str(t).strip()]


def desired_fields(obj: PushObject, fields: dict[str, Any]) -> dict[str, Any]:
    """The row's fields checked and typed (`<cents field>_dollars` converted); blanks dropped."""
    out: dict[str, Any] = {}
    for raw_name, value in fields.items():
        name = str(raw_name).strip().lower()
        if blank(value):
            continue
        base = name.removesuffix("_dollars")
        if name.endswith("_dollars") and obj.fields.get(base) == "cents":
            if base in fields and not blank(fields[base]):
                raise InvalidRow(f"give {base} or {name}, not both")
            out[base] = _cents(name, value, dollars=True)
            continue
        kind = obj.fields.get(name)
        if kind is None:
            raise InvalidRow(
                f"unknown field {name!r} for {obj.name} (allowed: {', '.join(obj.fields)})"
            )
        out[name] = _value(name, kind, value)
    return out


def build_request(
    object_name: str, operation: str | None, target: str | None, fields: dict[str, Any]
) -> Request:
    """The request for one staged row; `InvalidRow` says why there is none."""
    obj = OBJECTS.get(str(object_name or "").strip())
    if obj is None:
        raise InvalidRow(unknown_object(str(object_name)))
    op = str(operation or "").strip().lower()
    if op not in obj.operations:
        raise InvalidRow(
            f"{obj.name} cannot {op or '(no operation)'!r} (operations: {', '.join(obj.operations)})"
        )
    values = desired_fields(obj, fields)
    target = None if blank(target) else str(target).strip()
    if op == CREATE:
        if target:
            raise InvalidRow(f"a create names no {obj.id_field} ({target!r} given): use update")
        missing = [f for f in obj.required if f not in values]
        if missing:
            raise InvalidRow(f"{', '.join(missing)} required to create a {obj.noun}")
        if obj.name == "leads":
            return _lead_request(obj, values)
        query = {f: str(values[f]) for f in obj.query if f in values}
        return Request(obj, op, "POST", obj.path, values, query)
    if not target:
        raise InvalidRow(f"{op} needs the {obj.noun}'s {obj.id_field}")
    if op == RENAME and set(values) != {"name"}:
        raise InvalidRow("rename takes only a new name")
    fixed = [f for f in CREATE_ONLY.get(obj.name, ()) if f in values]
    if fixed:
        raise InvalidRow(f"{', '.join(fixed)} cannot be changed by an update ({obj.name})")
    if not values:
        raise InvalidRow(f"{op} names no field to change")
    assert op in (UPDATE, RENAME)
    return Request(obj, op, "PUT", obj.update_path(target), values, target=target)


def _lead_request(obj: PushObject, values: dict[str, Any]) -> Request:
    """POST /leads: an existing `customer_id`, or the `customer_*` fields embedded."""
    customer = {
        k.removeprefix("customer_"): v
        for k, v in values.items()
        if k.startswith("customer_") and k != "customer_id"
    }
    body = {k: v for k, v in values.items() if not k.startswith("customer_")}
    if values.get("customer_id"):
        if customer:
            raise InvalidRow("give customer_id or customer_* fields, not both")
        body["customer_id"] = values["customer_id"]
    elif not any(customer.get(k) for k in ("first_name", "last_name", "email", "mobile_number")):
        raise InvalidRow(
            "a lead needs customer_id or a customer (customer_email, customer_first_name, ...)"
        )
    else:
        body["customer"] = customer
    return Request(obj, CREATE, "POST", obj.path, body)
