"""The sandbox in its own process (`python -m sandbox`) and the `hcp sandbox` command."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
import typer
from typer.testing import CliRunner

from pipelines.cli import sandbox as cli_sandbox
from pipelines.cli.sandbox import sandbox_command
from sandbox.__main__ import parse_args
from sandbox.banner import banner
from sandbox.settings import SandboxSettings


@pytest.mark.slow
def test_python_m_sandbox_prints_its_url_first_and_serves() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", "--scale", "0.1", "--api-key", "k-123"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        r = httpx.get(f"{base_url}/company", headers={"Authorization": "Token k-123"}, timeout=10)
        assert r.status_code == 200 and r.json()["time_zone"] == "America/Chicago"
        assert (
            httpx.get(
                f"{base_url}/company", headers={"Authorization": "Token sandbox-key"}
            ).status_code
            == 401
        )
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0


def test_hcp_sandbox_command_exposes_every_knob() -> None:
    app = typer.Typer()
    app.command()(sandbox_command)
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in (
        "--port",
        "--host",
        "--seed",
        "--scale",
        "--fault-rate",
        "--faults",
        "--rate-limit",
        "--latency-ms",
        "--api-key",
        "--reject-duplicate-emails",
        "--allow-duplicate-emails",
        "--strict-lead-sources",
        "--served-page-size",
    ):
        assert option in result.output, option


@pytest.mark.parametrize(
    ("flags", "rejects"),
    [([], False), (["--reject-duplicate-emails"], True), (["--allow-duplicate-emails"], False)],
)
def test_python_m_sandbox_accepts_duplicate_emails_unless_told(
    flags: list[str], rejects: bool
) -> None:
    # Live HCP accepts duplicates; the old --allow flag is a no-op kept for old scripts.
    settings = parse_args(flags)[0]
    assert settings.reject_duplicate_email is rejects
    expected = "rejected (422)" if rejects else "accepted, as live HCP does"
    assert f"duplicate emails: {expected}" in "\n".join(banner("http://x", settings))


def test_duplicate_email_flags_that_contradict_are_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    both = ["--reject-duplicate-emails", "--allow-duplicate-emails"]
    with pytest.raises(SystemExit):
        parse_args(both)
    assert "contradict" in capsys.readouterr().err
    app = typer.Typer()
    app.command()(sandbox_command)
    result = CliRunner().invoke(app, both)
    assert result.exit_code == 2 and "contradict" in result.output


def test_hcp_sandbox_rejects_an_unknown_fault_kind() -> None:
    app = typer.Typer()
    app.command()(sandbox_command)
    result = CliRunner().invoke(app, ["--faults", "500,explode"])
    assert result.exit_code != 0


@pytest.mark.parametrize(
    ("flag", "name", "banner_says"),
    [
        ("--served-page-size", "served_page_size", "at most 5 rows served"),
        ("--churn-every", "churn_every", "every 5th list request"),
    ],
)
def test_a_paging_knob_reaches_the_settings_from_both_commands(
    monkeypatch: pytest.MonkeyPatch, flag: str, name: str, banner_says: str
) -> None:
    served: list[SandboxSettings] = []
    monkeypatch.setattr(cli_sandbox, "serve", lambda settings, **kw: served.append(settings))
    app = typer.Typer()
    app.command()(sandbox_command)
    result = CliRunner().invoke(app, [flag, "5"])
    assert result.exit_code == 0, result.output
    assert [getattr(s, name) for s in served] == [5]
    assert getattr(parse_args([flag, "5"])[0], name) == 5
    assert getattr(parse_args([])[0], name) == 0
    assert any(banner_says in line for line in banner("http://x", served[0]))
    assert CliRunner().invoke(app, [flag, "-1"]).exit_code != 0
