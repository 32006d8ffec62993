"""HCP-side helpers of the lead push and the test lead: finding a customer, Lead Sources, and
the tag that says why a request was made.

Everything here talks to HCP through the one client and nothing else: it never touches DuckDB
(the push's writer thread records what happened) and never sees the API key (the client holds
it). Lookups are exact matches only, because a wrong match would link or skip a lead that HCP
never received.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sources.housecallpro.client import HCPClient
from sources.housecallpro.errors import AuthError, HCPError, PermissionDenied


@dataclass(frozen=True)
class AttemptTag:
    """Why a request was made, carried by the client to the push's observer (one attempt row)."""

    kind: str  # lookup | create | reconcile | link | lead_source | verify | test
    lead_id: str | None = None  # None for run-level requests (verify, lead sources)
    dropped: str | None = None  # what the mapping left out of a create's payload


VERIFY = AttemptTag("verify")
LEAD_SOURCE = AttemptTag("lead_source")


def find_customer(
    client: HCPClient,
    email: str | None,
    phone: str | None,
    payload: dict[str, Any] | None = None,
    *,
    tag: Any = None,
) -> dict[str, Any] | None:
    """The HCP customer for a lead: by email (`GET /customers?q=`), else by mobile number (by
    name for a toll-free number, sent as the work number).

    Exact matches only: `q` is a substring search. The phone is searched only for a lead without
    an email (a customer we created for a lead with an email has that email, so the email search
    finds it), and a phone match must have no email and the same name, so a household sharing a
    number is not taken for the lead.
    """
    if email:
        found = _newest(
            client, email, lambda c: (c.get("email") or "").strip().lower() == email, tag
        )
        if found:
            return found
    if phone and not email:
        want = payload or {}
        # A toll-free number is sent as work_number (mapping.py), which HCP's `q` does not
        # search (it covers name, email, mobile number, address): such a lead is searched by
        # its name, and matched on the same work number.
        field = "work_number" if want.get("work_number") == phone else "mobile_number"
        q = phone
        if field == "work_number":
            q = " ".join(str(want[k]) for k in ("first_name", "last_name") if want.get(k))

        def same(c: dict[str, Any]) -> bool:
            digits = "".join(ch for ch in str(c.get(field) or "") if ch.isdigit())
            if digits[-10:] != phone[-10:] or (c.get("email") or "").strip():
                return False
            return all(
                (c.get(k) or "").strip().lower() == (want.get(k) or "").strip().lower()
                for k in ("first_name", "last_name")
            )

        return _newest(client, q, same, tag) if q else None
    return None


def _newest(
    client: HCPClient, q: str, match: Callable[[dict[str, Any]], bool], tag: Any
) -> dict[str, Any] | None:
    """The newest customer HCP's search for `q` returns that `match` accepts (`q` is a
    substring search, so every hit is checked)."""
    found = [
        c
        for c in client.iter_items("/customers", {"q": q}, envelope_key="customers", tag=tag)
        if match(c)
    ]
    return max(found, key=lambda c: str(c.get("created_at") or "")) if found else None


class LeadSources:
    """Makes sure Lead Source strings exist in HCP: one GET per run, POST for missing ones.

    Some accounts reject a customer whose Lead Source is unknown, so the push resolves every
    lead's source before its POST. A failure is remembered per name (and for the list as a
    whole), so a run asks HCP once, not once per lead.
    """

    def __init__(self, client: HCPClient) -> None:
        self.client = client
        self.names: dict[str, str] | None = None  # lower-case -> HCP's spelling
        self.load_error: str | None = None
        self.created: list[str] = []
        self.failed: dict[str, str] = {}  # name -> why it could not be created

    def _load(self) -> dict[str, str]:
        if self.load_error is not None:
            raise HCPError(self.load_error)
        if self.names is None:
            names: dict[str, str] = {}
            try:
                for item in self.client.iter_items(
                    "/lead_sources", envelope_key="lead_sources", tag=LEAD_SOURCE
                ):
                    name = str(item.get("name") or "")
                    names.setdefault(name.lower(), name)
                    names[name] = name  # the exact spelling always maps to itself
            except (AuthError, PermissionDenied):
                raise
            except HCPError as exc:
                self.load_error = f"could not read HCP's lead sources: {exc}"
                raise HCPError(self.load_error) from None
            self.names = names
        return self.names

    def resolve(self, name: str) -> str:
        """HCP's spelling of `name`, creating it when missing; `HCPError` when that fails."""
        names = self._load()
        if name in names:
            return names[name]
        if name.lower() in names:
            # HCP refuses a second name differing only by case: use the existing spelling.
            return names[name.lower()]
        if name in self.failed:
            raise HCPError(self.failed[name])
        try:
            self.client.post("/lead_sources", {"name": name}, tag=LEAD_SOURCE)
        except (AuthError, PermissionDenied):
            raise
        except HCPError as exc:
            self.failed[name] = f"lead source {name!r} could not be created in HCP: {exc.message}"
            raise HCPError(self.failed[name]) from None
        names[name] = name
        names.setdefault(name.lower(), name)
        self.created.append(name)
        return name
