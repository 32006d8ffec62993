"""One running sandbox's mutable state: settings, data, counters, limiter, fault dice.

`SandboxHandle.state` is this object, so tests read ground truth and flip switches in-process
exactly as the admin API does over HTTP.
"""

from __future__ import annotations

from typing import Any

from sandbox.churn import Churn
from sandbox.counters import Counters
from sandbox.faults import FaultPlan
from sandbox.limits import RateLimiter
from sandbox.seed import Dataset, Record
from sandbox.settings import SandboxSettings
from sandbox.store import Store
from sandbox.webhooks import SandboxWebhooks

# Changing these needs a new dataset: restart the sandbox instead.
DATA_SETTINGS = frozenset({"seed", "scale", "anchor", "time_zone", "company_name", "companies"})


class SandboxState:
    def __init__(self, settings: SandboxSettings, dataset: Dataset | None = None) -> None:
        self.store = Store(settings, dataset)
        self.counters = Counters()
        self.limiter = RateLimiter()
        self.faults = FaultPlan(settings.effective_fault_seed)
        self.churn = Churn(settings.seed)
        self.webhooks = SandboxWebhooks(self.store)
        self.webhooks.configure(settings)

    @property
    def settings(self) -> SandboxSettings:
        return self.store.settings

    def update_settings(self, changes: dict[str, Any]) -> SandboxSettings:
        """Apply runtime changes (fault rate, rate limit, write rules...); data knobs refuse."""
        fixed = sorted(DATA_SETTINGS.intersection(changes))
        if fixed:
            raise ValueError(f"{fixed} shape the seeded data; restart the sandbox to change them")
        new = self.settings.with_changes(changes)
        self.store.settings = new
        if "fault_seed" in changes:
            self.faults.reseed(new.effective_fault_seed)
        if {"rate_limit", "rate_limit_window_s"} & set(changes):
            self.limiter.reset()
        self.webhooks.configure(new)
        return new

    def close(self) -> None:
        """Stop background work (the webhook sender); the data stays readable."""
        self.webhooks.close()

    def reset(self) -> None:
        """Back to the seed: data, counters, limiter windows, fault and churn dice (settings
        stay)."""
        self.store.reset()
        self.counters.reset()
        self.limiter.reset()
        self.faults.reseed(self.settings.effective_fault_seed)
        self.churn.reset()

    # conveniences for tests ------------------------------------------------------------------
    def records(self, obj: str) -> list[Record]:
        return self.store.all(obj)

    def get(self, obj: str, rid: str) -> Record | None:
        return self.store.get(obj, rid)

    def created_customers(self) -> list[Record]:
        """Customers created through `POST /customers` since the last reset (incl. `lost`)."""
        out = []
        for entry in self.store.created_customers:
            rec = self.store.get("customers", entry["id"])
            if rec is not None:
                out.append(rec)
        return out

    def dump(self, objects: list[str] | None = None) -> dict[str, Any]:
        return self.store.dump(objects)
