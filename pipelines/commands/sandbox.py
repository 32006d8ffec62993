"""`hcp sandbox` (arrives with issue 4)."""

from __future__ import annotations

from pipelines.commands._pending import not_yet


def sandbox_command() -> None:
    """Not available yet (issue 4)."""
    not_yet("sandbox", 4)
