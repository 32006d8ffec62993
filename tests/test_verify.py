"""`hcp verify`: one line and the documented exit code for each answer HCP can give."""

from __future__ import annotations

import httpx
import pytest
import respx
from typer.testing import CliRunner

from pipelines.cli import app

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
        (401, {"error": {"message": "Invalid API token"}}, 2, "Generate a new one"),
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
