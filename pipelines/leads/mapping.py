"""Lead -> HCP customer mapping: pure functions, no I/O.

A staged lead (raw, as the caller gave it) becomes the JSON body of `POST /customers`, plus the
list of fields left out and why. Rules (DESIGN.md, HCP_API.md §6 and §10):

- name split on the first space, HCP's own rule ("Mary Ann Smith" -> "Mary" / "Ann Smith"; one
  word -> first name only); explicit first/last names win over the full name. Three exceptions
  (`split_full_name`), each reported among the dropped fields when it changed something: a
  leading honorific is left out ("Dr. John Smith" -> "John" / "Smith"; HCP has no title
  field), a trailing suffix stays with the last name ("John Smith, Jr." -> "John" / "Smith
  Jr."), and "Last, First" is read as written ("Smith, John" -> "John" / "Smith");
- email trimmed, lower-cased and validated; phone parsed with `phonenumbers` and sent as
  `mobile_number` in the 10-digit US form HCP expects (the only number HCP texts), except a
  toll-free number (800, 833, 844, 855, 866, 877, 888), which cannot receive texts: it is sent
  as `work_number` with a note among the dropped fields. HCP's search does not cover work
  numbers, so such a lead without an email is searched by its name, and needs one;
- a non-US phone is rejected or moved to the notes, per mapping profile;
- a lead needs a valid email or a usable phone, otherwise HCP cannot be searched for it and the
  push could not guarantee exactly one customer: such a lead raises `InvalidLead`;
- a bad email next to a good phone (or the reverse) is sent without the bad field, and the
  dropped field is reported.

This module never talks to HCP and never sees an API key.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import phonenumbers

NonUsPolicy = Literal["reject", "notes"]
NON_US_POLICIES: tuple[str, ...] = ("reject", "notes")
OnExisting = Literal["create", "link", "skip"]
# What the push does when HCP already has a customer for the lead (looked up before creating):
# `link` records it (`linked`), `skip` leaves it (`skipped`), `create` POSTs without looking.
ON_EXISTING: tuple[str, ...] = ("create", "link", "skip")

MAX_SHORT = 255  # names, email, phone, company, lead source
MAX_LONG = 10_000  # notes and mapped extra values
ADDRESS_FIELDS = ("street", "street_line_2", "city", "state", "zip", "country")
# Targets the loader applies when a file is loaded: the column fills the lead's own field (a
# column the header aliases and presets do not recognise, e.g. `contact_email = "email"`).
LOAD_TARGETS: tuple[str, ...] = ("email", "phone", "name", "first_name", "last_name")
# Where a mapping profile may send an extra column.
TARGETS: tuple[str, ...] = (
    *LOAD_TARGETS,
    "company",
    "notes",
    "tags",
    "home_number",
    "work_number",
    "lead_source",
    *(f"address.{f}" for f in ADDRESS_FIELDS),
)

_EMAIL = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)
_SPACES = re.compile(r"\s+")
_ALLOWED_CONTROL = {"\t", "\n", "\r"}


class InvalidLead(ValueError):
    """The lead cannot be sent; `reason` says why in words a user can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Profile:
    """A mapping profile (named by a lead's `route` column): default lead source, non-US phone
    policy, extra-column mapping, tags, and what the push does with a customer HCP already has
    (`on_existing`; the mapping itself ignores it)."""

    name: str = "default"
    lead_source: str | None = None
    non_us_phone: NonUsPolicy = "notes"
    fields: Mapping[str, str] = field(default_factory=dict)  # extra column -> target in TARGETS
    tags: tuple[str, ...] = ()
    notifications_enabled: bool | None = None
    on_existing: OnExisting = "link"


@dataclass(frozen=True)
class StagedLead:
    """One row of `staging.leads`, raw as staged."""

    lead_id: str
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    lead_source: str | None = None
    company: str | None = None
    notes: str | None = None
    route: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MappedLead:
    """The `POST /customers` body, what was left out, and the keys to search HCP by."""

    lead_id: str
    payload: dict[str, Any]
    dropped: tuple[str, ...] = ()
    email: str | None = None  # search key for reconciliation
    phone: str | None = None  # 10 digits, search key when there is no email


@dataclass(frozen=True)
class Phone:
    digits: str  # 10 digits for North American numbers, E.164 otherwise
    domestic: bool
    extension: str | None
    display: str
    toll_free: bool = False  # 800, 833, 844, 855, 866, 877, 888: no texts


def clean_text(
    value: Any, label: str, limit: int = MAX_SHORT, multiline: bool = False
) -> str | None:
    """Trim, NFC-normalise and (single-line) collapse whitespace; `InvalidLead` for control
    characters other than tab and newlines, or for a value longer than `limit`."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value))
    for ch in text:
        if unicodedata.category(ch) == "Cc" and ch not in _ALLOWED_CONTROL:
            raise InvalidLead(f"control character U+{ord(ch):04X} in {label}")
    text = text.strip() if multiline else _SPACES.sub(" ", text).strip()
    if len(text) > limit:
        raise InvalidLead(f"{label} is {len(text)} characters (limit {limit})")
    return text or None


HONORIFICS = frozenset(
    {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "fr", "sir", "dame", "hon", "capt"}
)
"""Titles a lead form puts before a name; HCP's customer has no field for them."""
SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "v", "md", "phd", "esq", "dds", "cpa"})
"""Generational and professional suffixes: part of the last name, never a first name."""


def _bare(word: str) -> str:
    return word.rstrip(".,").lower()


def split_full_name(name: str | None) -> tuple[str | None, str | None, str | None]:
    """(first, last, honorific left out): HCP's first-space split, with the module's three
    exceptions (honorific, suffix, "Last, First")."""
    if not name:
        return None, None, None
    words = _SPACES.sub(" ", name).strip().split(" ")
    honorific = None
    if len(words) > 1 and _bare(words[0]) in HONORIFICS:
        honorific, words = words[0], words[1:]
    suffix = None
    if len(words) > 2 and _bare(words[-1]) in SUFFIXES:
        suffix, words = words[-1].rstrip(","), words[:-1]
        words[-1] = words[-1].rstrip(",")
    text = " ".join(words)
    if text.count(",") == 1:  # "Smith, John" (a suffix's own comma is already gone)
        last, given = (part.strip() for part in text.split(","))
        if last and given:
            head, _, rest = given.partition(" ")
            if rest and not honorific and _bare(head) in HONORIFICS:
                honorific, given = head, rest
            return given, _with(last, suffix), honorific  # "Smith, Mary Ann": given names kept
    first, _, last = text.partition(" ")
    if honorific and not last:  # "Mr. Smith": a title before one word names the family
        return None, _with(first, suffix), honorific
    return (first or None), _with(last or None, suffix), honorific


def _with(last: str | None, suffix: str | None) -> str | None:
    if suffix is None:
        return last
    return f"{last} {suffix}" if last else suffix


def split_name(name: str | None) -> tuple[str | None, str | None]:
    """(first, last) of a full name: `split_full_name` without the honorific."""
    first, last, _ = split_full_name(name)
    return first, last


def normalise_email(raw: str | None) -> str | None:
    """Trimmed, lower-cased email; `ValueError` with the reason when it is not an address."""
    if raw is None or not raw.strip():
        return None
    email = raw.strip().lower()
    if email.startswith("mailto:"):
        email = email[len("mailto:") :]
    if any(ch.isspace() for ch in email):
        raise ValueError("contains spaces")
    if email.count("@") != 1:
        raise ValueError("needs exactly one @")
    if len(email) > 254:
        raise ValueError(f"{len(email)} characters (limit 254)")
    if not _EMAIL.match(email):
        raise ValueError("not an email address")
    return email


def parse_phone(raw: str | None) -> Phone | None:
    """A phone number read as US by default; `ValueError` with the reason when unusable."""
    if raw is None or not str(raw).strip():
        return None
    text = str(raw).strip()
    try:
        number = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    if number.country_code == 1:  # US and the rest of the North American plan
        digits = f"{number.national_number:010d}"
        display = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
        free = phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.TOLL_FREE
        return Phone(digits, True, number.extension or None, display, free)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    intl = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return Phone(e164, False, number.extension or None, intl)


def effective_lead_source(
    lead: StagedLead, profile: Profile, override: str | None = None
) -> str | None:
    """The Lead Source string sent to HCP: the push's override, the lead's own, the profile's."""
    for candidate in (
        override,
        lead.lead_source,
        _mapped_extra(lead, profile, "lead_source"),
        profile.lead_source,
    ):
        text = clean_text(candidate, "lead_source")
        if text:
            return text
    return None


def _mapped_extra(lead: StagedLead, profile: Profile, target: str) -> str | None:
    for column, dest in profile.fields.items():
        if dest == target and lead.extra.get(column) not in (None, ""):
            return str(lead.extra[column])
    return None


def _show(value: Any, width: int = 40) -> str:
    """A value quoted for a reason, cut short so a 100 KB cell does not make a 100 KB reason."""
    text = repr(str(value))
    return text if len(text) <= width else text[: width - 2] + "…'"


def _label(column: str) -> str:
    return column.replace("_", " ").strip().capitalize()


def map_lead(lead: StagedLead, profile: Profile, lead_source: str | None = None) -> MappedLead:
    """Build the `POST /customers` body for one lead; `InvalidLead` when it cannot be sent."""
    dropped: list[str] = []
    notes: list[str] = []

    first = clean_text(lead.first_name, "first_name")
    last = clean_text(lead.last_name, "last_name")
    full = clean_text(lead.name, "name")
    if not first and not last:
        first, last, honorific = split_full_name(full)
        if honorific:
            dropped.append(
                f"honorific {honorific!r}: left out of the name (HCP has no title field)"
            )

    # Any problem with the email or the phone (including control characters or size) only
    # drops that field; the lead fails below when neither is left.
    email_error = phone_error = None
    try:
        email = normalise_email(clean_text(lead.email, "email"))
    except (InvalidLead, ValueError) as exc:
        email, email_error = None, f"email {_show(lead.email)}: {exc}"
    try:
        phone = parse_phone(clean_text(lead.phone, "phone"))
    except (InvalidLead, ValueError) as exc:
        phone, phone_error = None, f"phone {_show(lead.phone)}: {exc}"

    mobile: str | None = None
    toll_free: str | None = None
    if phone is not None and phone.domestic and phone.toll_free:
        toll_free = phone.digits
        dropped.append(
            f"phone {phone.display!r}: toll-free, sent as work_number (HCP texts the mobile "
            "number, and a toll-free number cannot receive texts)"
        )
        if phone.extension:
            notes.append(f"Phone extension: {phone.extension}")
        if not email and not (first or last):
            raise InvalidLead(
                f"toll-free phone {_show(phone.display)} and no email or name: HCP's customer "
                "search does not cover work numbers, so the push could not find this customer "
                "again to send it exactly once"
            )
    elif phone is not None and phone.domestic:
        mobile = phone.digits
        if phone.extension:
            notes.append(f"Phone extension: {phone.extension}")
            dropped.append(f"phone extension {phone.extension!r}: moved to notes")
    elif phone is not None:
        if profile.non_us_phone == "reject":
            raise InvalidLead(
                f"non-US phone {_show(phone.display)} rejected by route {profile.name!r}"
            )
        notes.append(f"Phone (non-US): {phone.display}")
        dropped.append(f"phone {phone.display!r}: non-US, moved to notes")

    if not email and not mobile and not toll_free:
        details = [d for d in (email_error, phone_error) if d]
        if phone is not None and not phone.domestic:
            details.append(f"phone {phone.display!r} is not a US number")
        suffix = f" ({'; '.join(details)})" if details else ""
        raise InvalidLead(f"no valid email or usable phone{suffix}")
    dropped += [d for d in (email_error, phone_error) if d]

    payload: dict[str, Any] = {}
    if first:
        payload["first_name"] = first
    if last:
        payload["last_name"] = last
    if email:
        payload["email"] = email
    if mobile:
        payload["mobile_number"] = mobile
    if toll_free:
        payload["work_number"] = toll_free
    company = clean_text(lead.company, "company")
    if company:
        payload["company"] = company
    source = effective_lead_source(lead, profile, lead_source)
    if source:
        payload["lead_source"] = source

    own_notes = clean_text(lead.notes, "notes", MAX_LONG, multiline=True)
    tags = list(profile.tags)
    address: dict[str, str] = {}
    for column, target in profile.fields.items():
        if target in LOAD_TARGETS:
            continue  # the loader put that column in the lead's own field already
        raw = lead.extra.get(column)
        value = clean_text(raw, column, MAX_LONG, multiline=target == "notes")
        if not value:
            continue
        if target == "notes":
            notes.append(f"{_label(column)}: {value}")
        elif target == "tags":
            tags += [t.strip() for t in value.split(",") if t.strip()]
        elif target in ("home_number", "work_number"):
            try:
                other = parse_phone(value)
            except ValueError as exc:
                dropped.append(f"{target} {_show(value)}: {exc}")
                continue
            if other is not None:
                payload[target] = other.digits if other.domestic else other.display
        elif target.startswith("address."):
            address[target.removeprefix("address.")] = value
        elif target == "company":
            payload.setdefault("company", value)
        # lead_source is resolved by effective_lead_source above
    if tags:
        payload["tags"] = list(dict.fromkeys(tags))
    if address:
        payload["addresses"] = [address]
    all_notes = "\n".join(n for n in (own_notes, *notes) if n)
    if all_notes:
        if len(all_notes) > MAX_LONG:
            raise InvalidLead(
                f"notes are {len(all_notes)} characters after mapping (limit {MAX_LONG})"
            )
        payload["notes"] = all_notes
    if profile.notifications_enabled is not None:
        payload["notifications_enabled"] = profile.notifications_enabled
    return MappedLead(lead.lead_id, payload, tuple(dropped), email, mobile or toll_free)
