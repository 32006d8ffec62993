"""When a push run counts as failed: the one rule `hcp leads push` and the `hcp-push-leads` flow share.

A few bad rows are normal (a typo'd email, a lead source HCP rejects); most of a run failing is
not (a changed CSV layout, a route sending to the wrong field), and a scheduler or a script
must see it as a failure. The run fails when strictly more than `max_failed_share` of the leads
it handled failed (`failed_permanent` + `failed_retryable`); exactly at the share passes, and a
run with nothing to push never fails. Never talks to HCP or DuckDB.
"""

from __future__ import annotations

DEFAULT_MAX_FAILED_SHARE = 0.2
"""A run where more than a fifth of the leads failed is worth a person's attention (a changed
CSV layout, a lead source HCP rejects); a few bad rows are not."""

WHY = (
    "Why: `hcp leads status`, or SELECT lead_id, error_reason FROM staging.leads "
    "WHERE status LIKE 'failed%'"
)


class TooManyFailedLeads(Exception):
    """The share of failed leads in one push run passed the configured threshold."""


def check_max_failed_share(max_failed_share: float) -> None:
    """`ValueError` unless `max_failed_share` is a share (0.2 = 20%), not a percentage."""
    if not 0.0 <= max_failed_share <= 1.0:
        raise ValueError("max_failed_share is a share between 0 and 1 (0.2 = 20%)")


def failed_share(failed: int, handled: int) -> float:
    """failed / handled; 0 with nothing handled."""
    return failed / handled if handled else 0.0


def raise_if_too_many_failed(failed: int, handled: int, max_failed_share: float) -> None:
    """Raise `TooManyFailedLeads` when strictly more than `max_failed_share` of `handled` failed."""
    check_max_failed_share(max_failed_share)
    share = failed_share(failed, handled)
    if share > max_failed_share:
        raise TooManyFailedLeads(
            f"{failed} of {handled} leads failed ({share:.1%}), over the threshold of "
            f"{max_failed_share:.1%}. {WHY}"
        )
