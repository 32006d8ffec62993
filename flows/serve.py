"""Serve every deployment of `prefect.yaml` from one process with Prefect's `serve()` (`hcp serve`).

`prefect.yaml` is the one place schedules, parameters and concurrency limits are written; this
module reads it and hands the same deployments to `prefect.serve`, so `hcp serve` (no work pool,
the single-machine way) and `prefect deploy --all` (a worker of the `hcp-local` pool) cannot
drift apart. Flow runs start as subprocesses of this process and import the flows by module
path, so the working folder only matters for where `.dlt/` and `hcp_sync.duckdb` are found.

It lives in `flows/`, beside `prefect.yaml` (`BUNDLED_FILE`, one folder up), because it loads
the flows the file names; `pipelines/` never imports it, and the CLI's `hcp serve` imports it
only when that command runs. It parses and serves; it prints nothing (the CLI words errors).
"""

from __future__ import annotations

import datetime
import importlib
import logging
import signal
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

PROJECT_FILE = "prefect.yaml"
BUNDLED_FILE = Path(__file__).resolve().parent.parent / PROJECT_FILE
"""The `prefect.yaml` shipped with hcp-sync, used when the working folder has none."""


class ServeConfigError(Exception):
    """`prefect.yaml` is missing or does not describe a deployment hcp-sync can serve."""


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment of `prefect.yaml`, in the terms `flow.to_deployment` takes."""

    name: str
    entrypoint: str
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: tuple[dict[str, Any], ...] = ()
    concurrency_limit: dict[str, Any] | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()


def project_file(path: str | Path | None = None) -> Path:
    """`path`, else `./prefect.yaml`, else the bundled one."""
    if path:
        chosen = Path(path)
        if not chosen.is_file():
            raise ServeConfigError(f"{chosen} does not exist.")
        return chosen
    local = Path.cwd() / PROJECT_FILE
    return local if local.is_file() else BUNDLED_FILE


def load_specs(path: str | Path | None = None) -> list[DeploymentSpec]:
    """The deployments of `prefect.yaml`, in file order."""
    file = project_file(path)
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    specs = []
    for entry in data.get("deployments") or []:
        try:
            specs.append(
                DeploymentSpec(
                    name=str(entry["name"]),
                    entrypoint=str(entry["entrypoint"]),
                    parameters=dict(entry.get("parameters") or {}),
                    schedules=tuple(entry.get("schedules") or ()),
                    concurrency_limit=entry.get("concurrency_limit"),
                    description=entry.get("description"),
                    tags=tuple(entry.get("tags") or ()),
                )
            )
        except KeyError as exc:
            raise ServeConfigError(f"{file}: a deployment has no {exc.args[0]!r}.") from None
    if not specs:
        raise ServeConfigError(f"{file} lists no deployments.")
    return specs


def load_flow(entrypoint: str) -> Any:
    """`flows/sync.py:sync_flow` -> the flow object, imported by module path (not by file)."""
    file, _, attr = entrypoint.partition(":")
    module = file.removesuffix(".py").replace("/", ".").replace("\\", ".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ServeConfigError(f"cannot load flow {entrypoint!r}: {exc}") from exc


def build_schedules(spec: DeploymentSpec, every_s: float | None = None) -> list[Any]:
    """The spec's schedules as Prefect `Schedule`s; `every_s` replaces them all (for trying out)."""
    from prefect.schedules import Cron, Interval

    if every_s is not None:
        return [Interval(datetime.timedelta(seconds=every_s))]
    built = []
    for schedule in spec.schedules:
        timezone = schedule.get("timezone")
        if "interval" in schedule:
            built.append(Interval(datetime.timedelta(seconds=float(schedule["interval"]))))
        elif "cron" in schedule:
            built.append(Cron(str(schedule["cron"]), timezone=timezone))
        else:
            raise ServeConfigError(f"{spec.name}: only interval and cron schedules are served.")
    return built


def build_deployments(
    specs: Iterable[DeploymentSpec],
    only: Iterable[str] | None = None,
    every_s: float | None = None,
) -> list[RunnerDeployment]:
    """`RunnerDeployment`s for `prefect.serve`, with the file's parameters and concurrency limits."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig
    from prefect.types.entrypoint import EntrypointType

    specs = list(specs)
    wanted = set(only or ())
    unknown = wanted - {s.name for s in specs}
    if unknown:
        raise ServeConfigError(
            f"no deployment named {sorted(unknown)}; choose from {[s.name for s in specs]}"
        )
    deployments = []
    for spec in specs:
        if wanted and spec.name not in wanted:
            continue
        limit = (
            ConcurrencyLimitConfig(**spec.concurrency_limit)
            if isinstance(spec.concurrency_limit, dict)
            else spec.concurrency_limit
        )
        deployments.append(
            load_flow(spec.entrypoint).to_deployment(
                name=spec.name,
                schedules=build_schedules(spec, every_s),
                parameters=spec.parameters,
                concurrency_limit=limit,
                description=spec.description,
                tags=list(spec.tags),
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
        )
    return deployments


def api_url() -> str | None:
    """The Prefect API `hcp serve` would talk to (`PREFECT_API_URL`, env or profile), if any."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def serve_deployments(
    path: str | Path | None = None,
    only: Iterable[str] | None = None,
    every_s: float | None = None,
    limit: int | None = None,
) -> None:
    """Serve the deployments until interrupted: Ctrl-C or SIGTERM pauses every one of them
    (no runs are scheduled while nothing serves them), then returns."""
    from prefect import serve

    deployments = build_deployments(load_specs(path), only, every_s)
    check_api()
    # Prefect's runner installs its SIGTERM handler (pause, then exit) only once it runs; a
    # SIGTERM while the deployments are being registered killed the process with them active.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    quiet_exit = _CleanExitOnShutdown()
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.addFilter(quiet_exit)
    try:
        with warnings.catch_warnings():
            # Prefect 3.8's SIGTERM handler calls the async `stop()` inside the event loop and
            # leaves its coroutine unawaited: harmless (the runner pauses the deployments on the
            # way out either way) but it printed a RuntimeWarning on every `kill`.
            warnings.filterwarnings(
                "ignore",
                message="coroutine 'Runner.astop' was never awaited",
                category=RuntimeWarning,
            )
            serve(*deployments, limit=limit)
    except KeyboardInterrupt:
        pass  # Ctrl-C or SIGTERM before the runner started: paused below, as after it
    finally:
        signal.signal(signal.SIGTERM, previous)
        asyncio_log.removeFilter(quiet_exit)
        pause([d.full_name for d in deployments])


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _only_clean_exits(exc: BaseException | None) -> bool:
    """`SystemExit(0)`, or exception groups holding nothing else."""
    if isinstance(exc, SystemExit):
        return exc.code in (0, None)
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_clean_exits(e) for e in exc.exceptions)
    return False


class _CleanExitOnShutdown(logging.Filter):
    """Prefect 3.8's SIGTERM handler pauses the deployments, then calls `sys.exit(0)` inside its
    task groups; now and then asyncio logs that clean exit as an "unhandled exception during
    asyncio.run() shutdown" with a traceback. Drop exactly that record (any other error, or an
    exit with a failure code, is still logged)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        shutdown = str(record.msg).startswith("unhandled exception during asyncio.run() shutdown")
        return not (shutdown and _only_clean_exits(exc))


def pause(names: Iterable[str]) -> None:
    """Pause the named deployments (idempotent: the runner has usually paused them already);
    `ServeConfigError` when the server cannot be told, so the user knows to pause them."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            for name in names:
                try:
                    client.pause_deployment(client.read_deployment_by_name(name).id)
                except ObjectNotFound:
                    continue  # never registered: nothing is scheduled for it
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means the same
        raise ServeConfigError(
            f"Stopped, but could not pause the deployments ({type(exc).__name__}): pause them "
            "in the Prefect UI, or they keep getting scheduled runs nobody serves."
        ) from None


def check_api() -> None:
    """`ServeConfigError` unless a Prefect server answers at `PREFECT_API_URL`: serving would
    otherwise end in an httpx traceback ("All connection attempts failed")."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        problem = client.api_healthcheck()
    if problem is not None:
        raise ServeConfigError(
            f"No Prefect server answers at {api_url()} ({type(problem).__name__}): start one "
            "with `prefect server start`, or set PREFECT_API_URL to the one you use."
        )
