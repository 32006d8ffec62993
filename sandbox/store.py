"""The sandbox's in-memory data: seeded records, sorted indexes, and copy-on-write changes.

Records are kept in their served shape and never mutated in place (seeded records share
embedded dicts), so `reset()` is a cheap shallow restore of the seed. Every change is stamped by
the monotonic `SandboxClock`, so a changed record's `updated_at` is newer than anything before
it. Thread-safe: the server's event loop and a test thread (via `SandboxHandle.state`) share it.
"""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.clock import SandboxClock, iso, parse_iso
from sandbox.objects import OBJECTS
from sandbox.seed import Dataset, Record, build_dataset, job_line_items
from sandbox.settings import SandboxSettings

ID_PREFIXES: dict[str, str] = {
    "customers": "cus_",
    "jobs": "job_",
    "estimates": "csr_",
    "invoices": "invoice_",
    "leads": "lea_",
    "lead_sources": "lso_",
    "employees": "pro_",
    "tags": "tag_",
    "job_types": "jbt_",
    "events": "evt_",
    "materials": "pbmat_",
    "material_categories": "pbmcat_",
    "price_forms": "pbpf_",
    "services": "pbsvc_",
    "service_zones": "",  # UUIDs (spec format: uuid)
    "routes": "rte_",
    "addresses": "adr_",
}

# objects whose served records carry created_at / updated_at themselves (HCP_API.md §4)
_OWN_TIMESTAMPS = {"customers", "jobs", "estimates", "events", "material_categories"}


Observer = Callable[[str, str, Record | None, Record | None], None]
"""Called as (object, "add" | "update" | "delete", old record, new record) after each change,
under the store lock so observers see changes in order; it must not block (webhooks queue)."""


class UnknownObject(KeyError):
    """The admin API named an object the sandbox does not serve."""


class Store:
    """All sandbox data for one settings object; `reset()` returns to the seed."""

    def __init__(self, settings: SandboxSettings, dataset: Dataset | None = None) -> None:
        self.settings = settings
        self.observers: list[Observer] = []
        self._lock = threading.RLock()
        self._seed = dataset or build_dataset(settings)
        anchor = parse_iso(settings.anchor) or 0.0
        self.clock = SandboxClock(anchor)
        self.reset()

    # lifecycle ------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the seeded data: records, clock, runtime ids, created-customer log."""
        with self._lock:
            ds = self._seed
            self._records: dict[str, dict[str, Record]] = {
                name: {r[OBJECTS[name].pk]: r for r in ds.records.get(name, [])} for name in OBJECTS
            }
            self._hidden: dict[str, dict[str, Record]] = {
                name: dict(ds.hidden.get(name, {})) for name in OBJECTS
            }
            self.company: Record = ds.company
            self.inactive_employees: list[Record] = list(ds.inactive_employees)
            self._sorted: dict[tuple[str, str], list[Record]] = {}
            self._rng = random.Random(f"{self.settings.seed}|runtime")
            self.created_customers: list[dict[str, Any]] = []
            self.clock.reset()

    # ids / time ------------------------------------------------------------------------------
    def new_id(self, obj: str) -> str:
        with self._lock:
            h = f"{self._rng.getrandbits(128):032x}"
        prefix = ID_PREFIXES.get(obj, "")
        if obj == "service_zones":
            return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"
        return prefix + h

    def today(self) -> str:
        """The company's local date at the sandbox clock (`/routes` defaults to it)."""
        tz = ZoneInfo(self.settings.time_zone)
        return datetime.fromtimestamp(self.clock.now(), tz).date().isoformat()

    def now_iso(self) -> str:
        """A fresh, strictly increasing sandbox timestamp."""
        return iso(self.clock.tick())

    # reads -----------------------------------------------------------------------------------
    def _table(self, obj: str) -> dict[str, Record]:
        try:
            return self._records[obj]
        except KeyError:
            raise UnknownObject(obj) from None

    def all(self, obj: str) -> list[Record]:
        """Records in insertion order (a snapshot list)."""
        with self._lock:
            return list(self._table(obj).values())

    def get(self, obj: str, rid: str) -> Record | None:
        with self._lock:
            return self._table(obj).get(rid)

    def hidden(self, obj: str, rid: str) -> Record:
        """Timestamps HCP sorts/filters on but does not serve (e.g. a lead's created_at)."""
        return self._hidden.get(obj, {}).get(rid, {})

    def field_value(self, obj: str, rec: Record, path: tuple[str, ...]) -> Any:
        value: Any = rec
        for part in path:
            if not isinstance(value, dict) or part not in value:
                if len(path) == 1:
                    return self.hidden(obj, rec[OBJECTS[obj].pk]).get(part)
                return None
            value = value[part]
        return value

    def sorted_asc(self, obj: str, sort_by: str, path: tuple[str, ...]) -> list[Record]:
        """Records ascending by `path` (nulls last, as Postgres does), then by primary key.

        Cached per (object, sort) until the object changes, so paging costs a slice.
        """
        key = (obj, sort_by)
        with self._lock:
            cached = self._sorted.get(key)
            if cached is None:
                pk = OBJECTS[obj].pk

                def sort_key(r: Record) -> tuple[bool, Any, str]:
                    v = self.field_value(obj, r, path)
                    return (v is None, v if v is not None else 0, r[pk])

                cached = sorted(self._table(obj).values(), key=sort_key)
                self._sorted[key] = cached
            return cached

    def line_items(self, job: Record) -> list[Record]:
        return job_line_items(self.settings.seed, job)

    # writes ----------------------------------------------------------------------------------
    def _changed(self, obj: str, action: str, old: Record | None, new: Record | None) -> None:
        for k in [k for k in self._sorted if k[0] == obj]:
            del self._sorted[k]
        for observer in self.observers:
            observer(obj, action, old, new)

    def add(self, obj: str, record: Record) -> Record:
        """Insert `record` (id and timestamps filled in when missing) and return it."""
        with self._lock:
            table = self._table(obj)
            pk = OBJECTS[obj].pk
            rec = {
                pk: record.get(pk) or self.new_id(obj),
                **{k: v for k, v in record.items() if k != pk},
            }
            now = self.now_iso()
            if obj in _OWN_TIMESTAMPS:
                rec.setdefault("created_at", now)
                rec.setdefault("updated_at", rec["created_at"])
            self._hidden.setdefault(obj, {})[rec[pk]] = {"created_at": now, "updated_at": now}
            table[rec[pk]] = rec
            self._changed(obj, "add", None, rec)
            return rec

    def update(self, obj: str, rid: str, patch: Record, bump: bool = True) -> Record | None:
        """Deep-merge `patch` into a copy of the record; bump `updated_at` to the sandbox clock."""
        with self._lock:
            table = self._table(obj)
            old = table.get(rid)
            if old is None:
                return None
            rec = _merge(old, patch)
            if bump:
                now = self.now_iso()
                if "updated_at" in old:
                    rec["updated_at"] = now
                hid = self._hidden.setdefault(obj, {})
                hid[rid] = {**hid.get(rid, {"created_at": now}), "updated_at": now}
            table[rid] = rec
            self._changed(obj, "update", old, rec)
            return rec

    def delete(self, obj: str, rid: str) -> bool:
        with self._lock:
            table = self._table(obj)
            old = table.pop(rid, None)
            if old is None:
                return False
            self._hidden.get(obj, {}).pop(rid, None)
            self._changed(obj, "delete", old, None)
            return True

    # ground truth ----------------------------------------------------------------------------
    def dump(self, objects: Iterable[str] | None = None) -> dict[str, Any]:
        """Everything the API would serve (plus hidden sort keys): the tests' ground truth."""
        with self._lock:
            names = list(objects) if objects is not None else list(OBJECTS)
            return {
                "company": self.company,
                "objects": {n: list(self._table(n).values()) for n in names},
                "hidden": {n: dict(self._hidden.get(n, {})) for n in names},
                "inactive_employees": list(self.inactive_employees),
                "clock": iso(self.clock.now()),
            }


def _merge(old: Record, patch: Record) -> Record:
    """A new dict: nested dicts merged recursively, everything else replaced (never aliased)."""
    out = dict(old)
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out
