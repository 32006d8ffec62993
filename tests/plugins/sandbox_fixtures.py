"""Pytest fixtures that run the local HCP sandbox (loaded from tests/conftest.py).

- `sandbox`: one default sandbox (seed 42, scale 1) per test session, reset to the seed and its
  original settings before each test that uses it, so tests can write freely.
- `sandbox_factory`: starts sandboxes with custom settings for one test and stops them after.
- `synced_warehouse`: one sync of the default sandbox per session, shared by every module that
  reads the models (copy it before writing: `shutil.copy(synced_warehouse, tmp_path / ...)`).
  Seeded datasets are built once per data-shaping settings and shared (the store never
  mutates seeded records), so extra sandboxes start in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sandbox.seed import Dataset, build_dataset
from sandbox.server import SandboxHandle, run_sandbox
from sandbox.settings import SandboxSettings

_DATASETS: dict[tuple[Any, ...], Dataset] = {}


def sandbox_dataset(settings: SandboxSettings) -> Dataset:
    """The seeded data for `settings`, built once per (seed, scale, anchor, zone, name)."""
    key = (
        settings.seed,
        settings.scale,
        settings.anchor,
        settings.time_zone,
        settings.company_name,
    )
    if key not in _DATASETS:
        _DATASETS[key] = build_dataset(settings)
    return _DATASETS[key]


@pytest.fixture(scope="session")
def _sandbox_session() -> Iterator[SandboxHandle]:
    settings = SandboxSettings()
    with run_sandbox(settings, dataset=sandbox_dataset(settings)) as handle:
        yield handle


@pytest.fixture
def sandbox(_sandbox_session: SandboxHandle) -> SandboxHandle:
    """A running default sandbox, freshly reset (data, counters, limiter, settings)."""
    handle = _sandbox_session
    handle.state.store.settings = SandboxSettings()
    handle.state.reset()
    return handle


@pytest.fixture(scope="session")
def synced_warehouse(
    tmp_path_factory: pytest.TempPathFactory, _sandbox_session: SandboxHandle
) -> Path:
    """The default sandbox synced once (its seeded data, reset first); treat it as read-only."""
    from pipelines.config import Account
    from pipelines.sync import sync_account

    handle = _sandbox_session
    handle.state.reset()
    db = tmp_path_factory.mktemp("synced") / "synced.duckdb"
    account = Account("default", handle.api_key, handle.base_url, rate_limit=0.0)
    result = sync_account(account, db, pipelines_dir=db.parent / "dlt")
    assert result.ok, result.message
    return db


SandboxFactory = Callable[..., SandboxHandle]


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    """`sandbox_factory(fault_rate=0.1, ...)` or `sandbox_factory(SandboxSettings(...))`."""
    with ExitStack() as stack:

        def start(settings: SandboxSettings | None = None, **changes: Any) -> SandboxHandle:
            s = replace(settings or SandboxSettings(), **changes)
            return stack.enter_context(run_sandbox(s, dataset=sandbox_dataset(s)))

        yield start
