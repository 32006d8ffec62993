"""The dry run of the push (`hcp leads push --dry-run`): what a push would do, lead by lead.

Computed by the same selection and mapping as the push: the payload, the dropped fields, or why
the lead would fail. It reads the outbox and nothing else: it must never send a request, write
a row or even migrate the schema (it opens the file read-only), so it is safe on any database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines import config
from pipelines.leads import outbox
from pipelines.leads.mapping import InvalidLead
from pipelines.leads.profiles import ProfileBook, load_profiles
from pipelines.warehouse import connect


@dataclass(frozen=True)
class PlannedLead:
    """What the push would do with one lead."""

    lead_id: str
    account: str
    route: str
    status: str  # current status in staging.leads
    action: str  # "send" | "reconcile" (left in `sending`: look up first) | "fail"
    payload: dict[str, Any] | None = None
    dropped: tuple[str, ...] = ()
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "lead_id": self.lead_id,
            "account": self.account,
            "route": self.route,
            "status": self.status,
            "action": self.action,
            "payload": self.payload,
            "dropped": list(self.dropped),
            "reason": self.reason,
        }


@dataclass
class PushPlan:
    leads: list[PlannedLead] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for p in self.leads if p.action == action)

    @property
    def lead_sources(self) -> list[str]:
        found = {
            str(p.payload["lead_source"])
            for p in self.leads
            if p.payload and p.payload.get("lead_source")
        }
        return sorted(found)


def plan_push(
    db_path: str | Path | None = None,
    *,
    account: str | None = None,
    route: str | None = None,
    limit: int | None = None,
    routes: ProfileBook | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> PushPlan:
    """The dry run: what a push would do, lead by lead; sends nothing and changes nothing.

    `route` keeps only leads of that mapping profile; `routes` is the profile book (read from
    the route file unless given).
    """
    profiles = routes or load_profiles()
    plan = PushPlan()
    with connect(config.db_path(db_path), read_only=True, on_wait=on_wait) as con:
        if not outbox.schema_exists(con):
            return plan
        kw: dict[str, Any] = {
            "account": account,
            "route": route,
            "default_profile": profiles.default_profile,
        }
        leftovers = outbox.select_leads(con, outbox.LEFT_SENDING_SQL, **kw)
        claimable = outbox.select_leads(con, outbox.CLAIMABLE_SQL, limit=limit, **kw)
    for row, action in [(r, "reconcile") for r in leftovers] + [(r, "send") for r in claimable]:
        route_name = (row.lead.route or "").strip() or profiles.default_profile
        try:
            mapped = profiles.map(row.lead)
        except InvalidLead as exc:
            plan.leads.append(
                PlannedLead(
                    row.lead.lead_id, row.account, route_name, row.status, "fail", reason=exc.reason
                )
            )
            continue
        plan.leads.append(
            PlannedLead(
                row.lead.lead_id,
                row.account,
                route_name,
                row.status,
                action,
                mapped.payload,
                mapped.dropped,
            )
        )
    return plan
