"""Flow logic without a Prefect server: retry policy, failure threshold, artifacts, prefect.yaml."""

from __future__ import annotations

import datetime
import inspect

import pytest
from prefect.states import Failed

from flows.accounts import redact
from flows.artifacts import AccountFigures, PushFigures, push_markdown, sync_markdown
from flows.push_leads import check_failed_share
from flows.retry import KeyRejected, is_transient, retry_if_transient
from flows.serve import build_deployments, load_flow, load_specs
from pipelines.config import ConfigError
from pipelines.leads.failures import TooManyFailedLeads
from sources.housecallpro.errors import (
    AuthError,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
)
from sources.housecallpro.figures import ObjectFigures
from sources.housecallpro.settings import OBJECTS


@pytest.mark.parametrize(
    "exc, retried",
    [
        (AuthError("Invalid API token"), False),
        (PermissionDenied("Permission denied"), False),
        (KeyRejected("default: 401"), False),
        (ConfigError("no key"), False),
        (ServerError("boom", status=503), True),
        (RateLimited("slow down"), True),
        (TransportError("timed out", outcome_unknown=False), True),
        (RuntimeError("anything else"), True),
    ],
)
def test_retry_only_transient_failures(exc: BaseException, retried: bool) -> None:
    assert retry_if_transient(None, None, Failed(data=exc)) is retried  # type: ignore[arg-type]


def test_a_bad_key_under_another_error_is_still_not_retried() -> None:
    try:
        try:
            raise AuthError("Invalid API token")
        except AuthError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert not is_transient(outer)


def _push(account: str = "default", **outcomes: int) -> PushFigures:
    return PushFigures(account=account, outcomes=outcomes, requests=7, seconds=1.5)


def test_failed_share_over_threshold_fails() -> None:
    pushes = [
        _push("north", sent=5, failed_permanent=2),
        _push("south", sent=2, failed_retryable=1),
    ]
    with pytest.raises(TooManyFailedLeads, match="3 of 10 leads failed"):
        check_failed_share(pushes, 0.2)


@pytest.mark.parametrize(
    "pushes",
    [
        [_push(sent=8, failed_permanent=2)],  # exactly at the threshold: not "past" it
        [_push(sent=10)],
        [_push()],  # nothing to do is not a failure
        [],
    ],
)
def test_failed_share_at_or_below_threshold_passes(pushes: list[PushFigures]) -> None:
    check_failed_share(pushes, 0.2)


def test_threshold_must_be_a_share() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        check_failed_share([_push(sent=1)], 20)


def test_sync_markdown_holds_the_figures() -> None:
    good = AccountFigures(
        "north",
        (
            ObjectFigures("customers", rows=120, pages=1, requests=2, seconds=0.4),
            ObjectFigures("jobs", rows=300, pages=2, requests=3, retries=1, rate_limited=1),
        ),
        seconds=2.0,
    )
    bad = AccountFigures("south", error="south: HCP says 401 | Invalid API token")
    text = sync_markdown([good, bad], seconds=3.25, transforms="12 models")
    assert "1 of 2 synced" in text
    assert "rows loaded: 420" in text
    assert "requests: 5" in text
    assert "duration: 3.2 s" in text
    assert "| customers | 120 | 1 | 2 | 0 | 0 | 0.4 |" in text
    assert "| **total** | 420 | 3 | 5 | 1 | 1 | 2.0 |" in text
    assert "## south: FAILED" in text and "401 \\| Invalid" in text
    assert "12 models" in text


def test_push_markdown_holds_the_figures() -> None:
    pushes = [
        PushFigures("north", {"sent": 7, "linked": 1, "failed_permanent": 2}, 1, 9, 1.5),
        PushFigures("south", {"sent": 0}, error="HCP says 403 | Permission denied"),
    ]
    text = push_markdown(pushes, seconds=2.25, max_failed_share=0.2)
    assert "leads handled: 10" in text
    assert "failed: 2 (20.0%, within the threshold of 20.0%)" in text
    assert "requests: 9" in text
    assert "duration: 2.2 s" in text
    assert "| account | failed_permanent | linked | sent | reconciled |" in text
    assert "| north | 2 | 1 | 7 | 1 | 9 | 1.5 |  |" in text
    assert "| south | 0 | 0 | 0 | 0 | 0 | 0.0 | HCP says 403 \\| Permission denied |" in text


def test_redact_masks_every_secret() -> None:
    assert redact("key abcd-1234 leaked abcd-1234", ["abcd-1234"]) == "key *** leaked ***"
    assert redact("nothing here", ["", "abc"]) == "nothing here"  # too short to mask safely


def test_prefect_yaml_schedules_and_parameters() -> None:
    specs = {s.name: s for s in load_specs()}
    assert set(specs) == {
        "hcp-sync",
        "hcp-push-leads",
        "hcp-sync-full-refresh",
        "hcp-webhooks-drain",
    }
    assert specs["hcp-sync"].schedules == ({"interval": 900},)
    assert specs["hcp-webhooks-drain"].schedules == ({"interval": 60},)
    assert specs["hcp-push-leads"].schedules == ({"interval": 300},)
    assert specs["hcp-push-leads"].parameters["max_failed_share"] == 0.2
    daily = specs["hcp-sync-full-refresh"]
    assert daily.schedules[0]["cron"] == "0 4 * * *"
    assert daily.parameters["full_refresh"] is True
    # estimates (approvals do not bump updated_at) plus every object that has no cursor at all
    needs_it = {"estimates"} | {o.table for o in OBJECTS if o.strategy != "incremental"}
    assert set(daily.parameters["objects"]) == needs_it


def test_prefect_yaml_parameters_are_the_flows_parameters() -> None:
    for spec in load_specs():
        accepted = set(inspect.signature(load_flow(spec.entrypoint).fn).parameters)
        assert set(spec.parameters) <= accepted, spec.name


def test_serve_builds_every_deployment_with_its_limit() -> None:
    deployments = {d.name: d for d in build_deployments(load_specs())}
    assert set(deployments) == {
        "hcp-sync",
        "hcp-push-leads",
        "hcp-sync-full-refresh",
        "hcp-webhooks-drain",
    }
    for d in deployments.values():
        assert d.concurrency_limit == 1
        assert d.concurrency_options is not None
        assert d.concurrency_options.collision_strategy == "CANCEL_NEW"
        assert d.work_pool_name is None  # served, not deployed to a pool
        assert d.entrypoint is not None and d.entrypoint.startswith("flows.")
    drain = deployments["hcp-webhooks-drain"].schedules[0].schedule
    assert drain.interval == datetime.timedelta(seconds=60)
    sync = deployments["hcp-sync"]
    assert sync.schedules[0].schedule.interval == datetime.timedelta(minutes=15)
    assert deployments["hcp-sync-full-refresh"].parameters["full_refresh"] is True
    daily = deployments["hcp-sync-full-refresh"].schedules[0].schedule
    assert daily.cron == "0 4 * * *" and daily.timezone == "UTC"


def test_serve_every_overrides_schedules_and_only_filters() -> None:
    (d,) = build_deployments(load_specs(), only=["hcp-push-leads"], every_s=20)
    assert d.name == "hcp-push-leads"
    assert d.schedules[0].schedule.interval == datetime.timedelta(seconds=20)
    with pytest.raises(Exception, match="no deployment named"):
        build_deployments(load_specs(), only=["nope"])


@pytest.mark.timeout(60)  # if the check regresses, `hcp serve` would serve forever
def test_hcp_serve_without_a_prefect_server_says_how_to_start_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Prefect's temporary server runs no scheduler: serving against it would never run."""
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from typer.testing import CliRunner

    from pipelines.cli import app

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    # The session's prefect_test_harness sets an API URL for every test after it; this test
    # is about a machine with none configured.
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "prefect server start" in result.output


def test_only_prefects_clean_exit_at_shutdown_is_kept_out_of_the_log() -> None:
    """Prefect's SIGTERM handler exits with SystemExit(0) inside task groups; asyncio sometimes
    logs that as an error with a traceback. Only that record is dropped."""
    import logging

    from flows.serve import _CleanExitOnShutdown

    def record(msg: str, exc: BaseException | None) -> logging.LogRecord:
        info = (type(exc), exc, None) if exc is not None else None
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, msg, None, info)

    shutdown = "unhandled exception during asyncio.run() shutdown\ntask: <Task ...>"
    clean = BaseExceptionGroup("g", [BaseExceptionGroup("g", [SystemExit(0)])])
    keep = _CleanExitOnShutdown().filter
    assert not keep(record(shutdown, clean))
    assert keep(record(shutdown, BaseExceptionGroup("g", [SystemExit(1)])))
    assert keep(record(shutdown, BaseExceptionGroup("g", [SystemExit(0), ValueError("x")])))
    assert keep(record("Task exception was never retrieved", clean))
