"""Check an HCP key without touching data: `GET /company` answers 200 for a valid key (HCP_API.md §10).

Exit codes are part of the CLI contract: 0 ok, 2 invalid token (401), 3 missing permission (403),
1 anything else. Sync and push reuse this so a bad key stops them with the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.config import key_setting
from sources.housecallpro.client import HCPClient
from sources.housecallpro.errors import AuthError, HCPError, PermissionDenied, TransportError

EXIT_OK = 0
EXIT_OTHER = 1
EXIT_INVALID_TOKEN = 2
EXIT_PERMISSION = 3


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    exit_code: int
    message: str
    company_name: str | None = None
    company_id: str | None = None
    time_zone: str | None = None


def result_for_error(exc: HCPError, base_url: str = "", account: str = "default") -> VerifyResult:
    """One line a person can act on, per failure class (HCP_API.md §10); a refused key names
    the setting that holds that account's key."""
    if isinstance(exc, AuthError):
        return VerifyResult(
            False,
            EXIT_INVALID_TOKEN,
            f"{_hcp_says(exc)}: the key was revoked or its user lost API access. "
            "Generate a new one (HCP App Store -> API Key Management) and update "
            f"{key_setting(account)} or .dlt/secrets.toml.",
        )
    if isinstance(exc, PermissionDenied):
        return VerifyResult(
            False,
            EXIT_PERMISSION,
            f"{_hcp_says(exc)}: the key's user lacks a permission this needs "
            "(for pushing leads: Create Customer). Use an admin's key or grant the permission.",
        )
    if isinstance(exc, TransportError):
        return VerifyResult(
            False,
            EXIT_OTHER,
            f"Could not reach HCP at {base_url or 'the configured base URL'}: {exc.message}. "
            "Check the network and SOURCES__HOUSECALLPRO__BASE_URL.",
        )
    return VerifyResult(False, EXIT_OTHER, f"HCP answered an error: {exc}. Try again later.")


def _hcp_says(exc: HCPError) -> str:
    """HCP's own words, quoted (live 401: "Unauthorized", HCP_API.md §2), never our guess.

    The client has already taken the key out of the message.
    """
    said = exc.message.strip() or "(no message)"
    return f'HCP says {exc.status} "{said}"'


def verify_account(client: HCPClient, *, tag: Any = None) -> VerifyResult:
    """GET /company once; never raises for HCP errors, returns what to tell the user.

    `tag` goes to the client's observers with the request (the push records it as an attempt).
    """
    try:
        company = client.get("/company", tag=tag)
    except HCPError as exc:
        return result_for_error(exc, client.base_url, client.account)
    if not isinstance(company, dict):
        return VerifyResult(False, EXIT_OTHER, "HCP answered /company with an unexpected body.")
    name = company.get("name") or "(unnamed company)"
    return VerifyResult(
        True,
        EXIT_OK,
        f"Connected to {name}.",
        company_name=company.get("name"),
        company_id=company.get("id"),
        time_zone=company.get("time_zone"),
    )
