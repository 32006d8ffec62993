"""Column hints name only fields HCP sends.

A hint makes dlt create the column even when no record carries it, so a hint for a field HCP's
objects do not have (an invoice's `tax_amount`, a lead's `created_at`) made an always-NULL column
that an analyst reads as data. Checked against HCP's own spec (the shapes fixture generated from
`ref/hcp_openapi_v1.amp-patched.yaml`); fields HCP_API.md documents beyond the spec are named
below with their source.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from sources.housecallpro.settings import OBJECTS

SHAPES = json.loads((Path(__file__).parent / "fixtures" / "hcp_spec_shapes.json").read_text())[
    "endpoints"
]
# HCP_API.md §3 "Time/money": since 2026-08-20 schedules add these (KB changelog, HAE jobs.json);
# §4 Estimate: options gained approval_status_updated_at (KB changelog). The spec predates both.
DOCUMENTED_BEYOND_SPEC = {
    ("jobs", "schedule__time_zone"),
    ("jobs", "schedule__scheduled_start_local"),
    ("jobs", "schedule__scheduled_end_local"),
    ("estimates", "schedule__time_zone"),
    ("estimates", "schedule__scheduled_start_local"),
    ("estimates", "schedule__scheduled_end_local"),
    ("estimates", "options.approval_status_updated_at"),
}


def spec_key(column: str, child: str | None = None) -> str:
    """`customer__id` -> `customer.id`; a child table's column -> `parent[].column`."""
    if child is None:
        return column.replace("__", ".")
    return child.replace("__", ".") + "[]." + column.replace("__", ".")


def hinted(obj) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    out = [(name, spec_key(name)) for name in obj.columns or {}]
    for child, spec in (obj.nested or {}).items():
        out += [(f"{child}.{n}", spec_key(n, child)) for n in spec.get("columns", {})]
    return out


def unknown_hints(obj) -> list[str]:  # type: ignore[no-untyped-def]
    record = SHAPES[obj.path]["record"]
    return [
        name
        for name, key in hinted(obj)
        if key not in record and (obj.table, name) not in DOCUMENTED_BEYOND_SPEC
    ]


@pytest.mark.parametrize("obj", [o for o in OBJECTS if o.path in SHAPES], ids=lambda o: o.table)
def test_every_hinted_column_is_a_field_hcp_sends(obj) -> None:  # type: ignore[no-untyped-def]
    assert unknown_hints(obj) == [], f"{obj.table}: hints for fields HCP's spec lacks"


def test_a_hint_for_a_field_hcp_does_not_send_is_caught() -> None:
    invoices = next(o for o in OBJECTS if o.table == "invoices")
    columns = {**invoices.columns, "tax_amount": {"name": "tax_amount", "data_type": "bigint"}}
    nested = {"payments": {"columns": {"paid_at": {}, "refunded_at": {}}}}
    wrong = dataclasses.replace(invoices, columns=columns, nested=nested)
    assert unknown_hints(wrong) == ["tax_amount", "payments.refunded_at"]
