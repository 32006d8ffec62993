"""`hcp leads test`: HCP's test lead, sent as a customer, to prove the push path end to end.

"Test Lead", `test+hcp-sync@example.com` (HCP_API.md §10). Looked up first, so running it twice
shows the existing customer instead of creating a second one or failing. It is never staged and
never touches DuckDB: it proves the key and the write path, not the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.leads.hcp import find_customer
from pipelines.verify import EXIT_OK, EXIT_OTHER, result_for_error
from sources.housecallpro.client import HCPClient
from sources.housecallpro.errors import (
    AuthError,
    DuplicateCustomer,
    HCPError,
    PermissionDenied,
    TransportError,
)

TEST_EMAIL = "test+hcp-sync@example.com"
TEST_PAYLOAD: dict[str, Any] = {
    "first_name": "Test",
    "last_name": "Lead",
    "email": TEST_EMAIL,
    "notes": "Sent by `hcp leads test` (hcp-sync) to check the connection; safe to delete.",
}


@dataclass(frozen=True)
class TestLeadResult:
    __test__ = False  # not a pytest test class

    created: bool  # False: it existed already (or the send failed)
    exit_code: int
    message: str
    customer: dict[str, Any] | None = None

    @property
    def customer_id(self) -> str | None:
        return str(self.customer["id"]) if self.customer and self.customer.get("id") else None


def _existing(customer: dict[str, Any], why: str) -> TestLeadResult:
    name = " ".join(str(customer.get(k) or "") for k in ("first_name", "last_name")).strip()
    return TestLeadResult(
        False,
        EXIT_OK,
        f"{why}: customer {customer.get('id')} ({name or 'no name'}, {customer.get('email')}, "
        f"created {customer.get('created_at') or 'at an unknown time'}). Nothing new was created.",
        customer,
    )


def send_test_lead(client: HCPClient) -> TestLeadResult:
    """Create the test customer unless it exists; never raises for HCP errors."""
    try:
        found = find_customer(client, TEST_EMAIL, None)
        if found:
            return _existing(found, f"The test lead already exists in HCP ({TEST_EMAIL})")
        try:
            body = client.post("/customers", TEST_PAYLOAD)
        except DuplicateCustomer:
            found = find_customer(client, TEST_EMAIL, None)
            if found:
                return _existing(found, "HCP says the test lead is a duplicate")
            return TestLeadResult(
                False,
                EXIT_OTHER,
                "HCP says the test lead is a duplicate but search cannot find it.",
            )
        except TransportError as exc:
            if not exc.outcome_unknown:
                raise
            found = find_customer(client, TEST_EMAIL, None)
            if found:
                return TestLeadResult(
                    True,
                    EXIT_OK,
                    f"HCP's answer was lost, but the test lead is there: customer {found.get('id')}.",
                    found,
                )
            return TestLeadResult(
                False, EXIT_OTHER, f"No answer from HCP ({exc.message}) and no test lead found."
            )
    except (AuthError, PermissionDenied, TransportError) as exc:
        verdict = result_for_error(exc, client.base_url, client.account)
        return TestLeadResult(False, verdict.exit_code, verdict.message)
    except HCPError as exc:
        return TestLeadResult(False, EXIT_OTHER, f"HCP refused the test lead: {exc}")
    customer = body if isinstance(body, dict) else {}
    return TestLeadResult(
        True,
        EXIT_OK,
        f"Created the test lead as customer {customer.get('id')} ({TEST_EMAIL}). "
        "Find it in HCP under Customers, and delete it when you are done.",
        customer,
    )
