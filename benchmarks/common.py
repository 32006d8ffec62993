"""Helpers the benchmark command and the reliability drill share.

- `sandbox_process(...)`: `python -m sandbox` in its own process on loopback (so its CPU and
  memory are never counted against the code being measured); yields its URL and admin client.
- `run_measured(cmd)`: a child process whose peak RSS is sampled with psutil (the whole process
  tree, in case a step forks), with its wall time and output.
- `warehouse_snapshot` / `warehouse_diff`: "the warehouse equals the fault-free one, table by
  table" as code: every row of every `hcp` table, dlt's load bookkeeping left out.
- `machine()`, `load_average()`, `median()`: what every figure is printed next to.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import psutil

ROOT = Path(__file__).resolve().parents[1]
SANDBOX_KEY = "sandbox-key"


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: this repo importable, quiet, offline.

    Configured HCP credentials of the caller are dropped, so a child only ever talks to the
    sandbox it is given (never a real account by accident).
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SOURCES__HOUSECALLPRO", "DESTINATION__"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        RUNTIME__DLTHUB_TELEMETRY="false",
        RUNTIME__LOG_LEVEL="ERROR",
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    env.update(extra)
    return env


@dataclass
class SandboxProcess:
    """A running `python -m sandbox` child."""

    proc: subprocess.Popen[str]
    url: str
    api_key: str

    @property
    def admin(self) -> Any:
        """`sandbox.server.AdminClient` for this sandbox (settings, counters, dump, ...)."""
        from sandbox.server import AdminClient

        return AdminClient(self.url)


@contextmanager
def sandbox_process(
    *,
    scale: float = 1.0,
    seed: int = 42,
    api_key: str = SANDBOX_KEY,
    rate_limit: float = 0.0,
    latency_ms: float = 0.0,
    fault_rate: float = 0.0,
    faults: Sequence[str] | None = None,
    slow_seconds: float | None = None,
    reject_duplicate_emails: bool = False,
    startup_timeout_s: float = 120.0,
) -> Iterator[SandboxProcess]:
    """Serve a sandbox on 127.0.0.1 (any free port) in its own process for the block."""
    cmd = [sys.executable, "-m", "sandbox", "--port", "0", "--quiet"]
    cmd += ["--scale", str(scale), "--seed", str(seed), "--api-key", api_key]
    cmd += ["--rate-limit", str(rate_limit), "--latency-ms", str(latency_ms)]
    cmd += ["--fault-rate", str(fault_rate)]
    if faults is not None:
        cmd += ["--faults", ",".join(faults)]
    if slow_seconds is not None:
        cmd += ["--slow-seconds", str(slow_seconds)]
    if reject_duplicate_emails:
        cmd.append("--reject-duplicate-emails")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(startup_timeout_s)
        url = line[0].strip() if line else ""
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"sandbox did not start within {startup_timeout_s:.0f}s: {url!r}")
        yield SandboxProcess(proc, url, api_key)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@dataclass
class Measured:
    """One child process run: exit code, output, wall time and sampled peak RSS (MB)."""

    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    peak_rss_mb: float


def run_measured(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout_s: float = 900.0,
    interval_s: float = 0.05,
) -> Measured:
    """Run `cmd`, sampling the RSS of it and its children every `interval_s` (psutil).

    Sampling can miss a peak shorter than the interval; children that report their own
    `ru_maxrss` (the kernel's exact high-water mark) should be preferred for the headline and
    this used as the cross-check. Kills the child and raises `TimeoutError` past `timeout_s`.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd),
        env=env or child_env(),
        cwd=cwd or ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: dict[str, str] = {}
    readers = [
        threading.Thread(target=lambda: out.__setitem__("o", proc.stdout.read()), daemon=True),  # type: ignore[union-attr]
        threading.Thread(target=lambda: out.__setitem__("e", proc.stderr.read()), daemon=True),  # type: ignore[union-attr]
    ]
    for r in readers:
        r.start()
    peak = 0
    ps = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            tree = [ps, *ps.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.NoSuchProcess:
            pass  # it ended between poll() and the sample
        if time.perf_counter() - started > timeout_s:
            proc.kill()
            proc.wait()
            raise TimeoutError(f"{' '.join(cmd[:4])}... ran past {timeout_s:.0f}s")
        time.sleep(interval_s)
    for r in readers:
        r.join(30)
    return Measured(
        proc.returncode,
        out.get("o", ""),
        out.get("e", ""),
        time.perf_counter() - started,
        peak / 1024 / 1024,
    )


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """`nproc`, CPU model, memory, Python and OS, as one line for the reports."""
    mem_gb = psutil.virtual_memory().total / 1024**3
    return (
        f"nproc {len(os.sched_getaffinity(0))}, {cpu_model()}, {mem_gb:.0f} GB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def load_average() -> str:
    """The 1/5/15-minute load average: the machine is shared, so figures carry it."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f}/{five:.1f}/{fifteen:.1f}"


# ------------------------------------------------------------------ warehouse comparison


def hcp_tables(con: duckdb.DuckDBPyConnection, schema: str = "hcp") -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_schema = ? "
            "and table_name not like '_dlt%' order by 1",
            [schema],
        ).fetchall()
    ]


def warehouse_snapshot(db: str | Path, schema: str = "hcp") -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every raw table without dlt's bookkeeping columns, in a stable order."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out: dict[str, list[tuple[Any, ...]]] = {}
        for table in hcp_tables(con, schema):
            cols = [
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns where table_schema = ? "
                    "and table_name = ? and column_name not like '_dlt%' order by column_name",
                    [schema, table],
                ).fetchall()
            ]
            select = ", ".join(f'"{c}"' for c in cols)
            out[table] = con.execute(
                f'select {select} from {schema}."{table}" order by all'
            ).fetchall()
        return out
    finally:
        con.close()


def warehouse_diff(
    reference: dict[str, list[tuple[Any, ...]]], other: dict[str, list[tuple[Any, ...]]]
) -> list[str]:
    """Why two snapshots differ, table by table; empty when they are equal."""
    problems = []
    for table in sorted(set(reference) | set(other)):
        a, b = reference.get(table), other.get(table)
        if a is None or b is None:
            problems.append(f"{table}: only in {'the other' if a is None else 'the reference'}")
        elif a != b:
            problems.append(
                f"{table}: {len(a)} rows in the reference, {len(b)} here, contents differ"
            )
    return problems
