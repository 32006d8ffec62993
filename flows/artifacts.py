"""The figures a flow run reports, and the markdown artifact that shows them in the Prefect UI.

One artifact per run, under a fixed key per flow (`hcp-sync`, `hcp-push-leads`) so the UI shows
its history as versions. The figures are counts and seconds only (per object: the read side's
`ObjectFigures`, used as it is): nothing here may hold a key or a lead's personal data, and
every error text is passed through `redact` before it gets here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pipelines.leads.failures import failed_share as share_of
from sources.housecallpro.figures import ObjectFigures

SYNC_KEY = "hcp-sync"
PUSH_KEY = "hcp-push-leads"


@dataclass(frozen=True)
class AccountFigures:
    """One account's sync: per object (the sync's own `ObjectFigures`, errors redacted), or why
    the account failed as a whole."""

    account: str
    objects: tuple[ObjectFigures, ...] = ()
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def rows(self) -> int:
        return sum(o.rows for o in self.objects)

    @property
    def requests(self) -> int:
        return sum(o.requests for o in self.objects)


@dataclass(frozen=True)
class PushFigures:
    """One account's push: leads per outcome (disjoint), requests, duration, why it stopped."""

    account: str
    outcomes: Mapping[str, int] = field(default_factory=dict)
    reconciled: int = 0
    """Of `sent`: found by lookup after an unanswered request (not sent twice)."""
    requests: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def leads(self) -> int:
        return sum(self.outcomes.values())

    @property
    def failed(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome.startswith("failed"))


def failed_share(pushes: Sequence[PushFigures]) -> tuple[int, int, float]:
    """(failed, handled, failed / handled) over all accounts of a run; share 0 with nothing done."""
    failed = sum(p.failed for p in pushes)
    handled = sum(p.leads for p in pushes)
    return failed, handled, share_of(failed, handled)


def _cell(text: str | None) -> str:
    if not text:
        return ""
    one_line = " ".join(text.split())
    return one_line[:200].replace("|", "\\|")


def sync_markdown(
    accounts: Sequence[AccountFigures], seconds: float, transforms: str | None = None
) -> str:
    """The sync run's artifact: rows, pages and requests per account and object; duration."""
    ok = sum(1 for a in accounts if a.ok)
    lines = [
        "# HCP sync",
        "",
        f"- accounts: {ok} of {len(accounts)} synced",
        f"- rows loaded: {sum(a.rows for a in accounts)}",
        f"- requests: {sum(a.requests for a in accounts)}",
        f"- duration: {seconds:.1f} s",
        f"- transforms: {transforms or 'not run'}",
    ]
    for account in accounts:
        lines += ["", f"## {account.account}: {'ok' if account.ok else 'FAILED'}", ""]
        if account.error:
            lines += [f"Error: {_cell(account.error)}", ""]
        if not account.objects:
            continue
        lines += [
            "| object | rows | pages | requests | retries | 429s | seconds | error |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        lines += [
            f"| {o.table} | {o.rows} | {o.pages} | {o.requests} | {o.retries} | "
            f"{o.rate_limited} | {o.seconds:.1f} | {_cell(o.error)} |"
            for o in account.objects
        ]
        lines.append(
            f"| **total** | {account.rows} | {sum(o.pages for o in account.objects)} | "
            f"{account.requests} | {sum(o.retries for o in account.objects)} | "
            f"{sum(o.rate_limited for o in account.objects)} | {account.seconds:.1f} | |"
        )
    return "\n".join(lines) + "\n"


def push_markdown(pushes: Sequence[PushFigures], seconds: float, max_failed_share: float) -> str:
    """The push run's artifact: leads per outcome per account, requests, duration, failure share."""
    failed, handled, share = failed_share(pushes)
    verdict = "over" if share > max_failed_share else "within"
    outcomes = sorted({o for p in pushes for o in p.outcomes})
    lines = [
        "# HCP lead push",
        "",
        f"- leads handled: {handled}",
        f"- failed: {failed} ({share:.1%}, {verdict} the threshold of {max_failed_share:.1%})",
        f"- requests: {sum(p.requests for p in pushes)}",
        f"- duration: {seconds:.1f} s",
        "",
        "| account | " + " | ".join(outcomes) + " | reconciled | requests | seconds | stopped |",
        "| --- | " + " | ".join("---:" for _ in outcomes) + " | ---: | ---: | ---: | --- |",
    ]
    for p in pushes:
        counts = " | ".join(str(p.outcomes.get(o, 0)) for o in outcomes)
        lines.append(
            f"| {p.account} | {counts} | {p.reconciled} | {p.requests} | {p.seconds:.1f} | "
            f"{_cell(p.error)} |"
        )
    return "\n".join(lines) + "\n"


def publish(key: str, markdown: str, description: str) -> None:
    """Attach `markdown` to the current flow run (Prefect's markdown artifact)."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(markdown=markdown, key=key, description=description)
