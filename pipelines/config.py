"""Configuration the dlt way: `.dlt/config.toml`, `.dlt/secrets.toml` or environment variables.

One key set as `SOURCES__HOUSECALLPRO__API_KEY` (+ optional `..._BASE_URL`) is the account named
`default`. Several accounts (an agency, a franchise) are tables under
`[sources.housecallpro.accounts.<name>]` with their own `api_key` (secrets) and optional
`base_url`; environment variables `SOURCES__HOUSECALLPRO__ACCOUNTS__<NAME>__API_KEY` work too.
The webhook receiver's Signing Secrets sit beside the keys as `webhook_secret`, the same way.

This module never logs or prints a key or a signing secret: `Account.__repr__` hides the key,
and no error message quotes a configured key, secret or credentials (a base URL, which is
none of them, is quoted when it is malformed).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration.exceptions import ConfigProviderException

from pipelines.webhooks.spool import spool_path_for
from sources.housecallpro.settings import DEFAULT_BASE_URL, DEFAULT_CONCURRENCY, DEFAULT_RATE_LIMIT

DEFAULT_DB_PATH = "hcp_sync.duckdb"
RESERVED_DB_STEMS = frozenset({"hcp", "staging", "analytics", "main"})
"""DuckDB names a database (catalog) after its file: `hcp.duckdb` would make every `hcp.<table>`
ambiguous between the catalog and our `hcp` schema, so such names are refused."""
SECTION = "sources.housecallpro"
_ACCOUNT_ENV = re.compile(r"^SOURCES__HOUSECALLPRO__ACCOUNTS__([A-Z0-9_]+?)__API_KEY$")
_WEBHOOK_ENV = re.compile(r"^SOURCES__HOUSECALLPRO__ACCOUNTS__([A-Z0-9_]+?)__WEBHOOK_SECRET$")
DEFAULT_WEBHOOK_TOLERANCE_S = 300.0


class ConfigError(Exception):
    """Configuration is missing or wrong; the message says what to set."""


@dataclass(frozen=True)
class Account:
    """One HCP account: a name, a key, a base URL and the client's pace."""

    name: str
    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    rate_limit: float = DEFAULT_RATE_LIMIT
    concurrency: int = DEFAULT_CONCURRENCY

    def __repr__(self) -> str:
        return f"Account(name={self.name!r}, base_url={self.base_url!r}, api_key=***)"


def _get(key: str, default: Any = None) -> Any:
    """Look a key up in dlt's providers (env, secrets.toml, config.toml), secrets first."""
    for accessor in (dlt.secrets, dlt.config):
        try:
            value = accessor.get(key)  # None when the key is not set anywhere
        except ConfigProviderException as exc:
            # A file that does not parse must not read as "no key configured".
            raise ConfigError(f"Could not read hcp-sync's configuration: {exc}") from None
        if value is not None:
            return value
    return default


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    try:
        return {k: value[k] for k in value}
    except TypeError:
        return {}


def rate_limit() -> float:
    return float(_get(f"{SECTION}.rate_limit", DEFAULT_RATE_LIMIT))


def concurrency() -> int:
    return int(_get(f"{SECTION}.concurrency", DEFAULT_CONCURRENCY))


def db_path(override: str | Path | None = None) -> Path:
    """The DuckDB file: flag, then `DESTINATION__DUCKDB__CREDENTIALS`, then `hcp_sync.duckdb`."""
    if override:
        path = Path(override).expanduser().resolve()
    else:
        value = _get("destination.duckdb.credentials", DEFAULT_DB_PATH)
        if not isinstance(value, str):
            value = DEFAULT_DB_PATH
        path = Path(value.removeprefix("duckdb:///")).expanduser().resolve()
    if path.stem.lower() in RESERVED_DB_STEMS:
        raise ConfigError(
            f"DuckDB file {path.name!r} would clash with hcp-sync's schema {path.stem!r}: "
            f"DuckDB names the database after its file, so {path.stem}.<table> becomes "
            f"ambiguous. Use another name, e.g. {DEFAULT_DB_PATH!r}."
        )
    return path


def destination(override: str | None = None) -> str:
    """The dlt destination name: flag, then `[sync] destination` / `SYNC__DESTINATION`, then
    `duckdb`. Its credentials are dlt's own settings (`DESTINATION__POSTGRES__CREDENTIALS`, ...)."""
    value = override or _get("sync.destination") or "duckdb"
    return str(value).strip().lower()


def destination_credentials(name: str) -> str | None:
    """The configured credentials of destination `name` as a string (only to tell two
    warehouses of the same kind apart; never printed)."""
    value = _get(f"destination.{name}.credentials")
    return str(value) if value is not None else None


def account_names() -> list[str]:
    """Every configured account name, `default` first when the single-key form is set."""
    names: list[str] = []
    if _get(f"{SECTION}.api_key"):
        names.append("default")
    tables = _as_dict(_get(f"{SECTION}.accounts"))
    names += [n for n in tables if n not in names]
    for env_key in os.environ:
        match = _ACCOUNT_ENV.match(env_key)
        if match and match.group(1).lower() not in names:
            names.append(match.group(1).lower())
    return names


def _env_prefix(name: str) -> str:
    """The environment form of an account's settings: `SOURCES__HOUSECALLPRO` for the single-key
    `default`, else `SOURCES__HOUSECALLPRO__ACCOUNTS__<NAME>`."""
    if name == "default" and not _get(f"{SECTION}.accounts.default.api_key"):
        return "SOURCES__HOUSECALLPRO"
    return f"SOURCES__HOUSECALLPRO__ACCOUNTS__{name.upper()}"


def key_setting(name: str) -> str:
    """The setting holding account `name`'s key, as a user types it: what to fix after a 401."""
    return f"{_env_prefix(name)}__API_KEY"


def checked_base_url(url: str, setting: str) -> str:
    """`url` without a trailing slash; `ConfigError` naming `setting` unless it is http(s)://...:
    without a scheme httpx could only fail each request with "UnsupportedProtocol"."""
    value = str(url).strip().rstrip("/")
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest:
        raise ConfigError(
            f"{setting} must start with http:// or https:// (e.g. http://127.0.0.1:8765 for "
            f"the sandbox, {DEFAULT_BASE_URL} for HCP), not {value!r}."
        )
    return value


def load_account(name: str = "default", base_url: str | None = None) -> Account:
    """Build one account from config; raise `ConfigError` naming the setting when the key is missing."""
    if name == "default" and _get(f"{SECTION}.api_key"):
        prefix = SECTION
    else:
        prefix = f"{SECTION}.accounts.{name}"
    key = _get(f"{prefix}.api_key")
    if not key:
        if name == "default":
            raise ConfigError(
                "No HCP API key configured. Set SOURCES__HOUSECALLPRO__API_KEY or put "
                "api_key under [sources.housecallpro] in .dlt/secrets.toml "
                "(HCP: App Store -> API Key Management -> Generate API Key)."
            )
        raise ConfigError(
            f"No API key for account {name!r}. Set SOURCES__HOUSECALLPRO__ACCOUNTS__"
            f"{name.upper()}__API_KEY or api_key under [sources.housecallpro.accounts.{name}] "
            "in .dlt/secrets.toml."
        )
    if base_url:
        url = checked_base_url(base_url, "--base-url")
    elif _get(f"{prefix}.base_url"):
        url = checked_base_url(_get(f"{prefix}.base_url"), f"{_env_prefix(name)}__BASE_URL")
    else:
        url = checked_base_url(
            _get(f"{SECTION}.base_url") or DEFAULT_BASE_URL, "SOURCES__HOUSECALLPRO__BASE_URL"
        )
    account_rate = _get(f"{prefix}.rate_limit")
    account_conc = _get(f"{prefix}.concurrency")
    return Account(
        name=name,
        api_key=str(key),
        base_url=url,
        rate_limit=float(account_rate) if account_rate is not None else rate_limit(),
        concurrency=int(account_conc) if account_conc is not None else concurrency(),
    )


def load_accounts(only: str | None = None) -> list[Account]:
    """All configured accounts, or the one named; `ConfigError` when none is configured."""
    names = account_names()
    if only:
        if only not in names and names:
            raise ConfigError(
                f"No account {only!r} is configured; configured: {', '.join(names)}. To add it, "
                f"set {key_setting(only)} or api_key under [sources.housecallpro.accounts.{only}] "
                "in .dlt/secrets.toml."
            )
        return [load_account(only)]
    if not names:
        return [load_account("default")]  # raises the helpful "no key" error
    return [load_account(n) for n in names]


def webhook_secrets() -> dict[str, str]:
    """{account: Signing Secret} for the webhook receiver; `ConfigError` naming the setting when
    no account has one. `default` is `[sources.housecallpro] webhook_secret`; a named account's
    is `webhook_secret` under `[sources.housecallpro.accounts.<name>]`."""
    secrets: dict[str, str] = {}
    default = _get(f"{SECTION}.webhook_secret")
    if default:
        secrets["default"] = str(default)
    names = list(_as_dict(_get(f"{SECTION}.accounts")))
    for env_key in os.environ:
        match = _WEBHOOK_ENV.match(env_key)
        if match:
            names.append(match.group(1).lower())
    for name in names:
        secret = _get(f"{SECTION}.accounts.{name}.webhook_secret")
        if secret and name not in secrets:
            secrets[name] = str(secret)
    if not secrets:
        raise ConfigError(
            "No webhook signing secret configured. Set SOURCES__HOUSECALLPRO__WEBHOOK_SECRET or "
            "webhook_secret under [sources.housecallpro] (or [sources.housecallpro.accounts."
            "<name>]) in .dlt/secrets.toml (HCP: App Store -> Webhooks -> Signing Secret)."
        )
    return secrets


def webhook_tolerance_s(override: float | None = None) -> float:
    """How far `Api-Timestamp` may be from our clock: flag, then `webhook_tolerance_s`, then 300."""
    if override is not None:
        return float(override)
    return float(_get(f"{SECTION}.webhook_tolerance_s", DEFAULT_WEBHOOK_TOLERANCE_S))


def webhook_spool_path(
    override: str | Path | None = None, *, warehouse: Path | None = None
) -> Path:
    """The webhook spool, for the receiver and the drain alike: flag, then `webhook_spool`, else
    beside the DuckDB file (`warehouse` when the caller has one, else the configured file: with
    another destination the receiver and the drain still meet beside the default file)."""
    value = override or _get(f"{SECTION}.webhook_spool")
    if value:
        return Path(str(value)).expanduser().resolve()
    return spool_path_for(warehouse if warehouse is not None else db_path())


def seeds_dir(override: str | Path | None = None) -> Path | None:
    """A folder of the user's own seed CSVs (`marketing_spend.csv`, `lead_source_map.csv`) that
    replace the package's: flag, then `[transform] seeds_dir` / `TRANSFORM__SEEDS_DIR`, else None
    (the package's `transforms/seeds/`). Users keep their spend outside the installed package."""
    value = override or _get("transform.seeds_dir")
    return Path(str(value)).expanduser().resolve() if value else None
