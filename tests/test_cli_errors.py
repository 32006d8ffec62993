"""What a new user's mistakes look like: one red line naming what to fix, exit 1, no traceback.

Each case went through `HcpGroup` (pipelines/cli/options.py), the one place such errors become
an exit; the messages come from the code that knows the setting (config, destination, verify).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
import respx
from typer.testing import CliRunner, Result

from pipelines.cli import app

BASE = "https://hcp.test"


@pytest.fixture(autouse=True)
def no_config(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    yield


def one_line(result: Result, code: int = 1) -> str:
    """The command's whole output, asserted to be one line (never wrapped, no traceback)."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def test_unknown_account_lists_the_configured_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__ACCOUNTS__NORTH__API_KEY", "k1")
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__ACCOUNTS__EAST__API_KEY", "k2")
    line = one_line(CliRunner().invoke(app, ["verify", "--account", "south"]))
    assert line.startswith("No account 'south' is configured; configured: ")
    assert "north" in line and "east" in line
    assert "SOURCES__HOUSECALLPRO__ACCOUNTS__SOUTH__API_KEY" in line
    assert "k1" not in line and "k2" not in line


@pytest.mark.parametrize(
    ("env", "args", "setting"),
    [
        (
            {"SOURCES__HOUSECALLPRO__BASE_URL": "127.0.0.1:8765"},
            [],
            "SOURCES__HOUSECALLPRO__BASE_URL",
        ),
        ({}, ["--base-url", "localhost:8765"], "--base-url"),
    ],
)
def test_a_base_url_without_a_scheme_is_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], args: list[str], setting: str
) -> None:
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__API_KEY", "sk-key")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with respx.mock(assert_all_called=False) as router:  # any request would be a bug
        line = one_line(CliRunner().invoke(app, ["verify", *args]))
        assert not router.calls
    assert line.startswith(f"{setting} must start with http:// or https://")


@pytest.mark.parametrize(
    ("destination", "credentials", "words"),
    [
        (
            "postgres",
            None,
            "Destination 'postgres' has no credentials: set DESTINATION__POSTGRES__CREDENTIALS",
        ),
        ("postgress", None, "Unknown destination 'postgress' (SYNC__DESTINATION"),
        ("postgres", "not-a-dsn", "DESTINATION__POSTGRES__CREDENTIALS cannot be read"),
    ],
)
def test_destination_mistakes_are_one_line(
    monkeypatch: pytest.MonkeyPatch, destination: str, credentials: str | None, words: str
) -> None:
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__API_KEY", "sk-key")
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__BASE_URL", BASE)
    monkeypatch.setenv("SYNC__DESTINATION", destination)
    if credentials:
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", credentials)
    with respx.mock(assert_all_called=False) as router:
        line = one_line(CliRunner().invoke(app, ["sync"]))
        assert not router.calls  # checked before HCP is read
    assert words in line
    assert "not-a-dsn" not in line  # credentials are never echoed


def test_a_refused_key_names_that_accounts_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__ACCOUNTS__NORTH__API_KEY", "sk-north-key")
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__BASE_URL", BASE)
    with respx.mock(base_url=BASE) as router:
        router.get("/company").mock(
            return_value=httpx.Response(401, json={"message": "Unauthorized"})
        )
        line = one_line(CliRunner().invoke(app, ["verify", "--account", "north"]), code=2)
    assert "update SOURCES__HOUSECALLPRO__ACCOUNTS__NORTH__API_KEY or .dlt/secrets.toml" in line
    assert "sk-north-key" not in line


def test_sandbox_on_a_port_in_use_says_so() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line(CliRunner().invoke(app, ["sandbox", "--port", str(port)]))
    assert line.startswith(f"Cannot listen on 127.0.0.1:{port} (")
    assert "pick another port with --port" in line


@pytest.mark.timeout(60)
def test_serve_with_the_prefect_api_down_says_so() -> None:
    from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    with temporary_settings({PREFECT_API_URL: url, PREFECT_CLIENT_MAX_RETRIES: 0}):
        result = CliRunner().invoke(app, ["serve", "--only", "hcp-webhooks-drain"])
    line = one_line(result)
    assert line.startswith(f"No Prefect server answers at {url} (")
    assert "prefect server start" in line
