"""`hcp verify`: one line and the documented exit code for each answer HCP can give."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import respx
from typer.testing import CliRunner

from pipelines.cli import app

ROOT = Path(__file__).resolve().parents[1]
BASE = "https://hcp.test"
KEY = "verify_SECRET_key_42"


@pytest.fixture(autouse=True)
def configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__API_KEY", KEY)
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__BASE_URL", BASE)


@pytest.mark.parametrize(
    ("status", "body", "code", "words"),
    [
        (200, {"id": "c1", "name": "Acme Plumbing"}, 0, "Connected to Acme Plumbing"),
        (401, {"message": "Unauthorized"}, 2, 'HCP says 401 "Unauthorized": the key was revoked'),
        (401, {"error": {"message": "Token revoked"}}, 2, 'HCP says 401 "Token revoked"'),
        (401, {}, 2, 'HCP says 401 "Unauthorized": the key was revoked'),  # reason phrase
        (401, {"message": "Unauthorized"}, 2, "Generate a new one"),
        (403, {"error": {"message": "Permission denied"}}, 3, "admin's key"),
        (500, {"error": {"message": "boom"}}, 1, "HCP answered an error"),
    ],
)
@respx.mock
def test_verify_exit_codes(status: int, body: dict, code: int, words: str) -> None:
    route = respx.get(f"{BASE}/company").mock(return_value=httpx.Response(status, json=body))
    result = CliRunner().invoke(app, ["verify"])
    assert result.exit_code == code, result.output
    assert words in " ".join(result.output.split())
    assert KEY not in result.output
    assert route.calls.last.request.headers["Authorization"] == f"Token {KEY}"


def test_verify_connection_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__BASE_URL", "http://127.0.0.1:9")
    result = CliRunner().invoke(app, ["verify"])
    assert result.exit_code == 1
    assert "Could not reach HCP" in " ".join(result.output.split())


def test_verify_without_key_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCES__HOUSECALLPRO__API_KEY")
    result = CliRunner().invoke(app, ["verify"])
    assert result.exit_code == 1
    assert "SOURCES__HOUSECALLPRO__API_KEY" in result.output


def test_malformed_secrets_file_is_named_not_read_as_no_key(tmp_path: Path) -> None:
    """A typo in secrets.toml must be reported as such, not as "no key configured".

    dlt reads its TOML files once per process, so this runs `hcp verify` fresh, as a user would.
    """
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "secrets.toml").write_text('[sources.housecallpro]\napi_key = "abc\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    env.update({"DLT_PROJECT_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)})
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "verify"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 1, output
    assert "secrets.toml" in output
    assert "line 2" in output
    assert "No HCP API key configured" not in output
    assert "Traceback" not in output
