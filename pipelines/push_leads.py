"""`staging.leads` -> HCP customers: dry-run planning (this module's first half).

The plan is exactly what a push would do with each lead, computed by the same code the push
uses: the payload it would send, the fields it would drop, or why it would fail the lead. A plan
reads the outbox and nothing else: no request, no write, not even a migration.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from pipelines import config, staging
from pipelines.routes import RouteBook, load_routes, normalise_column
from pipelines.warehouse import connect
from sources.housecallpro.leads import InvalidLead, MappedLead, StagedLead, map_lead

LEAD_COLUMNS = ("lead_id", "account", *staging.RAW_COLUMNS, "extra", "status", "attempts")


@dataclass(frozen=True)
class LeadRow:
    """A staged lead with its bookkeeping."""

    lead: StagedLead
    account: str
    status: str
    attempts: int


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


def _row_to_lead(row: tuple[Any, ...]) -> LeadRow:
    values = dict(zip(LEAD_COLUMNS, row, strict=True))
    extra: dict[str, Any] = {}
    if values["extra"]:
        parsed = (
            json.loads(values["extra"]) if isinstance(values["extra"], str) else values["extra"]
        )
        if isinstance(parsed, dict):
            # "_"-prefixed keys are the loader's own bookkeeping and keep their names.
            extra = {
                (k if str(k).startswith("_") else normalise_column(str(k))): v
                for k, v in parsed.items()
            }
    lead = StagedLead(
        lead_id=str(values["lead_id"]),
        **{c: (str(values[c]) if values[c] is not None else None) for c in staging.RAW_COLUMNS},
        extra=extra,
    )
    return LeadRow(
        lead=lead,
        account=str(values["account"] or "default"),
        status=str(values["status"] or staging.PENDING),
        attempts=int(values["attempts"] or 0),
    )


def select_leads(
    con: duckdb.DuckDBPyConnection,
    condition: str,
    params: list[Any],
    *,
    account: str | None = None,
    route: str | None = None,
    routes: RouteBook | None = None,
    limit: int | None = None,
) -> list[LeadRow]:
    """Leads matching `condition`, oldest first, filtered by account and route."""
    sql = f"SELECT {', '.join(LEAD_COLUMNS)} FROM staging.leads WHERE {condition}"
    args = list(params)
    if account is not None:
        sql += " AND coalesce(account, 'default') = ?"
        args.append(account)
    if route is not None:
        default_route = routes.default_route if routes else "default"
        sql += " AND coalesce(nullif(trim(route), ''), ?) = ?"
        args += [default_route, route]
    sql += " ORDER BY created_at, lead_id"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return [_row_to_lead(r) for r in con.execute(sql, args).fetchall()]


def map_row(row: LeadRow, routes: RouteBook) -> MappedLead:
    """The mapping the push applies; `InvalidLead` for a lead that must not be sent."""
    surplus = row.lead.extra.get("_surplus_fields")
    if surplus:
        # A CSV row with more fields than its header: columns may be shifted, so sending it
        # could put a phone in the notes or a name in the company. The user fixes the row.
        raise InvalidLead(
            f"the CSV row had extra fields {surplus}; fix the row and remove extra._surplus_fields"
        )
    try:
        route = routes.get(row.lead.route)
    except KeyError as exc:
        raise InvalidLead(exc.args[0]) from exc
    return map_lead(row.lead, route)


def plan_push(
    db_path: str | Path | None = None,
    *,
    account: str | None = None,
    route: str | None = None,
    limit: int | None = None,
    routes: RouteBook | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> PushPlan:
    """The dry run: what a push would do, lead by lead; sends nothing and changes nothing."""
    routes = routes or load_routes()
    plan = PushPlan()
    with connect(config.db_path(db_path), read_only=True, on_wait=on_wait) as con:
        if not staging.schema_exists(con):
            return plan
        kw: dict[str, Any] = {"account": account, "route": route, "routes": routes}
        leftovers = select_leads(con, "status = 'sending'", [], **kw)
        claimable = select_leads(con, staging.CLAIMABLE_SQL, [], limit=limit, **kw)
    for row, action in [(r, "reconcile") for r in leftovers] + [(r, "send") for r in claimable]:
        route_name = (row.lead.route or "").strip() or routes.default_route
        try:
            mapped = map_row(row, routes)
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
