"""The sandbox's envelopes and records agree with HCP's own OpenAPI spec.

The spec's shapes come from `tests/fixtures/hcp_spec_shapes.json` (regenerate with
`scripts/make_spec_fixture.py`; a user's clone has no ../shared). Where the spec is wrong versus
live evidence cited in HCP_API.md, the difference is listed below with its source; anything else
that differs fails the test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.server import SandboxHandle

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "hcp_spec_shapes.json").read_text())
SHAPES: dict[str, dict[str, Any]] = FIXTURE["endpoints"]

# Keys the sandbox serves that the spec lacks: each seen live (HCP_API.md §1 keys in brackets).
EXTRA_KEYS: dict[str, set[str]] = {
    "*": {
        "kind",  # Customer.kind "homeowner" [HAE customers.json, jobs.json]
        "customer.kind",
        "addresses[].latitude",  # [HAE customers.json]
        "addresses[].longitude",
        "address.latitude",  # embedded job/estimate address [HAE jobs.json, estimate.json]
        "address.longitude",
        "schedule.time_zone",  # schedules since 2026-08-20 [KB changelog][HAE jobs.json]
        "schedule.scheduled_start_local",
        "schedule.scheduled_end_local",
        "assigned_route_template_id",  # [HAE jobs.json, estimate.json]
    },
    "/jobs": {"recurrence_status", "recurrence_id"},  # [HAE jobs.json]
    "/estimates": {
        "options[].approval_status_updated_at",  # [KB changelog]
        "estimate_fields.job_type",  # live is {job_type, business_unit}, spec *_id [HAE estimate.json]
        "estimate_fields.business_unit",
    },
    "/invoices": {"items[].description"},  # ASSUMED from job line items (HCP_API.md §4)
    "/jobs/{job_id}/line_items": {
        "object",  # envelope {object,data,url} and items' object/url/duration [HAE line_items.json]
        "duration_in_minutes",
        "url",
    },
    "/api/price_book/material_categories": {
        "total_pages_count"
    },  # [AMP read-material-category-*.json]
    "/company": {"franchise_info"},  # and its keys [HAE company.json]
}

# Spec keys the sandbox leaves out of a default response, and why.
MISSING_KEYS: dict[str, set[str]] = {
    "/customers": {"attachments", "do_not_service"},  # only with expand[] (spec param enum)
    "/customers/{customer_id}": {"attachments", "do_not_service"},
    "/jobs": {"attachments"},  # only with expand[]=attachments [HAE jobs.json has none]
    "/estimates": {
        "options[].attachments",  # only with expand[]=attachments
        "estimate_fields.job_type_id",  # live has job_type/business_unit objects [HAE estimate.json]
        "estimate_fields.business_unit_id",
    },
    "/company": {"locations[].locations"},  # only a franchise has nested levels [HAE company.json]
}

# Keys whose spec type is wrong versus live evidence.
TYPE_DELTAS: dict[str, dict[str, str]] = {
    "*": {
        "customer.notes": "string",  # spec: Note[] on Job.customer; live string|null [HAE jobs.json]
        "locked_at": "string",  # spec says type "date-time" (a format, not a JSON type)
        "object": "string",  # material_categories envelope: spec says integer, live "list" [AMP]
    },
    "/company": {
        "default_arrival_window": "integer"
    },  # spec string; live 0/30/120 [HAE company.json]
}

JSON_TYPES = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    list: "array",
    dict: "object",
}


def json_type(value: Any) -> str:
    return "null" if value is None else JSON_TYPES[type(value)]


def flatten(
    value: Any, prefix: str = "", out: dict[str, set[str]] | None = None, depth: int = 0
) -> dict[str, set[str]]:
    """{dotted.path: JSON types seen} over a record (array items merged, as in the fixture)."""
    out = {} if out is None else out
    if depth >= 4 or not isinstance(value, dict):
        return out
    for key, child in value.items():
        path = f"{prefix}{key}"
        out.setdefault(path, set()).add(json_type(child))
        if isinstance(child, dict):
            flatten(child, f"{path}.", out, depth + 1)
        elif isinstance(child, list):
            for item in child:
                flatten(item, f"{path}[].", out, depth + 1)
    return out


def type_ok(actual: str, allowed: list[str]) -> bool:
    if actual == "null" or "any" in allowed:
        return True  # HCP_API.md §4: fields nullable unless noted
    return actual in allowed or (actual == "integer" and "number" in allowed)


def _open_parent(path: str, spec: dict[str, list[str]]) -> bool:
    """True when an ancestor is a spec object/array without listed keys (free-form)."""
    parts = path.replace("[]", "").split(".")
    for i in range(1, len(parts)):
        parent = ".".join(parts[:i])
        candidates = [p for p in (parent, parent + "[]") if p.replace("[]", "") == parent]
        for key in (parent, *candidates):
            if key in spec and not any(
                k.startswith(key + ".") or k.startswith(key + "[].") for k in spec
            ):
                return True
    return False


def check(endpoint: str, actual: dict[str, set[str]], spec: dict[str, list[str]]) -> list[str]:
    extra = EXTRA_KEYS.get("*", set()) | EXTRA_KEYS.get(endpoint, set())
    missing_ok = MISSING_KEYS.get(endpoint, set())
    deltas = {**TYPE_DELTAS.get("*", {}), **TYPE_DELTAS.get(endpoint, {})}
    problems = []
    for path, types in sorted(actual.items()):
        if path not in spec:
            covered = any(path == e or path.startswith((e + ".", e + "[].")) for e in extra)
            if not covered and not _open_parent(path, spec):
                problems.append(f"{endpoint}: served key {path!r} is not in HCP's spec")
            continue
        allowed = spec[path] + ([deltas[path]] if path in deltas else [])
        bad = [t for t in types if not type_ok(t, allowed)]
        if bad:
            problems.append(f"{endpoint}: {path!r} is {bad}, spec says {spec[path]}")
    for path in sorted(spec):
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        parent_present = not parent or parent in actual
        if parent_present and path not in actual and path not in missing_ok:
            # a nested key can only be checked where its parent actually holds a value
            if parent and actual.get(parent) == {"null"}:
                continue
            problems.append(f"{endpoint}: spec key {path!r} is missing")
    return problems


def _request(h: SandboxHandle, endpoint: str) -> tuple[str, dict[str, str]]:
    state = h.state
    if endpoint == "/customers/{customer_id}":
        return f"/customers/{state.records('customers')[0]['id']}", {}
    if endpoint == "/jobs/{job_id}/line_items":
        job = next(j for j in state.records("jobs") if j["subtotal"] > 20000)
        return f"/jobs/{job['id']}/line_items", {}
    if endpoint == "/api/price_book/materials":
        return endpoint, {
            "material_category_uuid": state.records("materials")[0]["material_category_uuid"]
        }
    if endpoint == "/jobs":
        return endpoint, {"expand[]": "appointments", "page_size": "200"}
    if endpoint == "/routes":
        day = max(r["date"] for r in state.records("routes"))
        return endpoint, {"date": day, "per_page": "100"}
    return endpoint, {"page_size": "200"}


def test_fixture_names_its_source() -> None:
    assert FIXTURE["source"]["file"] == "hcp_openapi_v1.amp-patched.yaml"
    assert len(FIXTURE["source"]["sha256"]) == 64
    assert FIXTURE["generated_by"] == "scripts/make_spec_fixture.py"


@pytest.mark.parametrize("endpoint", sorted(SHAPES))
def test_endpoint_matches_hcps_spec(sandbox: SandboxHandle, endpoint: str) -> None:
    shape = SHAPES[endpoint]
    path, params = _request(sandbox, endpoint)
    with sandbox.client() as c:
        response = c.get(path, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    problems: list[str] = []
    if shape["envelope"] is not None:
        envelope = {k: {json_type(v)} for k, v in body.items()}
        spec_env = shape["envelope"]
        problems += check(endpoint, {k: t for k, t in envelope.items()}, spec_env)
        records = body[shape["records_key"]]
        assert records, f"{endpoint} served no records to check"
    else:
        records = [body]
    actual: dict[str, set[str]] = {}
    for rec in records:
        flatten(rec, "", actual)
    problems += check(endpoint, actual, shape["record"])
    assert not problems, "\n".join(problems)


def test_the_checker_catches_a_wrong_type_and_an_unknown_key() -> None:
    spec = {"id": ["string"], "amount": ["integer"]}
    assert check("/x", {"id": {"string"}, "amount": {"string"}}, spec)
    assert check("/x", {"id": {"string"}, "amount": {"integer"}, "surprise": {"string"}}, spec)
    assert not check("/x", {"id": {"string"}, "amount": {"null"}}, spec)
