"""The sandbox in its own process (`python -m sandbox`) and the `hcp sandbox` command.

Both are one command (`sandbox.cli`), so a flag added to one is in the other.
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
import typer
from typer.testing import CliRunner

import sandbox.cli as sandbox_cli
from pipelines.cli.app import app as hcp_app
from pipelines.cli.sandbox import sandbox_command
from sandbox.banner import banner
from sandbox.settings import SandboxSettings


def settings_from(flags: list[str], monkeypatch: pytest.MonkeyPatch) -> SandboxSettings:
    """The settings `python -m sandbox <flags>` would serve (the server itself not started)."""
    served: list[SandboxSettings] = []
    monkeypatch.setattr(sandbox_cli, "serve", lambda settings, **kw: served.append(settings))
    with pytest.raises(SystemExit) as exit_:
        sandbox_cli.main(flags)
    assert exit_.value.code == 0
    return served[0]


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
    flags: list[str], rejects: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Live HCP accepts duplicates; the old --allow flag is a no-op kept for old scripts.
    settings = settings_from(flags, monkeypatch)
    assert settings.reject_duplicate_email is rejects
    expected = "rejected (422)" if rejects else "accepted, as live HCP does"
    assert f"duplicate emails: {expected}" in "\n".join(banner("http://x", settings))


def test_duplicate_email_flags_that_contradict_are_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    both = ["--reject-duplicate-emails", "--allow-duplicate-emails"]
    with pytest.raises(SystemExit) as exit_:
        sandbox_cli.main(both)
    assert exit_.value.code == 2
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
    monkeypatch.setattr(sandbox_cli, "serve", lambda settings, **kw: served.append(settings))
    result = CliRunner().invoke(hcp_app, ["sandbox", flag, "5"])
    assert result.exit_code == 0, result.output
    assert [getattr(s, name) for s in served] == [5]
    app = typer.Typer()
    app.command()(sandbox_command)
    assert getattr(settings_from([flag, "5"], monkeypatch), name) == 5
    assert getattr(settings_from([], monkeypatch), name) == 0
    assert any(banner_says in line for line in banner("http://x", served[0]))
    assert CliRunner().invoke(app, [flag, "-1"]).exit_code != 0


def test_both_commands_print_the_base_url_first_then_the_banner_unless_quiet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Handle:
        base_url = "http://127.0.0.1:9999"
        settings = SandboxSettings()

    monkeypatch.setattr(sandbox_cli, "serve", lambda settings, on_ready, **kw: on_ready(Handle()))
    loud = CliRunner().invoke(hcp_app, ["sandbox", "--port", "0"])
    assert loud.exit_code == 0, loud.output
    assert loud.output.splitlines()[0] == "http://127.0.0.1:9999"
    assert "Ctrl-C stops it." in loud.output
    quiet = CliRunner().invoke(hcp_app, ["sandbox", "--quiet"])
    assert quiet.output.splitlines() == ["http://127.0.0.1:9999"]
