"""`hcp`: the command line over `pipelines/` (typer + rich live only in this package)."""

from pipelines.cli.app import app, main

__all__ = ["app", "main"]
