"""Shared pieces of the seed generator: the dataset container, id helpers, and the builder's
random/time primitives (kept fast: the generator calls them ~10^6 times at scale 10).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sandbox import seed_vocab as V
from sandbox.clock import iso, parse_iso
from sandbox.settings import SandboxSettings

DAY = 86400
HOUR = 3600
SPAN_DAYS = 548  # ~18 months of history before the anchor

BASE_COUNTS = {
    "customers": 400,
    "jobs": 3000,
    "estimates": 800,
    "leads": 600,
    "events": 150,
}

Record = dict[str, Any]


@dataclass
class Dataset:
    """Every seeded object, keyed by the object (= warehouse table) name."""

    records: dict[str, list[Record]]
    hidden: dict[str, dict[str, Record]]
    company: Record
    inactive_employees: list[Record] = field(default_factory=list)


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _uuid(rng: random.Random) -> str:
    h = _hex(rng)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _weighted(rng: random.Random, items: list[tuple[Any, float]]) -> Any:
    total = sum(w for _, w in items)
    r = rng.random() * total
    for item, w in items:
        r -= w
        if r <= 0:
            return item
    return items[-1][0]


class BuilderBase:
    """Generator state while one dataset is built (not reused): rng, anchor, hidden keys."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.s = settings
        self.rng = random.Random(settings.seed)
        self._random = self.rng.random
        anchor = parse_iso(settings.anchor)
        if anchor is None:
            raise ValueError(f"anchor {settings.anchor!r} is not an RFC 3339 timestamp")
        self.anchor = int(anchor)
        self.start = self.anchor - SPAN_DAYS * DAY
        self.tz = ZoneInfo(settings.time_zone)
        self.company_id = _uuid(self.rng)
        self.company_name = settings.company_name
        self.hidden: dict[str, dict[str, Record]] = {}
        # epoch seconds kept beside the records so the generator never re-parses its own strings
        self.ts: dict[str, int] = {}
        self.appts: list[tuple[int, Record, str]] = []
        self.counts = {k: max(1, round(v * settings.scale)) for k, v in BASE_COUNTS.items()}

    # helpers -------------------------------------------------------------------------------
    def rr(self, a: int, b: int | None = None) -> int:
        """`randrange` without its argument checks (the generator's hot path)."""
        if b is None:
            return int(self._random() * a)
        return a + int(self._random() * (b - a))

    def pid(self, prefix: str) -> str:
        return prefix + _hex(self.rng)

    def local(self, ts: int) -> str:
        return datetime.fromtimestamp(ts, self.tz).isoformat()

    def hide(self, obj: str, rid: str, created: int, updated: int | None = None) -> None:
        self.hidden.setdefault(obj, {})[rid] = {
            "created_at": iso(created),
            "updated_at": iso(updated if updated is not None else created),
        }

    def stamp(self, rec: Record) -> None:
        rec["company_name"] = self.company_name
        rec["company_id"] = self.company_id

    def between(self, lo: int, hi: int) -> int:
        return lo + int(self.rng.random() * max(0, hi - lo))

    def address(self, kind: str) -> Record:
        city, state, zips = V.CITIES[self.rr(len(V.CITIES))]
        return {
            "id": self.pid("adr_"),
            "type": kind,
            "street": f"{self.rr(100, 19999)} {V.STREETS[self.rr(len(V.STREETS))]}",
            "street_line_2": None if self.rng.random() < 0.9 else f"Apt {self.rr(1, 400)}",
            "city": city,
            "state": state,
            "zip": zips[self.rr(len(zips))],
            "country": "US",
            "latitude": round(30.27 + (self.rng.random() - 0.5) * 0.6, 6),
            "longitude": round(-97.74 + (self.rng.random() - 0.5) * 0.6, 6),
        }


LEAD_CUSTOMER_KEYS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "company",
    "notifications_enabled",
    "mobile_number",
    "home_number",
    "work_number",
    "tags",
    "lead_source",
)
"""The customer fields a lead embeds (SPEC Lead.customer): seeded and POSTed leads alike."""
