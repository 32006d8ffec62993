"""Typed HCP errors. Every message is built from method, path, status and HCP's own text: never
from headers, so the API key cannot leak through `str()`, `repr()` or a traceback."""

from __future__ import annotations

from typing import Any


class HCPError(Exception):
    """Base for everything the HCP client raises."""

    status: int | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str = "",
        path: str = "",
        body: Any = None,
    ) -> None:
        self.message = message
        self.status = status if status is not None else self.status
        self.method = method
        self.path = path
        self.body = body
        where = f"{method} {path}".strip()
        code = self._code()
        super().__init__(f"{where}: {code}: {message}" if where else f"{code}: {message}")

    def _code(self) -> str:
        """What went wrong in a word: the HTTP status, or why there is none."""
        return f"HTTP {self.status}" if self.status is not None else "no response"


class AuthError(HCPError):
    """401: the key is wrong, revoked, or its user lost API access."""

    status = 401


class PermissionDenied(HCPError):
    """403: the key's user lacks a permission (for a push: Create Customer)."""

    status = 403


class NotFound(HCPError):
    status = 404


class ValidationError(HCPError):
    """400/422: HCP refused the payload; `field` and `reason` say why when HCP tells."""

    status = 422

    def __init__(self, message: str, *, field: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.field = field
        self.reason = message


class DuplicateCustomer(ValidationError):
    """422 "Duplicate customer": HCP already has a customer with this email."""


class RateLimited(HCPError):
    """429 after the client's own retries ran out."""

    status = 429

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(HCPError):
    """5xx after the client's own retries ran out."""


class TransportError(HCPError):
    """No HTTP answer: timeout, refused or dropped connection.

    `outcome_unknown` is True when the request may have reached HCP (it was sent and the answer
    was lost): a POST in that state must be reconciled, never blindly repeated.
    """

    def __init__(self, message: str, *, outcome_unknown: bool, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.outcome_unknown = outcome_unknown


class IncompleteRead(HCPError):
    """A listing ended with a row count other than the `total_items` HCP reported for it.

    Rows were missed (or HCP's totals are wrong), so the read must fail loudly instead of looking
    complete: a failed read keeps its cursor and flags no deletions. A live account's
    `total_pages` was counted against a page size larger than it served (HCP_API.md §2).
    """

    def __init__(self, *, path: str, rows: int, total_items: int, method: str = "GET") -> None:
        self.rows = rows
        self.total_items = total_items
        super().__init__(
            f"read {rows} rows but total_items says {total_items}", method=method, path=path
        )

    def _code(self) -> str:
        return "incomplete read"


def message_from_body(body: Any) -> tuple[str, str | None]:
    """HCP's three error shapes (HCP_API.md §2) -> (message, field)."""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"]), err.get("field")
        if isinstance(err, str):
            return err, None
        errors = body.get("errors")
        if isinstance(errors, dict) and errors:
            field, detail = next(iter(errors.items()))
            if isinstance(detail, list):
                detail = ", ".join(str(d) for d in detail)
            return f"{field} {detail}", str(field)
        if isinstance(errors, list) and errors:
            return "; ".join(str(e) for e in errors), None
        if body.get("message"):
            return str(body["message"]), None
    if isinstance(body, str) and body.strip():
        return body.strip()[:300], None
    return "", None
