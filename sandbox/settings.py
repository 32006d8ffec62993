"""Every knob of the local HCP sandbox, in one dataclass with safe defaults.

The same object drives `hcp sandbox`, `python -m sandbox`, `run_sandbox()` in tests and the
admin API (`PATCH /_sandbox/settings` swaps in a modified copy at runtime).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

FAULT_KINDS: tuple[str, ...] = ("500", "502", "503", "slow", "drop", "lost")
"""`lost` only ever hits `POST /customers` (created, then the connection drops)."""

DEFAULT_FAULTS: tuple[str, ...] = ("500", "502", "503", "drop", "lost")
"""`slow` is opt-in: each hit holds a request for `slow_seconds` (35 s by default)."""


@dataclass(frozen=True)
class SandboxSettings:
    """Configuration of one sandbox instance. Frozen: change it with `dataclasses.replace`."""

    # data
    seed: int = 42
    scale: float = 1.0
    anchor: str = "2026-09-01T00:00:00Z"
    """Fixed 'now' of the seeded data (never the wall clock), so a seed gives identical data."""
    time_zone: str = "America/Chicago"
    company_name: str = "Lone Star Plumbing & Air"
    companies: int = 1
    """How many HCP accounts this sandbox serves on one base URL, told apart by key (an agency's
    many accounts, `sandbox/companies.py`): company 1 is these settings, company n > 1 has seed
    `seed + n - 1`, its name suffixed " #n" and every key suffixed "-n"."""

    # keys (HCP_API.md §2 Auth, §10 Errors)
    api_key: str = "sandbox-key"
    readonly_key: str = "sandbox-readonly-key"
    noaccess_key: str = "sandbox-noaccess-key"
    company_only_key: str = "sandbox-company-key"
    """A full-access *company* key: 403 on the application-key-only objects (HCP_API.md §2)."""
    app_key_objects: bool = True
    """True: `api_key` also reads /routes, /service_zones, /api/price_book/services (as an
    application key would). False: `api_key` behaves like a company key there (403)."""

    # write rules (HCP_API.md §10)
    reject_duplicate_email: bool = False
    """True: a second customer with the same email is 422 "Duplicate customer". Off by default:
    live HCP accepts duplicates (its help article "Manage and merge duplicate customers";
    HCP_API.md §2), so the switch imitates an account that would reject them."""
    strict_lead_sources: bool = False

    # traffic shaping
    rate_limit: float = 0.0
    """Requests per second per key; 0 disables the limit."""
    rate_limit_window_s: float = 1.0
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    """Share of API requests that get a fault (0.1 = 10%)."""
    faults: tuple[str, ...] = DEFAULT_FAULTS
    fault_seed: int | None = None
    """Seed of the fault dice; None derives it from `seed`."""
    slow_seconds: float = 35.0
    served_page_size: int = 0
    """Serve at most this many rows per page while `total_pages` and `page_size` still count
    pages of the size asked (0: serve what was asked). A live account did this (issue 20: 100
    rows served, pages of 200 reported); HCP_API.md §2. Page `n` starts after `n - 1` served
    pages, as that account's pages did."""
    churn_every: int = 0
    """Every N-th list request of an object, before serving it, edit (bump `updated_at`) or
    create one record of that object, seeded from `seed` (`sandbox/churn.py`): records that
    change while a sync pages, so pages shift under it (issue 17). 0: off."""

    # webhooks (HCP_API.md §7; docs/sandbox.md "Webhooks")
    webhook_url: str = ""
    """Where each write's event is POSTed, signed ("" = no webhooks). Loopback only."""
    webhook_secret: str = field(default="", repr=False)
    """The Signing Secret the events are signed with (never shown by `public()`)."""
    webhook_max_attempts: int = 5
    """ASSUMED (HCP's retry policy is undocumented): tries per event before giving up."""
    webhook_backoff_s: float = 0.5
    """ASSUMED: wait before the 2nd try, doubled for each next one (at most 30 s)."""

    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)
    """Wall clock used by the rate limiter (injectable in tests)."""

    def __post_init__(self) -> None:
        unknown = [k for k in self.faults if k not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; choose from {list(FAULT_KINDS)}")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate is a share between 0 and 1 (0.1 = 10%)")
        if self.scale <= 0:
            raise ValueError("scale must be positive")
        if not 1 <= self.companies <= 500:
            raise ValueError("companies is between 1 and 500 (one HCP account each)")
        if self.served_page_size < 0:
            raise ValueError("served_page_size is a row count (0 = serve the page size asked)")
        if self.churn_every < 0:
            raise ValueError("churn_every is a request count (0 = no changes while paging)")
        if self.webhook_url:
            check_loopback_url(self.webhook_url)
            if not self.webhook_secret:
                raise ValueError("webhook_url needs webhook_secret: HCP signs every event")
        if self.webhook_max_attempts < 1 or self.webhook_backoff_s < 0:
            raise ValueError("webhook_max_attempts is at least 1, webhook_backoff_s at least 0")

    @property
    def effective_fault_seed(self) -> int:
        return self.seed if self.fault_seed is None else self.fault_seed

    def with_changes(self, changes: dict[str, Any]) -> SandboxSettings:
        """A copy with `changes` applied; rejects unknown names so typos are loud."""
        names = {f.name for f in fields(self)} - {"clock"}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown settings {unknown}")
        if "faults" in changes:
            changes = {**changes, "faults": parse_faults(changes["faults"])}
        return replace(self, **changes)

    def public(self) -> dict[str, Any]:
        """JSON-safe view (for the admin API)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "clock"}
        out["faults"] = list(self.faults)
        out["webhook_secret"] = "***" if self.webhook_secret else ""
        return out


def check_loopback_url(url: str) -> str:
    """`url` when it is http(s) to this machine (localhost, 127.0.0.0/8, ::1); else ValueError.

    The sandbox must never send traffic off the machine, whatever it is told.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"webhook URL {url!r} is not an http(s) URL")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"webhook URL host {host!r} is not loopback: the sandbox only sends webhooks to "
            "this machine (use 127.0.0.1, ::1 or localhost)"
        )
    return url


def parse_faults(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Accept `"500,drop"` or a list; blank entries are dropped."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(i).strip() for i in items if str(i).strip())
