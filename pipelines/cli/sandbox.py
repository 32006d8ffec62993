"""`hcp sandbox`: the local Housecall Pro imitation. Its flags live in `sandbox.cli`, the one
home they share with `python -m sandbox`."""

from __future__ import annotations

from sandbox.cli import sandbox_command

__all__ = ["sandbox_command"]
