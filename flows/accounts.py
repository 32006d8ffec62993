"""Which accounts a flow run serves, and where each account's API key comes from.

Two homes for a key, both documented in docs/flows.md:

- dlt config / environment (the same as every `hcp` command): `SOURCES__HOUSECALLPRO__API_KEY`,
  `SOURCES__HOUSECALLPRO__ACCOUNTS__<NAME>__API_KEY` or `.dlt/secrets.toml`.
- A Prefect `Secret` block, named per account in the flow's `secret_blocks` parameter
  (`{"default": "hcp-api-key"}`). Only the block's *name* is a flow parameter; the key itself is
  read inside the task that needs it, so it never lands in a flow run's parameters, a task's
  inputs, a log line or an artifact.

This module must never log, print or return a key outside an `Account` (whose repr hides it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import dlt

from pipelines import config
from pipelines.config import Account, ConfigError


def account_names(
    accounts: Iterable[str] | None = None,
    secret_blocks: Mapping[str, str] | None = None,
) -> list[str]:
    """The accounts of a run: the ones asked for, else every configured one plus every block's.

    Raises `ConfigError` (with the setting to fix) when nothing is configured at all, so a
    misconfigured deployment fails at once with words a person can act on.
    """
    if accounts:
        return list(dict.fromkeys(accounts))
    names = config.account_names()
    names += [n for n in (secret_blocks or {}) if n not in names]
    if not names:
        config.load_accounts()  # raises the "no key configured" ConfigError
    return names


def _configured_base_url(name: str) -> str:
    """The base URL for an account whose key lives in a Secret block (no dlt key to hang it on)."""
    for key in (
        f"{config.SECTION}.accounts.{name}.base_url",
        f"{config.SECTION}.base_url",
    ):
        value = dlt.config.get(key)
        if value:
            return config.checked_base_url(str(value), key.upper().replace(".", "__"))
    return config.DEFAULT_BASE_URL


def resolve_account(name: str, secret_block: str | None = None) -> Account:
    """The account `name` with its key: from the Secret block when one is named, else from config.

    A block overrides a key that is also configured the dlt way (the block is the explicit
    choice of whoever wrote the deployment). Base URL and pace always come from config.
    """
    if not secret_block:
        return config.load_account(name)
    from prefect.blocks.system import Secret  # Prefect only where a block is asked for

    key = Secret.load(secret_block).get()
    if not isinstance(key, str) or not key:
        raise ConfigError(f"Prefect Secret block {secret_block!r} holds no string API key.")
    try:
        return dataclasses.replace(config.load_account(name), api_key=key)
    except ConfigError:
        return Account(
            name=name,
            api_key=key,
            base_url=_configured_base_url(name),
            rate_limit=config.rate_limit(),
            concurrency=config.concurrency(),
        )


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by `***`: the last guard before an artifact or log line.

    HCP errors never carry the key (sources/housecallpro/errors.py); this guards text from
    elsewhere (a library's message, a URL someone pasted into config).
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
