"""Mapping profiles for the lead push (`leads_routes.toml`) and the push settings.

A lead's `route` column names its mapping profile: which lead source it gets by default, what
happens to a non-US phone, where extra CSV columns go. The user-facing names say "route"
(`route` column, `--route`, `leads_routes.toml`, `[routes.NAME]`, `routes_file`) and are a
documented contract; in code the concept is a profile, because in HCP a route is a dispatch
route (the `hcp.routes` table). This module reads config and never talks to HCP or DuckDB.

Where the file is found, first hit wins:
1. an explicit path (`--routes PATH` on the command line, or the `routes_file` argument);
2. `sources.housecallpro.leads.routes_file` in dlt config
   (env `SOURCES__HOUSECALLPRO__LEADS__ROUTES_FILE`);
3. `leads_routes.toml` in the working folder;
4. none: a single built-in `default` profile (no lead source, non-US phones moved to notes).

File shape (see `examples/leads_routes.toml` and docs/leads.md):

    default_route = "default"          # optional; the route of leads whose `route` is empty

    [routes.default]
    lead_source = "Website"            # when the lead has none
    non_us_phone = "notes"             # or "reject"
    tags = ["web"]
    notifications_enabled = false
    on_existing = "link"               # or "skip", "create": when HCP already has the customer
    [routes.default.fields]            # extra CSV column -> customer field
    budget = "notes"
    zip = "address.zip"

Push settings live in dlt config under `[sources.housecallpro.leads]`:
`on_duplicate` ("fail" | "link"), `max_attempts` (default 5).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt

from pipelines.config import ConfigError
from pipelines.leads.mapping import (
    NON_US_POLICIES,
    ON_EXISTING,
    TARGETS,
    InvalidLead,
    MappedLead,
    Profile,
    StagedLead,
    map_lead,
)

PROFILES_FILE = "leads_routes.toml"
SECTION = "sources.housecallpro.leads"
ON_DUPLICATE = ("fail", "link")
DEFAULT_MAX_ATTEMPTS = 5


def normalise_column(name: str) -> str:
    """Header and mapping keys compare as lower snake case: "E-mail Address" -> "e_mail_address"."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


@dataclass(frozen=True)
class ProfileBook:
    """All mapping profiles by name, and which one a lead with an empty `route` uses."""

    profiles: Mapping[str, Profile] = field(default_factory=lambda: {"default": Profile()})
    default_profile: str = "default"  # the file's `default_route`
    source: Path | None = None  # the file they came from, for messages

    def get(self, name: str | None) -> Profile:
        """The profile a `route` value names; `KeyError` with a readable message when unknown."""
        key = name.strip() if name and name.strip() else self.default_profile
        profile = self.profiles.get(key)
        if profile is None:
            if key == "default" and not name:
                return Profile()
            known = ", ".join(sorted(self.profiles)) or "none"
            where = f" in {self.source}" if self.source else ""
            raise KeyError(f"unknown route {key!r}{where} (known: {known})")
        return profile

    def map(self, lead: StagedLead) -> MappedLead:
        """The mapping the push (and its dry run, and the loader's check) applies to a staged
        lead; `InvalidLead` for a lead that must not be sent."""
        surplus = lead.extra.get("_surplus_fields")
        if surplus:
            # A CSV row with more fields than its header: columns may be shifted, so sending it
            # could put a phone in the notes or a name in the company. The user fixes the row.
            raise InvalidLead(
                f"the CSV row had extra fields {surplus}; fix the row and remove extra._surplus_fields"
            )
        try:
            profile = self.get(lead.route)
        except KeyError as exc:
            raise InvalidLead(exc.args[0]) from exc
        return map_lead(lead, profile)


@dataclass(frozen=True)
class PushSettings:
    """Knobs of the push that are config, not flags."""

    on_duplicate: str = "fail"
    max_attempts: int = DEFAULT_MAX_ATTEMPTS

    def __post_init__(self) -> None:
        if self.on_duplicate not in ON_DUPLICATE:
            raise ConfigError(
                f"on_duplicate must be one of {', '.join(ON_DUPLICATE)}, not {self.on_duplicate!r}"
            )
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, not {self.max_attempts}")


def _config(key: str) -> Any:
    try:
        return dlt.config.get(f"{SECTION}.{key}")
    except Exception:  # noqa: BLE001 - dlt raises several types for "not found"
        return None


def load_push_settings() -> PushSettings:
    on_dup = _config("on_duplicate")
    max_attempts = _config("max_attempts")
    return PushSettings(
        on_duplicate=str(on_dup).strip().lower() if on_dup else "fail",
        max_attempts=int(max_attempts) if max_attempts is not None else DEFAULT_MAX_ATTEMPTS,
    )


def profiles_path(explicit: str | Path | None = None) -> Path | None:
    """Which route file applies, or None for the built-in default profile."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.exists():
            raise ConfigError(f"route file {path} does not exist")
        return path
    configured = _config("routes_file")
    if configured:
        path = Path(str(configured)).expanduser()
        if not path.exists():
            raise ConfigError(f"route file {path} (from {SECTION}.routes_file) does not exist")
        return path
    local = Path.cwd() / PROFILES_FILE
    return local if local.exists() else None


def load_profiles(explicit: str | Path | None = None) -> ProfileBook:
    """Read the route file; `ConfigError` naming the route and key for every mistake."""
    path = profiles_path(explicit)
    if path is None:
        return ProfileBook()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    return parse_profiles(data, path)


def parse_profiles(data: Mapping[str, Any], source: Path | None = None) -> ProfileBook:
    """The `[routes.NAME]` tables of a route file (already parsed TOML) as profiles."""
    where = str(source) if source else "route config"
    tables = data.get("routes", {})
    if not isinstance(tables, Mapping):
        raise ConfigError(f"{where}: [routes] must be a table of routes")
    profiles: dict[str, Profile] = {}
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: routes.{name} must be a table")
        profiles[name] = _parse_profile(name, table, where)
    default_profile = str(data.get("default_route", "default"))
    if default_profile not in profiles:
        if default_profile != "default":
            raise ConfigError(f"{where}: default_route {default_profile!r} is not a route")
        profiles["default"] = Profile()
    return ProfileBook(profiles, default_profile, source)


def _parse_profile(name: str, table: Mapping[str, Any], where: str) -> Profile:
    known = {
        "lead_source",
        "non_us_phone",
        "fields",
        "tags",
        "notifications_enabled",
        "on_existing",
    }
    unknown = set(table) - known
    if unknown:
        raise ConfigError(
            f"{where}: routes.{name} has unknown keys {sorted(unknown)} (known: {sorted(known)})"
        )
    policy = str(table.get("non_us_phone", "notes"))
    if policy not in NON_US_POLICIES:
        raise ConfigError(
            f"{where}: routes.{name}.non_us_phone must be 'reject' or 'notes', not {policy!r}"
        )
    fields_table = table.get("fields", {})
    if not isinstance(fields_table, Mapping):
        raise ConfigError(f"{where}: routes.{name}.fields must be a table of column = target")
    fields: dict[str, str] = {}
    for column, target in fields_table.items():
        if target not in TARGETS:
            raise ConfigError(
                f"{where}: routes.{name}.fields.{column} = {target!r}; targets are {', '.join(TARGETS)}"
            )
        fields[normalise_column(column)] = str(target)
    tags = table.get("tags", [])
    if isinstance(tags, str):
        tags = [tags]
    notifications = table.get("notifications_enabled")
    if notifications is not None and not isinstance(notifications, bool):
        raise ConfigError(f"{where}: routes.{name}.notifications_enabled must be true or false")
    on_existing = table.get("on_existing", "link")
    if on_existing not in ON_EXISTING:
        raise ConfigError(
            f"{where}: routes.{name}.on_existing must be one of {', '.join(map(repr, ON_EXISTING))}, "
            f"not {on_existing!r}"
        )
    source = table.get("lead_source")
    return Profile(
        name=name,
        lead_source=str(source) if source else None,
        non_us_phone=policy,  # type: ignore[arg-type]
        fields=fields,
        tags=tuple(str(t) for t in tags),
        notifications_enabled=notifications,
        on_existing=on_existing,  # type: ignore[arg-type]
    )
