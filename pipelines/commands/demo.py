"""`hcp demo` (arrives with issue 10)."""

from __future__ import annotations

from pipelines.commands._pending import not_yet


def demo_command() -> None:
    """Not available yet (issue 10)."""
    not_yet("demo", 10)
