#!/usr/bin/env python3
"""Two commands for a fresh machine with only Python >= 3.11:

    python3 run.py demo    # create .venv from uv.lock, then run `hcp demo` against the bundled sandbox
    python3 run.py test    # create/refresh .venv if needed, then run the whole test suite

Anything after the command is passed on (`python3 run.py test -k client`, `python3 run.py hcp sync`).
uv is bootstrapped from PyPI into .tools/ so nothing outside the repository is touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
TOOLS = ROOT / ".tools" / "uv"
UV_VERSION = "0.13.9"
BIN = "Scripts" if os.name == "nt" else "bin"


def say(text: str) -> None:
    print(f"[run.py] {text}", flush=True)


def ensure_uv() -> Path:
    uv = TOOLS / BIN / "uv"
    if uv.exists():
        return uv
    say(f"bootstrapping uv {UV_VERSION} from PyPI into {TOOLS.relative_to(ROOT)}/ ...")
    venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
    subprocess.run(
        [str(TOOLS / BIN / "python"), "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"],
        check=True,
    )
    return uv


def ensure_venv() -> None:
    """Install exactly what uv.lock says into .venv (a no-op in about a second when current)."""
    uv = ensure_uv()
    env = dict(os.environ)
    env.update(
        {
            "UV_PROJECT_ENVIRONMENT": str(VENV),
            "UV_PYTHON_DOWNLOADS": "never",
            # This machine sets PYTHONDONTWRITEBYTECODE: without compiled bytecode every
            # `import prefect` costs seconds.
            "UV_COMPILE_BYTECODE": "1",
        }
    )
    say("syncing .venv from uv.lock ...")
    subprocess.run(
        [str(uv), "sync", "--frozen", "--python", sys.executable, "--quiet"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def run_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("MPLBACKEND", "Agg")
    env["PATH"] = f"{VENV / BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_workers(rest: list[str]) -> list[str]:
    """Two pytest-xdist workers, one test file each at a time, unless the caller chose (`-n`,
    `-p no:xdist`): most tests wait on sandboxes, subprocesses and Prefect, so two workers on
    two CPUs take about three quarters of the serial time (BENCHMARKS.md, "Test suite")."""
    chose = any(a == "-n" or a.startswith("-n") or a == "no:xdist" for a in rest)
    return [] if chose else ["-n", "2", "--dist", "loadfile"]


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - run.py must explain itself on an old Python
        say(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}.")
        return 1
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    ensure_venv()
    if command == "demo":
        cmd = [str(VENV / BIN / "hcp"), "demo", *rest]
    elif command == "test":
        cmd = [str(VENV / BIN / "python"), "-m", "pytest", *test_workers(rest), *rest]
    elif command == "hcp":
        cmd = [str(VENV / BIN / "hcp"), *rest]
    else:
        say(f"unknown command {command!r}: use demo, test or hcp")
        return 2
    return subprocess.call(cmd, cwd=ROOT, env=run_env())


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
