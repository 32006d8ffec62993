"""Checking that a webhook POST came from HCP: the signature and the freshness of its timestamp.

HCP signs each delivery with the account's Signing Secret (HCP_API.md §7): `Api-Timestamp` is
unix seconds and `Api-Signature` the lowercase hex HMAC-SHA256 of `<timestamp>.<raw body>`
(AMP also accepts a `sha256=` prefix, so do we). A timestamp further than the tolerance from
our clock, either way, is refused so a captured delivery cannot be replayed later.

Must never: log, return or raise anything that contains the secret or the body; compare
signatures with `==` (timing); parse the body before it is verified.
"""

from __future__ import annotations

import hashlib
import hmac

DEFAULT_TOLERANCE_S = 300.0


class BadSignature(Exception):
    """Why a delivery failed verification, in words safe to log (no secret, no body)."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HCP's signature of one delivery: hex HMAC-SHA256(secret, "<timestamp>.<body>")."""
    message = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> None:
    """Return when the delivery is HCP's and fresh; raise `BadSignature` saying why not."""
    if not signature:
        raise BadSignature("missing Api-Signature header")
    if not timestamp:
        raise BadSignature("missing Api-Timestamp header")
    try:
        sent = int(timestamp.strip())
        timestamp.encode("ascii")
    except (ValueError, UnicodeEncodeError):
        raise BadSignature("Api-Timestamp is not unix seconds") from None
    skew = now - sent
    if abs(skew) > tolerance_s:
        direction = "old" if skew > 0 else "in the future"
        raise BadSignature(
            f"Api-Timestamp is {abs(skew):.0f} s {direction} (tolerance {tolerance_s:g} s)"
        )
    given = signature.strip().lower().removeprefix("sha256=")
    expected = sign(secret, timestamp.strip(), body)
    if not hmac.compare_digest(given.encode("ascii", "replace"), expected.encode("ascii")):
        raise BadSignature("Api-Signature does not match")
