"""`hcp verify` (written with the client)."""

from __future__ import annotations


def verify_command() -> None:
    """Check the key with GET /company."""
