"""dlt honours the sync's defaults: the files extract and normalize write are not gzipped
(the extract writer's settings live under `sources`, which an `EXTRACT__...` key never reached)."""

from __future__ import annotations

import os
from pathlib import Path

import dlt
import pytest

from pipelines.sync.run import DLT_DEFAULTS, apply_dlt_defaults

GZIP_MAGIC = b"\x1f\x8b"


def first_bytes(folder: Path, part: str) -> list[bytes]:
    files = [f for f in folder.rglob("*") if f.is_file() and part in f.parts and "t." in f.name]
    assert files, f"no load file of table t under {part}"
    return [f.read_bytes()[:2] for f in files]


def test_extract_and_normalize_files_are_not_compressed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in DLT_DEFAULTS:
        monkeypatch.delenv(key, raising=False)
    apply_dlt_defaults()
    pipeline = dlt.pipeline(
        pipeline_name="defaults_check", destination="duckdb", pipelines_dir=str(tmp_path)
    )

    @dlt.resource(name="t")
    def rows() -> list[dict[str, object]]:
        return [{"id": i, "name": "x" * 40} for i in range(500)]

    pipeline.extract(rows())
    assert GZIP_MAGIC not in first_bytes(tmp_path, "new_jobs")
    pipeline.normalize()
    assert GZIP_MAGIC not in first_bytes(tmp_path, "normalized")


def test_a_users_own_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__DATA_WRITER__DISABLE_COMPRESSION", "false")
    apply_dlt_defaults()
    assert os.environ["SOURCES__DATA_WRITER__DISABLE_COMPRESSION"] == "false"
