"""Builds the sandbox ASGI app: HCP routes + admin routes behind the gate."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.admin import admin_routes
from sandbox.companies import CompanyRouter, company_settings
from sandbox.gate import ASGIApp, HcpGate
from sandbox.hcp_routes import hcp_routes
from sandbox.seed import Dataset
from sandbox.settings import SandboxSettings
from sandbox.state import SandboxState


async def _http_error(request: Request, exc: Exception) -> Response:
    # ASSUMED (HCP_API.md §2 Errors): unknown paths answer HCP's usual error shape
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = (
        "Not found"
        if status == 404
        else (exc.detail if isinstance(exc, HTTPException) else "Internal server error")
    )
    return JSONResponse({"error": {"message": message}}, status_code=status)


def create_company_app(
    settings: SandboxSettings, dataset: Dataset | None = None
) -> tuple[HcpGate, SandboxState]:
    """One company's (ASGI app, state). `dataset` lets callers reuse an already built seed."""
    state = SandboxState(settings, dataset)
    starlette = Starlette(
        routes=[*admin_routes(state), *hcp_routes(state)],
        exception_handlers={HTTPException: _http_error},
    )
    return HcpGate(starlette, state), state


def create_app(
    settings: SandboxSettings | None = None, dataset: Dataset | None = None
) -> tuple[ASGIApp, list[SandboxState]]:
    """(ASGI app, each company's state; company 1 first). `dataset` is company 1's seed, if
    already built. With `settings.companies` > 1 the app routes by key (`sandbox/companies.py`)."""
    settings = settings or SandboxSettings()
    app, state = create_company_app(settings, dataset)
    if settings.companies == 1:
        return app, [state]
    apps: list[ASGIApp] = [app]
    states = [state]
    for n in range(2, settings.companies + 1):
        other_app, other = create_company_app(company_settings(settings, n))
        apps.append(other_app)
        states.append(other)
    return CompanyRouter(apps, states), states
