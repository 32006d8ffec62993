"""HCP's query-string rules: array params, paging, sorting and the two list envelopes.

HCP_API.md §2: arrays only as repeated `name[]=v` (a bare `name=v` -> 422
`{"errors":{"name":"must be an array"}}`; a bare `expand=` is refused the same way); unknown
params, sorts and expands are ignored; `page` is 1-based (default 1), `page_size` defaults to 10
and over 200 is a 400 "Size must be less than or equal to 200" (live HCP; §9 assumed clamping),
routes serve at most 100; a page past the end is `[]` with the true totals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from sandbox.objects import ObjectSpec


class QueryError(Exception):
    """A request HCP refuses (422, or 400 for an over-cap page size or a bad date) before
    looking at any data."""

    def __init__(self, body: dict[str, Any], status: int = 422) -> None:
        super().__init__(body)
        self.body = body
        self.status = status


@dataclass(frozen=True)
class Page:
    page: int
    size: int
    """The page size asked (capped), which `total_pages` counts in."""
    served: int = 0
    """Rows actually served per page when fewer than `size` (0: `size`)."""

    @property
    def rows(self) -> int:
        return self.served or self.size


def array_params(
    params: QueryParams, spec: ObjectSpec, extra: Sequence[str] = ()
) -> dict[str, list[str]]:
    """Values of every array param of `spec` (`name[]=v`); a bare `name=` is a 422."""
    out: dict[str, list[str]] = {}
    for name in (*spec.arrays, *extra):
        if name in params:
            raise QueryError({"errors": {name: "must be an array"}})
        values = [v for v in params.getlist(f"{name}[]") if v != ""]
        if values:
            out[name] = values
    return out


def _int(value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        return int(float(value))
    except ValueError:
        return default


HCP_MAX_PAGE_SIZE = 200


def page_of(params: QueryParams, spec: ObjectSpec, served_page_size: int = 0) -> Page:
    """The page asked; a page size over HCP's 200 is a 400, as live (not clamped)."""
    page = max(1, _int(params.get("page"), 1))
    raw = params.get(spec.page_size_param)
    if raw is None and spec.page_size_param != "page_size":
        raw = params.get("page_size")  # routes: per_page per spec, page_size tolerated
    asked = max(1, _int(raw, 10))
    if asked > HCP_MAX_PAGE_SIZE:
        message = f"Size must be less than or equal to {HCP_MAX_PAGE_SIZE}"
        raise QueryError({"message": message}, status=400)
    size = min(spec.max_page_size, asked)
    served = served_page_size if 0 < served_page_size < size else 0
    return Page(page, size, served)


def sort_of(params: QueryParams, spec: ObjectSpec) -> tuple[str, tuple[str, ...], bool]:
    """(sort name, field path, descending). Unknown sorts fall back to created_at desc."""
    sort_by = params.get("sort_by")
    if spec.sorts is None or sort_by not in spec.sorts:
        sort_by = "created_at"
    path = spec.sorts[sort_by] if spec.sorts and sort_by in spec.sorts else ("created_at",)
    desc = params.get("sort_direction", "desc").lower() != "asc" if spec.takes_direction else False
    return sort_by, path, desc


def envelope(spec: ObjectSpec, rows: list[Any], total: int, page: Page) -> dict[str, Any]:
    """The list body HCP sends for this object (standard, price-book or routes)."""
    pages = math.ceil(total / page.size) if total else 0
    if spec.envelope == "pricebook":
        return {
            "object": "list",
            "page": page.page,
            "page_size": page.size,
            "total_pages_count": pages,
            "total_count": total,
            "data": rows,
            "url": spec.url,
        }
    return {
        "page": page.page,
        "page_size": page.size,
        "total_pages": pages,
        "total_items": total,
        spec.key: rows,
    }
