"""Reproducible benchmarks and reliability drills (`python -m benchmarks`, `python -m benchmarks.drill`); figures in BENCHMARKS.md and RELIABILITY.md."""
