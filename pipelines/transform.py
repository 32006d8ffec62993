"""`run_transforms`: build the `analytics` models of `transforms/` in a DuckDB file.

The entry point flows, the CLI and the demo share. It holds the file's cross-process lock for the
whole run (DESIGN.md: one process at a time on a DuckDB file) and delegates the work to
`transforms.runner`, which builds everything in one transaction and commits only when the
blocking audits pass.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipelines import config
from pipelines.warehouse import connect
from transforms.project import load_project
from transforms.runner import AuditError, ModelResult, RunResult, TransformError, run_project
from transforms.seeds import seed_overrides

__all__ = ["AuditError", "RunResult", "TransformError", "run_transforms"]


def run_transforms(
    db_path: str | Path,
    *,
    seeds: dict[str, Path] | None = None,
    seeds_dir: str | Path | None = None,
    on_model: Callable[[ModelResult], None] | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> RunResult:
    """Rebuild every model into schema `analytics` of `db_path`; idempotent.

    The seed CSVs are the package's, replaced by name by those in `seeds_dir` (default: the
    configured `[transform] seeds_dir`), and those by `seeds` (`{"marketing_spend": Path(...)}`).
    Raises `TransformError` (no raw data, a broken model), `AuditError` (bad rows; nothing
    committed) or `ProjectError` (a seed file that does not read: file, line and value named).
    """
    path = Path(db_path)
    if not path.exists():
        raise TransformError(f"{path} does not exist: run `hcp sync` first")
    models = load_project()
    folder = config.seeds_dir(seeds_dir)
    chosen = {**(seed_overrides(folder, models) if folder else {}), **(seeds or {})}
    with connect(path, on_wait=on_wait) as con:
        return run_project(con, models, on_model=on_model, seeds=chosen)
