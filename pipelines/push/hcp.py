"""Finding an HCP record by its natural key, for the object push (HTTP through the one client).

Two uses: before a create, to link a record HCP already has instead of making a second one
(listings cached per run and scope, updated with what the run creates); and after a create whose
answer never came, to find our own record before anything is sent again (always a fresh
listing). Matches are exact after trimming, case-insensitive (HCP refuses picklist names that
differ only by case). It never touches DuckDB and never sees the key.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from pipelines.leads.hcp import find_customer
from pipelines.push.mapping import Request
from pipelines.push.objects import PushObject
from sources.housecallpro.client import HCPClient


@dataclass(frozen=True)
class PushTag:
    """Why a request was made (one `staging.push_attempts` row)."""

    kind: str  # verify | lookup | create | reconcile | update
    key: str | None = None


def _norm(value: Any) -> str:
    return str(value or "").strip().lower()


def natural_key(obj: PushObject, fields: dict[str, Any]) -> tuple[str, ...]:
    """The row's natural key as compared (leads: see `Finder.find_lead`)."""
    return tuple(_norm(fields.get(f)) for f in obj.natural_key)


def record_id(obj: PushObject, record: Any) -> str | None:
    if isinstance(record, dict) and record.get(obj.id_field):
        return str(record[obj.id_field])
    return None


class Finder:
    """Natural-key lookups for one run, shared by the sender threads."""

    def __init__(self, client: HCPClient) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], dict[tuple[str, ...], dict[str, Any]]] = {}
        self._key_locks: dict[tuple[str, ...], threading.Lock] = {}

    def key_lock(self, obj: PushObject, request: Request) -> threading.Lock:
        """One lock per natural key: two rows of a run creating the same record go in turn."""
        key = (obj.name, *natural_key(obj, _key_fields(request)))
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def _listing(
        self, obj: PushObject, scope: str, tag: PushTag
    ) -> dict[tuple[str, ...], dict[str, Any]]:
        params = {obj.scope: scope} if obj.scope and scope else None
        found: dict[tuple[str, ...], dict[str, Any]] = {}
        for item in self.client.iter_items(
            obj.path, params, envelope_key=obj.list_envelope, tag=tag
        ):
            values = dict(item)
            if obj.scope:
                values.setdefault(obj.scope, scope or None)
            found.setdefault(natural_key(obj, values), item)
        return found

    def find(self, request: Request, tag: PushTag, *, fresh: bool) -> dict[str, Any] | None:
        """The record HCP has for the request's natural key, or None; `HCPError` on failure."""
        obj = request.obj
        if obj.name == "leads":
            return self.find_lead(request, tag)
        fields = _key_fields(request)
        scope = str(fields.get(obj.scope) or "") if obj.scope else ""
        cache_key = (obj.name, scope)
        with self._lock:
            cached = None if fresh else self._cache.get(cache_key)
        if cached is None:
            cached = self._listing(obj, scope, tag)
            with self._lock:
                self._cache[cache_key] = cached
        return cached.get(natural_key(obj, fields))

    def remember(self, request: Request, record: dict[str, Any]) -> None:
        """A record this run created or found: later rows with its natural key link to it."""
        obj = request.obj
        fields = _key_fields(request)
        scope = str(fields.get(obj.scope) or "") if obj.scope else ""
        with self._lock:
            cached = self._cache.get((obj.name, scope))
            if cached is not None:
                cached[natural_key(obj, fields)] = record

    def find_lead(self, request: Request, tag: PushTag) -> dict[str, Any] | None:
        """An HCP lead of the request's customer with its lead source (the natural key).

        The customer is the row's `customer_id`, or the embedded customer found by email (or
        phone) as the lead push finds one; none yet means no lead either.
        """
        body = request.body
        customer_id = body.get("customer_id")
        if not customer_id:
            c = body.get("customer") or {}
            email = _norm(c.get("email")) or None
            phone = "".join(ch for ch in str(c.get("mobile_number") or "") if ch.isdigit()) or None
            customer = find_customer(self.client, email, phone, c, tag=tag)
            if not customer:
                return None
            customer_id = customer.get("id")
        want = _norm(body.get("lead_source"))
        for lead in self.client.iter_items(
            "/leads", {"customer_id": customer_id}, envelope_key="leads", tag=tag
        ):
            if (lead.get("customer") or {}).get("id") == customer_id and _norm(
                lead.get("lead_source")
            ) == want:
                return lead
        return None


def _key_fields(request: Request) -> dict[str, Any]:
    """The fields a natural key is read from: the body, plus the query (a material's category)."""
    return {**request.body, **request.query}
