"""`hcp sync` (arrives with issue 5)."""

from __future__ import annotations

from pipelines.commands._pending import not_yet


def sync_command() -> None:
    """Not available yet (issue 5)."""
    not_yet("sync", 5)
