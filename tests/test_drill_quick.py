"""The reliability drill's quick mode in CI, so a regression in any drill turns CI red.

`python -m benchmarks.drill --quick` runs every drill at a small size (faults at 10% with every
kind, 4 SIGKILLs across sync and push, 2 across the object push, 160 malformed rows and 13 malformed files, the key scan
after a demo-like run and three flows, two sync flows and a push at once, 300 signed webhooks
with the receiver killed -9 once mid-burst). It runs in its own
process: it starts its own Prefect test server and sandboxes and must not share this session's.
About 1.5-2.5 minutes on 2 shared CPUs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_quick_drill_passes(tmp_path: Path) -> None:
    report = tmp_path / "drill.md"
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.drill", "--quick", "--out", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
    )
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    failed = [name for name, ok in summary["drills"].items() if not ok]
    assert run.returncode == 0 and summary["passed"], (
        f"drills failed: {failed}\n\n{report.read_text() if report.exists() else run.stdout[-6000:]}"
        f"\n\nstderr:\n{run.stderr[-3000:]}"
    )
    text = report.read_text()
    for drill in (
        "faults",
        "kills",
        "object kills",
        "bad input",
        "secrets",
        "concurrency",
        "webhooks",
    ):
        assert f"| {drill} | PASS |" in text, drill
