"""Regenerate `tests/fixtures/hcp_spec_shapes.json` from HCP's OpenAPI spec.

The conformance test (`tests/test_sandbox_conformance.py`) checks the sandbox's list envelopes
and record keys/JSON types against this compact fixture, because a user's clone has no
`../shared/ref/`. Run from the repo root:

    .venv/bin/python scripts/make_spec_fixture.py [--spec PATH] [--out PATH]

Default spec: `../shared/ref/hcp_openapi_v1.amp-patched.yaml` (the corrected copy, which wins
over the original). Known spec-versus-live deltas are not patched here: the test carries them
as an explicit, commented allow-list, so the fixture stays a faithful digest of the spec.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = ROOT.parent / "shared" / "ref" / "hcp_openapi_v1.amp-patched.yaml"
DEFAULT_OUT = ROOT / "tests" / "fixtures" / "hcp_spec_shapes.json"

# The GET endpoints the sandbox serves for a warehouse sync (HCP_API.md §3).
ENDPOINTS = (
    "/customers",
    "/customers/{customer_id}",
    "/jobs",
    "/jobs/{job_id}/line_items",
    "/estimates",
    "/invoices",
    "/leads",
    "/lead_sources",
    "/employees",
    "/tags",
    "/job_fields/job_types",
    "/events",
    "/api/price_book/materials",
    "/api/price_book/material_categories",
    "/api/price_book/price_forms",
    "/api/price_book/services",
    "/service_zones",
    "/routes",
    "/company",
)
MAX_DEPTH = 4


class Flattener:
    """Turns a schema into {dotted.path: sorted JSON types}; `a[]` marks array items."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.schemas = spec["components"]["schemas"]

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.schemas[node["$ref"].rsplit("/", 1)[-1]]
        if "allOf" in node:
            merged: dict[str, Any] = {"type": "object", "properties": {}}
            for part in node["allOf"]:
                part = self.resolve(part)
                merged["properties"].update(part.get("properties", {}))
                if part.get("nullable"):
                    merged["nullable"] = True
            if node.get("nullable"):
                merged["nullable"] = True
            return merged
        return node

    def types(self, node: dict[str, Any]) -> list[str]:
        node = self.resolve(node)
        if "oneOf" in node or "anyOf" in node:
            out: set[str] = set()
            for alt in node.get("oneOf", node.get("anyOf", [])):
                out.update(self.types(alt))
            return sorted(out)
        kind = node.get("type")
        if kind is None:
            kind = "object" if "properties" in node else "any"
        found = {kind}
        if node.get("nullable"):
            found.add("null")
        return sorted(found)

    def flatten(
        self, node: dict[str, Any], prefix: str = "", depth: int = 0
    ) -> dict[str, list[str]]:
        node = self.resolve(node)
        out: dict[str, list[str]] = {}
        if depth >= MAX_DEPTH:
            return out
        for name, child in (node.get("properties") or {}).items():
            path = f"{prefix}{name}"
            out[path] = self.types(child)
            resolved = self.resolve(child)
            if resolved.get("type") == "array" or "items" in resolved:
                items = self.resolve(resolved.get("items") or {})
                if items.get("properties"):
                    out.update(self.flatten(items, f"{path}[].", depth + 1))
            elif resolved.get("properties"):
                out.update(self.flatten(resolved, f"{path}.", depth + 1))
        return out


def endpoint_shape(flat: Flattener, op: dict[str, Any]) -> dict[str, Any]:
    schema = flat.resolve(op["responses"]["200"]["content"]["application/json"]["schema"])
    props = schema.get("properties") or {}
    arrays = [k for k, v in props.items() if flat.resolve(v).get("type") == "array"]
    if len(arrays) == 1 and ("page" in props or "data" in props):
        key = arrays[0]
        return {
            "envelope": {k: flat.types(v) for k, v in props.items()},
            "records_key": key,
            "record": flat.flatten(flat.resolve(props[key]).get("items") or {}),
        }
    return {"envelope": None, "records_key": None, "record": flat.flatten(schema)}


def build(spec_path: Path) -> dict[str, Any]:
    raw = spec_path.read_bytes()
    spec = yaml.safe_load(raw)
    flat = Flattener(spec)
    return {
        "source": {
            "title": spec["info"]["title"],
            "version": spec["info"]["version"],
            "file": spec_path.name,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "origin": "HCP's OpenAPI spec as patched by Ampersand (amp-labs/connectors "
            "providers/housecallPro/metadata/openapi/schema.yaml); see HCP_API.md §1 SPEC",
        },
        "generated_by": "scripts/make_spec_fixture.py",
        "note": "Types are JSON types from the spec; `a[].b` is a key of the items of array a. "
        "Spec-versus-live deltas live in the test's allow-list, not here.",
        "endpoints": {path: endpoint_shape(flat, spec["paths"][path]["get"]) for path in ENDPOINTS},
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    data = build(args.spec)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"wrote {args.out} ({len(data['endpoints'])} endpoints) from {args.spec}")


if __name__ == "__main__":
    main()
