"""Many HCP accounts on one sandbox: each company has its own keys, data, rate limit and faults.

Agencies and franchise groups run dozens of HCP accounts, each with its own API key on the same
base URL, so the sandbox tells companies apart by the `Authorization` key, as HCP does.
Company 1 is the plain single-company sandbox (its keys and data are unchanged); company n > 1
is seeded with `seed + n - 1`, named "<company_name> #n", and each of its keys ends in "-n"
(`sandbox-key-2`, `sandbox-readonly-key-2`, ...). A key no company has goes to company 1, whose
gate answers HCP's 401.

Admin: `/_sandbox/...` is company 1; `/_sandbox/companies/<n>/...` is company n's admin API;
`GET /_sandbox/companies` lists every company with its name and keys. Webhooks: company 1 only
(HCP sends each account's events to that account's one URL; see docs/sandbox.md).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from sandbox.auth import key_from_header
from sandbox.gate import ADMIN_PREFIX, ASGIApp, Receive, Scope, Send, send_json
from sandbox.settings import SandboxSettings
from sandbox.state import SandboxState

KEY_FIELDS = ("api_key", "readonly_key", "noaccess_key", "company_only_key")
_COMPANY_ADMIN = re.compile(rf"^{ADMIN_PREFIX}/companies(?:/(?P<n>[^/]+)(?P<rest>/.*)?)?/?$")


def company_settings(base: SandboxSettings, n: int) -> SandboxSettings:
    """The settings of company `n` (1-based) of a sandbox started with `base`."""
    if n == 1:
        return base
    keys = {f: f"{getattr(base, f)}-{n}" for f in KEY_FIELDS}
    return replace(
        base,
        seed=base.seed + n - 1,
        company_name=f"{base.company_name} #{n}",
        webhook_url="",
        webhook_secret="",
        **keys,
    )


def company_summary(n: int, settings: SandboxSettings) -> dict[str, Any]:
    """What `GET /_sandbox/companies` shows of one company."""
    return {
        "company": n,
        "name": settings.company_name,
        "seed": settings.seed,
        **{f: getattr(settings, f) for f in KEY_FIELDS},
    }


class CompanyRouter:
    """ASGI: each HCP request to the company whose key it carries; admin by path."""

    def __init__(self, apps: list[ASGIApp], states: list[SandboxState]) -> None:
        self.apps, self.states = apps, states
        self._by_key = {
            getattr(state.settings, f): i for i, state in enumerate(states) for f in KEY_FIELDS
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.apps[0](scope, receive, send)
            return
        path: str = scope["path"]
        match = _COMPANY_ADMIN.match(path)
        if match:
            await self._company_admin(match, scope, receive, send)
            return
        index = 0
        if not path.startswith(ADMIN_PREFIX):
            headers = dict(scope.get("headers") or [])
            raw = headers.get(b"authorization", b"").decode("latin-1")
            index = self._by_key.get(key_from_header(raw) or "", 0)
        await self.apps[index](scope, receive, send)

    async def _company_admin(
        self, match: re.Match[str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        if match["n"] is None:
            body = [company_summary(i + 1, s.settings) for i, s in enumerate(self.states)]
            await send_json(send, 200, {"companies": body})
            return
        n = int(match["n"]) if match["n"].isdigit() else 0
        if not 1 <= n <= len(self.apps):
            message = (
                f"no company {match['n']!r}: this sandbox serves companies 1..{len(self.apps)}"
            )
            await send_json(send, 404, {"error": {"message": message}})
            return
        sub = ADMIN_PREFIX + (match["rest"] or "/")
        scope = {**scope, "path": sub, "raw_path": sub.encode()}
        await self.apps[n - 1](scope, receive, send)
