"""Which failures a flow task retries: transient ones yes, a wrong key or a bad request never.

Retrying a 401/403 only hammers HCP with a key that cannot work (and may lock the user out);
a missing setting or a 400/404/422 will not fix itself either. Everything else (5xx and 429
after the client's own retries, timeouts, dropped connections, a DuckDB file kept busy past
the lock timeout) is worth another try after a pause.
"""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from pipelines.config import ConfigError
from sources.housecallpro.errors import AuthError, NotFound, PermissionDenied, ValidationError


class KeyRejected(Exception):
    """HCP refused the account's key (401) or its permissions (403); the message says what to do."""


NEVER_RETRY: tuple[type[BaseException], ...] = (
    KeyRejected,
    AuthError,
    PermissionDenied,
    ConfigError,
    ValidationError,
    NotFound,
)
"""Failures no retry can fix; the run fails at once with the error's own message."""

RETRIES = 3
RETRY_DELAYS_S = [30.0, 120.0, 480.0]
"""Backoff between attempts (x4 each time): long enough for a 5xx blip or a rate-limit window to
pass, short enough that the three tries end well before the next 15-minute run."""
RETRY_JITTER = 0.2


def is_transient(exc: BaseException | None) -> bool:
    """True when `exc` (or the error it was raised from) is worth retrying."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, NEVER_RETRY):
            return False
        seen.add(id(exc))
        exc = exc.__cause__
    return True


def _exception_of(state: State[Any]) -> BaseException | None:
    data = state.data
    if isinstance(data, BaseException):
        return data
    try:
        result = state.result(raise_on_failure=False)
    except Exception as exc:  # noqa: BLE001 - a result we cannot read: treat as transient
        return exc
    return result if isinstance(result, BaseException) else None


def retry_if_transient(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect's `retry_condition_fn`: retry unless the failure is in `NEVER_RETRY`."""
    return is_transient(_exception_of(state))
