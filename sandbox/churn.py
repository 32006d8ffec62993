"""Records that change while a sync pages: the `churn_every` knob.

Every `churn_every`-th list request of an object (counted per object since the last reset),
before it is served, the sandbox edits one record of that object (its `updated_at`, served or
hidden, moves to the sandbox clock, so an `updated_at desc` listing moves it to the front) or,
one time in three, creates one (a copy of a record with a new id and fresh timestamps, at the
front of a newest-first listing). The dice are seeded from `seed`, so a seed and a request
order give the same changes. This is the shape of issue 17: HCP pages by number over a live
listing, so a change between two page fetches shifts every later row by one.

Must never: delete a record (deletions are the admin API's, so a test knows what is gone), or
change anything while the knob is 0.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from sandbox.objects import OBJECTS
from sandbox.store import Store


@dataclass(frozen=True)
class Change:
    """One change the churn made: `kind` is `edit` or `create`."""

    obj: str
    kind: str
    id: str


class Churn:
    """Counts list requests per object and changes a record every `every` of them."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._rng = random.Random(f"{self._seed}|churn")
            self._listed: dict[str, int] = {}
            self.changes: list[Change] = []

    def on_list(self, store: Store, obj: str, every: int) -> Change | None:
        """Called before a list request of `obj` is served; changes a record when it is due."""
        if every <= 0:
            return None
        with self._lock:
            self._listed[obj] = self._listed.get(obj, 0) + 1
            if self._listed[obj] % every:
                return None
            records = store.all(obj)
            if not records:
                return None
            pick = self._rng.choice(records)
            create = self._rng.random() < 1 / 3
            pk = OBJECTS[obj].pk
            if create:
                copy = {k: v for k, v in pick.items() if k not in (pk, "created_at", "updated_at")}
                change = Change(obj, "create", str(store.add(obj, copy)[pk]))
            else:
                store.update(obj, pick[pk], {})
                change = Change(obj, "edit", str(pick[pk]))
            self.changes.append(change)
            return change
