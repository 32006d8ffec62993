"""Who is calling: HCP's key header and what each sandbox key may do.

HCP_API.md §2 Auth: `Authorization: Token <key>` (and, ASSUMED, `Bearer <key>`); 401 with HCP's
live body `{"message":"Unauthorized"}` (§2 Errors), 403 "Permission denied" (§10). Some list endpoints answer only application
keys (`/routes`, `/service_zones`, `/api/price_book/services`, from the spec's security blocks).
"""

from __future__ import annotations

from enum import Enum

from sandbox.objects import APP_KEY_ONLY_PATHS
from sandbox.settings import SandboxSettings

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Role(Enum):
    FULL = "full"
    """The main key: full access; also an application key while `app_key_objects` is on."""
    COMPANY = "company"
    """Full access, but a company key: no application-key-only objects."""
    READONLY = "readonly"
    NOACCESS = "noaccess"


def key_from_header(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, key = value.strip().partition(" ")
    if scheme.lower() not in ("token", "bearer"):
        return None
    return key.strip() or None


def role_of(key: str | None, settings: SandboxSettings) -> Role | None:
    if not key:
        return None
    return {
        settings.api_key: Role.FULL,
        settings.company_only_key: Role.COMPANY,
        settings.readonly_key: Role.READONLY,
        settings.noaccess_key: Role.NOACCESS,
    }.get(key)


def is_app_key(role: Role, settings: SandboxSettings) -> bool:
    return role is Role.FULL and settings.app_key_objects


def denied(role: Role, method: str, path: str, settings: SandboxSettings) -> bool:
    """True when HCP would answer 403 "Permission denied"."""
    if role is Role.NOACCESS:
        return True
    if role is Role.READONLY and method in WRITE_METHODS:
        return True
    app_only = any(path == p or path.startswith(p + "/") for p in APP_KEY_ONLY_PATHS)
    return app_only and not is_app_key(role, settings)
