"""The sandbox's own admin API under `/_sandbox/`: ground truth, switches, and changes.

Never authenticated, rate limited, delayed or faulted (the gate lets it through), so a test or
a drill can always see and steer the sandbox while the HCP side misbehaves. Bind the sandbox to
loopback (the default) because anyone who can reach it can change everything.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.clock import iso
from sandbox.objects import OBJECTS
from sandbox.state import SandboxState
from sandbox.store import UnknownObject


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


def _bad(message: str, status: int = 422) -> JSONResponse:
    return JSONResponse({"error": {"message": message}}, status_code=status)


def admin_routes(state: SandboxState) -> list[Route]:
    store = state.store

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "objects": {n: len(store.all(n)) for n in OBJECTS}})

    async def keys(request: Request) -> Response:
        s = state.settings
        return JSONResponse(
            {
                "api_key": s.api_key,
                "readonly_key": s.readonly_key,
                "noaccess_key": s.noaccess_key,
                "company_only_key": s.company_only_key,
            }
        )

    async def settings(request: Request) -> Response:
        if request.method == "PATCH":
            try:
                state.update_settings(await _json(request))
            except (ValueError, TypeError) as exc:
                return _bad(str(exc))
        return JSONResponse(state.settings.public())

    async def counters(request: Request) -> Response:
        if request.method == "POST":  # /counters/reset
            state.counters.reset()
        return JSONResponse(state.counters.snapshot())

    async def reset(request: Request) -> Response:
        state.reset()
        return JSONResponse({"ok": True, "clock": iso(store.clock.now())})

    async def created(request: Request) -> Response:
        return JSONResponse(
            {"customers": state.created_customers(), "log": list(store.created_customers)}
        )

    async def dump(request: Request) -> Response:
        wanted = request.query_params.get("objects")
        names = [n for n in wanted.split(",") if n] if wanted else None
        try:
            return JSONResponse(store.dump(names))
        except UnknownObject as exc:
            return _bad(f"unknown object {exc.args[0]!r}", 404)

    async def objects(request: Request) -> Response:
        obj = request.path_params["obj"]
        try:
            if request.method == "POST":
                return JSONResponse(store.add(obj, await _json(request)), status_code=201)
            return JSONResponse({"records": store.all(obj)})
        except UnknownObject:
            return _bad(f"unknown object {obj!r}", 404)
        except ValueError as exc:
            return _bad(str(exc))

    async def one(request: Request) -> Response:
        obj, rid = request.path_params["obj"], request.path_params["id"]
        try:
            if request.method == "PATCH":
                rec = store.update(obj, rid, await _json(request))
            elif request.method == "DELETE":
                return (
                    Response(status_code=204) if store.delete(obj, rid) else _bad("not found", 404)
                )
            else:
                rec = store.get(obj, rid)
        except UnknownObject:
            return _bad(f"unknown object {obj!r}", 404)
        except ValueError as exc:
            return _bad(str(exc))
        return JSONResponse(rec) if rec is not None else _bad("not found", 404)

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await _json(request)
                state.faults.enqueue(
                    str(body.get("kind")),
                    int(body.get("count", 1)),
                    body.get("method"),
                    body.get("path"),
                )
            except (ValueError, TypeError) as exc:
                return _bad(str(exc))
            return JSONResponse({"queued": state.faults.queued()}, status_code=201)
        return JSONResponse({"queued": state.faults.queued()})

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            try:
                store.clock.advance(float((await _json(request)).get("advance_seconds", 0)))
            except (ValueError, TypeError) as exc:
                return _bad(str(exc))
        return JSONResponse({"now": iso(store.clock.now())})

    p = "/_sandbox"
    return [
        Route(f"{p}/health", health, methods=["GET"]),
        Route(f"{p}/keys", keys, methods=["GET"]),
        Route(f"{p}/settings", settings, methods=["GET", "PATCH"]),
        Route(f"{p}/counters", counters, methods=["GET"]),
        Route(f"{p}/counters/reset", counters, methods=["POST"]),
        Route(f"{p}/reset", reset, methods=["POST"]),
        Route(f"{p}/created_customers", created, methods=["GET"]),
        Route(f"{p}/dump", dump, methods=["GET"]),
        Route(f"{p}/faults", faults, methods=["GET", "POST"]),
        Route(f"{p}/clock", clock, methods=["GET", "POST"]),
        Route(f"{p}/objects/{{obj}}", objects, methods=["GET", "POST"]),
        Route(f"{p}/objects/{{obj}}/{{id}}", one, methods=["GET", "PATCH", "DELETE"]),
    ]
