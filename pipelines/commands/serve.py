"""`hcp serve` (arrives with issue 9)."""

from __future__ import annotations

from pipelines.commands._pending import not_yet


def serve_command() -> None:
    """Not available yet (issue 9)."""
    not_yet("serve", 9)
