"""The webhook receiver: an ASGI app that verifies HCP's deliveries and spools them durably.

`POST /webhooks/<account>` takes one event (HCP_API.md §7). A delivery is answered 200 only
after `Spool.append` returned, so every acknowledged event is on disk; a redelivery is 200 too
and stored once. The unsigned setup probe `{"foo":"bar"}` is 200 and not stored. Statuses:
404 unknown account, 413 body over the limit (read with a limit, never buffered whole), 401 bad
or missing signature or a stale/future timestamp, 400 malformed JSON, 503 when the spool cannot
commit (HCP retries; nothing was acknowledged). An event type outside §7's list is stored like
any other and left for the drain to flag. `GET /healthz` answers with the spool's counts.

Library code: no typer, no rich; `hcp webhooks serve` (pipelines/cli/webhooks.py) runs it.
Must never: open the DuckDB warehouse (a sync may hold it for minutes, HCP wants an answer in
seconds), answer 2xx before the spool committed, or log a body or a secret.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pipelines.webhooks.spool import Spool
from pipelines.webhooks.verify import DEFAULT_TOLERANCE_S, BadSignature, verify

log = logging.getLogger("hcp.webhooks")

MAX_BODY_BYTES = 1_000_000
SETUP_PROBE = {"foo": "bar"}
"""What HCP POSTs, unsigned, when the Webhooks app's URL is saved; it needs a 2xx."""
KNOWN_EVENT_PREFIXES = (
    "customer.",
    "estimate.",
    "invoice.",
    "job.",  # job.appointment.* included
    "lead.",
    "employee.",
    "pro.",
)
"""The event families of HCP_API.md §7; anything else is stored and flagged by the drain."""


class BodyTooLarge(Exception):
    pass


def is_known_event(name: object) -> bool:
    """Whether `name` is in one of HCP's documented event families."""
    return isinstance(name, str) and name.startswith(KNOWN_EVENT_PREFIXES)


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refusing (`BodyTooLarge`) as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _is_probe(body: bytes) -> bool:
    try:
        return json.loads(body) == SETUP_PROBE
    except ValueError:
        return False


def _answer(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"status": message, **extra}, status_code=status)


def create_app(
    secrets_by_account: Mapping[str, str],
    spool: Spool,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    clock: Callable[[], float] = time.time,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Starlette:
    """The receiver for these accounts' Signing Secrets, appending to `spool`."""
    secrets = dict(secrets_by_account)

    async def receive(request: Request) -> Response:
        account = request.path_params["account"]
        secret = secrets.get(account)
        if secret is None:
            log.warning("webhook for unknown account %r refused (404)", account)
            return _answer(404, "unknown account")
        try:
            body = await read_limited(request, max_body_bytes)
        except BodyTooLarge:
            log.warning("webhook for %r refused: body over %d bytes (413)", account, max_body_bytes)
            return _answer(413, "body too large")
        except ClientDisconnect:
            log.warning("webhook for %r: sender went away mid-body", account)
            return _answer(400, "incomplete body")
        timestamp = request.headers.get("api-timestamp")
        signature = request.headers.get("api-signature")
        if _is_probe(body):  # unsigned as HCP sends it; signed or not, it is never stored
            log.info("webhook setup probe for %r answered (not stored)", account)
            return _answer(200, "probe")
        try:
            verify(secret, timestamp, signature, body, now=clock(), tolerance_s=tolerance_s)
        except BadSignature as exc:
            log.warning("webhook for %r refused (401): %s", account, exc)
            return _answer(401, "signature refused")
        try:
            event = json.loads(body)
        except ValueError:
            log.warning("webhook for %r refused: body is not JSON (400)", account)
            return _answer(400, "malformed JSON")
        if not isinstance(event, dict):
            log.warning("webhook for %r refused: body is not a JSON object (400)", account)
            return _answer(400, "not an event object")
        try:
            stored = await run_in_threadpool(
                spool.append, account, signature or "", body, api_timestamp=timestamp
            )
        except Exception as exc:  # noqa: BLE001 - any spool failure must not be acknowledged
            log.error("webhook for %r NOT stored (503): %s: %s", account, type(exc).__name__, exc)
            return _answer(503, "spool unavailable")
        name = event.get("event")
        if not is_known_event(name):
            log.warning("webhook for %r: unknown event type %.80r (stored)", account, name)
        return _answer(200, "stored" if stored else "duplicate", known=is_known_event(name))

    async def healthz(request: Request) -> Response:
        counts = await run_in_threadpool(spool.counts)
        return JSONResponse({"ok": True, "accounts": sorted(secrets), "spool": counts})

    return Starlette(
        routes=[
            Route("/webhooks/{account}", receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
