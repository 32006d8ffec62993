"""HCP's public endpoints as the sandbox serves them: lists, single reads, and the writes.

Auth, limits and faults happen before these handlers (`gate.py`); here is only what HCP does
with a request it accepted: HCP_API.md §2 (query rules, envelopes), §3 (objects, filters), §4
(record shapes) and §6 (writes).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.auth import Role, is_app_key
from sandbox.filters import apply, predicates
from sandbox.objects import OBJECTS, SINGLE_PATHS, ObjectSpec
from sandbox.query import Page, QueryError, array_params, envelope, page_of, sort_of
from sandbox.seed import Record
from sandbox.writes import (
    WriteError,
    create_customer,
    create_lead,
    create_lead_source,
    create_tag,
    update_customer,
)
from sandbox.writes_catalog import (
    create_job_type,
    create_material,
    create_material_category,
    create_price_form,
    rename,
    update_material,
    update_material_category,
    update_price_form,
)

if TYPE_CHECKING:  # the state imports `shape` (webhook records) from here
    from sandbox.state import SandboxState

Endpoint = Callable[[Request], Awaitable[Response]]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message}}, status_code=status)


def _expand(request: Request, allowed: tuple[str, ...]) -> set[str]:
    """`expand[]=...` values (a bare `expand=` is refused by `array_params`' 422)."""
    return {v for v in request.query_params.getlist("expand[]") if v in allowed}


def shape(obj: str, rec: Record, expand: set[str]) -> Record:
    """The record as served for this request (expand-only parts added or left out)."""
    if obj == "jobs":
        out = {k: v for k, v in rec.items() if k != "attachments" or "attachments" in expand}
        sched = rec.get("schedule")
        if isinstance(sched, dict) and "appointments" not in expand:
            out["schedule"] = {k: v for k, v in sched.items() if k != "appointments"}
        return out
    if obj == "customers" and expand:
        out = dict(rec)
        if "attachments" in expand:
            out["attachments"] = []
        if "do_not_service" in expand:
            out["do_not_service"] = False
        return out
    return rec


_EXPANDS = {
    "customers": ("attachments", "do_not_service"),
    "jobs": ("attachments", "appointments"),
    "estimates": ("attachments",),
}


def _page_rows(rows: list[Record], page: Page, desc: bool) -> list[Record]:
    """One page of `rows` (ascending) in the requested direction, without copying the list.

    Pages hold `page.rows` rows (the served size, `served_page_size`), counted from the start.
    """
    n, size = len(rows), page.rows
    start = (page.page - 1) * size
    if start >= n:
        return []
    if not desc:
        return rows[start : start + size]
    hi = n - start
    return rows[max(0, hi - size) : hi][::-1]


def list_endpoint(state: SandboxState, spec: ObjectSpec) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        params = request.query_params
        store = state.store
        try:
            arrays = array_params(params, spec)
            if spec.name == "materials" and not params.get("material_category_uuid"):
                raise QueryError({"errors": {"material_category_uuid": ["is missing"]}})
            page = page_of(params, spec, state.settings.served_page_size)
            preds = predicates(spec.name, params, arrays, store)
        except QueryError as exc:
            return JSONResponse(exc.body, status_code=exc.status)
        state.churn.on_list(store, spec.name, state.settings.churn_every)
        sort_by, path, desc = sort_of(params, spec)
        rows = store.sorted_asc(spec.name, sort_by, path)
        if preds:
            rows = apply(rows, preds)
        expand = set(arrays.get("expand", ())) & set(_EXPANDS.get(spec.name, ()))
        served = [shape(spec.name, r, expand) for r in _page_rows(rows, page, desc)]
        return JSONResponse(envelope(spec, served, len(rows), page))

    return endpoint


def single_endpoint(state: SandboxState, obj: str, not_found: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        if "expand" in request.query_params:
            return JSONResponse({"errors": {"expand": "must be an array"}}, status_code=422)
        rec = state.store.get(obj, request.path_params["id"])
        if rec is None:
            return _error(404, not_found)
        return JSONResponse(shape(obj, rec, _expand(request, _EXPANDS.get(obj, ()))))

    return endpoint


def _job_or_404(state: SandboxState, request: Request) -> Record | Response:
    job = state.store.get("jobs", request.path_params["id"])
    return job if job is not None else _error(404, "Job not found")


def job_children(state: SandboxState) -> list[Route]:
    async def line_items(request: Request) -> Response:
        job = _job_or_404(state, request)
        if isinstance(job, Response):
            return job
        # live shape {object,data,url} [HAE line_items.json]
        return JSONResponse(
            {
                "object": "list",
                "data": state.store.line_items(job),
                "url": f"/jobs/{job['id']}/line_items",
            }
        )

    async def appointments(request: Request) -> Response:
        job = _job_or_404(state, request)
        if isinstance(job, Response):
            return job
        return JSONResponse({"appointments": (job.get("schedule") or {}).get("appointments") or []})

    async def invoices(request: Request) -> Response:
        job = _job_or_404(state, request)
        if isinstance(job, Response):
            return job
        return JSONResponse(
            {"invoices": [i for i in state.store.all("invoices") if i.get("job_id") == job["id"]]}
        )

    async def addresses(request: Request) -> Response:
        customer = state.store.get("customers", request.path_params["id"])
        if customer is None:
            return _error(404, "Customer not found")
        rows = customer.get("addresses") or []
        spec = ObjectSpec("addresses", "", "standard", "addresses")
        try:
            page = page_of(request.query_params, spec, state.settings.served_page_size)
        except QueryError as exc:
            return JSONResponse(exc.body, status_code=exc.status)
        return JSONResponse(envelope(spec, _page_rows(rows, page, False), len(rows), page))

    return [
        Route("/jobs/{id}/line_items", line_items, methods=["GET"]),
        Route("/jobs/{id}/appointments", appointments, methods=["GET"]),
        Route("/jobs/{id}/invoices", invoices, methods=["GET"]),
        Route("/customers/{id}/addresses", addresses, methods=["GET"]),
    ]


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise WriteError(400, {"error": {"message": "Invalid JSON body"}}) from None


def write_endpoint(
    state: SandboxState,
    action: Callable[..., Record],
    status: int,
    with_id: bool = False,
    with_query: bool = False,
) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        try:
            body = await _body(request)
            if with_id:
                rec = action(state.store, request.path_params["id"], body)
            elif with_query:
                rec = action(state.store, body, dict(request.query_params))
            else:
                rec = action(state.store, body)
        except WriteError as exc:
            return JSONResponse(exc.body, status_code=exc.status)
        return JSONResponse(rec, status_code=status)

    return endpoint


def company_endpoint(state: SandboxState) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        role = request.scope.get("state", {}).get("hcp_role", Role.FULL)
        company = dict(state.store.company)
        # only application keys see nested locations (HCP_API.md §2 Headers [HAE])
        if not is_app_key(role, state.settings):
            company.pop("locations", None)
        return JSONResponse(company)

    return endpoint


def catalog_write_routes(state: SandboxState) -> list[Route]:
    """The object push's writes (HCP_API.md §6): picklist renames, job types, the price book."""
    book = "/api/price_book"
    creates = [
        ("/job_fields/job_types", create_job_type, False),
        (f"{book}/material_categories", create_material_category, False),
        (f"{book}/materials", create_material, True),
        (f"{book}/price_forms", create_price_form, False),
    ]
    updates = [
        ("/tags", rename("tags")),
        ("/lead_sources", rename("lead_sources")),
        ("/job_fields/job_types", rename("job_types")),
        (f"{book}/material_categories", update_material_category),
        (f"{book}/materials", update_material),
        (f"{book}/price_forms", update_price_form),
    ]
    routes = [
        # the spec answers these creates with 200, not 201
        Route(path, write_endpoint(state, action, 200, with_query=query), methods=["POST"])
        for path, action, query in creates
    ]
    routes += [
        Route(path + "/{id}", write_endpoint(state, action, 200, with_id=True), methods=["PUT"])
        for path, action in updates
    ]
    return routes


def hcp_routes(state: SandboxState) -> list[Route]:
    routes: list[Route] = [
        Route("/company", company_endpoint(state), methods=["GET"]),
        Route("/customers", write_endpoint(state, create_customer, 201), methods=["POST"]),
        Route(
            "/customers/{id}",
            write_endpoint(state, update_customer, 200, with_id=True),
            methods=["PUT"],
        ),
        Route("/lead_sources", write_endpoint(state, create_lead_source, 201), methods=["POST"]),
        Route("/tags", write_endpoint(state, create_tag, 201), methods=["POST"]),
        Route("/leads", write_endpoint(state, create_lead, 201), methods=["POST"]),
        *catalog_write_routes(state),
        *job_children(state),
    ]
    for spec in OBJECTS.values():
        routes.append(Route(spec.path, list_endpoint(state, spec), methods=["GET"]))
    for obj, (path, message) in SINGLE_PATHS.items():
        routes.append(Route(path, single_endpoint(state, obj, message), methods=["GET"]))
    return routes
