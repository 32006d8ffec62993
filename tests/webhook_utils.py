"""Helpers shared by the webhook tests: a fixed clock, a secret and HCP-shaped signed events.

Events are signed the way the sandbox (our HCP imitation) signs them, not with
`pipelines.webhooks.verify.sign`, so a wrong formula in the receiver cannot agree with itself.
"""

from __future__ import annotations

import json

from sandbox.webhooks import sign as hcp_signature

NOW = 1_775_143_244.0
SECRET = "0123456789abcdef0123456789abcdef"


def event_body(event: str, rid: str, **extra: object) -> bytes:
    key = "appointment" if event.startswith("job.appointment.") else event.split(".")[0]
    envelope = {
        "event": event,
        "event_occurred_at": "2026-04-02T15:20:38Z",
        "company_id": "c0ffee00-0000-4000-8000-000000000000",
        key: {"id": rid, **extra},
    }
    return json.dumps(envelope).encode()


def signed_headers(
    body: bytes, *, timestamp: int | None = None, secret: str = SECRET
) -> dict[str, str]:
    ts = str(int(NOW) if timestamp is None else timestamp)
    return {
        "Content-Type": "application/json",
        "Api-Timestamp": ts,
        "Api-Signature": hcp_signature(secret, ts, body),
    }
