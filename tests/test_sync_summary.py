"""The rate-limit line of `hcp sync`'s summary: what the limit cost, or nothing."""

from __future__ import annotations

from pipelines.cli.sync import rate_limit_line


def test_no_line_when_nothing_limited_the_run() -> None:
    assert rate_limit_line({}) is None
    quiet = {"rate": 0.0, "configured_rate": 0.0, "paused_s": 0.0, "waited_s": 0.0}
    assert rate_limit_line({**quiet, "slowdowns": 0}) is None


def test_a_paced_run_says_the_pace_and_the_wait() -> None:
    line = rate_limit_line(
        {"rate": 5.0, "configured_rate": 5.0, "paused_s": 0.0, "waited_s": 12.34, "slowdowns": 0}
    )
    assert line == "rate limit: 5 request(s)/s per key; 12.3 s waited for turns (all threads)"


def test_429s_are_counted_with_the_rate_they_left() -> None:
    line = rate_limit_line(
        {"rate": 2.5, "configured_rate": 5.0, "paused_s": 3.0, "waited_s": 1.0, "slowdowns": 2}
    )
    assert line is not None
    assert "3.0 s paused after 429s, 2 slowdown(s)" in line and line.endswith("ended at 2.5/s")


def test_an_unpaced_client_that_met_429s_still_says_so() -> None:
    line = rate_limit_line(
        {"rate": 1.0, "configured_rate": 0.0, "paused_s": 2.0, "waited_s": 0.5, "slowdowns": 1}
    )
    assert line is not None and line.startswith("rate limit: no configured pace")
    assert "2.0 s paused after 429s" in line
