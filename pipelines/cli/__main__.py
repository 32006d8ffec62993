"""`python -m pipelines.cli ...` is `hcp ...` (for subprocesses that have no `hcp` on PATH)."""

from pipelines.cli.app import main

main()
