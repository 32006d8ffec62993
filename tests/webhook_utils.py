"""Helpers shared by the webhook tests: a fixed clock, a secret and HCP-shaped signed events.

The signature is computed here from HCP_API.md §7's formula directly (not with
`pipelines.webhooks.verify.sign`), so a wrong formula in the code cannot agree with itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json

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


def hcp_signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signed_headers(
    body: bytes, *, timestamp: int | None = None, secret: str = SECRET
) -> dict[str, str]:
    ts = str(int(NOW) if timestamp is None else timestamp)
    return {
        "Content-Type": "application/json",
        "Api-Timestamp": ts,
        "Api-Signature": hcp_signature(secret, ts, body),
    }
