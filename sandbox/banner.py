"""What a person starting the sandbox needs to read: where it is, the keys, how to use it."""

from __future__ import annotations

from sandbox.settings import SandboxSettings


def banner(base_url: str, settings: SandboxSettings) -> list[str]:
    s = settings
    lines = [
        f"HCP sandbox listening on {base_url}",
        f"  seed {s.seed}, scale {s.scale:g}, data anchored at {s.anchor} ({s.time_zone})",
        f"  api key (full access):     {s.api_key}",
        f"  read-only key:             {s.readonly_key}",
        f"  no-access key:             {s.noaccess_key}",
        f"  company-only key:          {s.company_only_key}  (403 on /routes, /service_zones, price-book services)",
        f"  duplicate emails: {'rejected (422)' if s.reject_duplicate_email else 'accepted, as live HCP does'}; "
        f"unknown lead sources: {'rejected (422)' if s.strict_lead_sources else 'auto-added'}",
    ]
    if s.companies > 1:
        lines.append(
            f"  companies: {s.companies} on this URL, told apart by key; company n has seed "
            f"{s.seed}+n-1 and keys ending in -n ({s.api_key}-2 ...); list: /_sandbox/companies"
        )
    if s.rate_limit > 0:
        lines.append(f"  rate limit: {s.rate_limit:g} requests/s per key")
    if s.latency_ms > 0:
        lines.append(f"  latency: +{s.latency_ms:g} ms per response")
    if s.served_page_size > 0:
        lines.append(
            f"  pages: at most {s.served_page_size} rows served, total_pages counts the size asked"
        )
    if s.churn_every > 0:
        lines.append(
            f"  churn: every {s.churn_every}th list request of an object edits or creates a record"
        )
    if s.webhook_url:
        lines.append(
            f"  webhooks: a signed event per write to {s.webhook_url} (the --webhook-secret given)"
        )
    if s.fault_rate > 0:
        lines.append(
            f"  faults: {s.fault_rate:.0%} of requests, kinds {','.join(s.faults)} (seed {s.effective_fault_seed})"
        )
    lines += [
        "",
        "Point hcp at it:",
        f"  export SOURCES__HOUSECALLPRO__BASE_URL={base_url}",
        f"  export SOURCES__HOUSECALLPRO__API_KEY={s.api_key}",
        *_account_lines(s),
        f"Try it:  curl -H 'Authorization: Token {s.api_key}' {base_url}/customers",
        f"Admin:   {base_url}/_sandbox/counters  (see docs/sandbox.md)",
    ]
    return lines


def _account_lines(s: SandboxSettings, shown: int = 3) -> list[str]:
    """For a many-company sandbox: the named-account settings of the first companies."""
    if s.companies == 1:
        return []
    lines = [
        f"  export SOURCES__HOUSECALLPRO__ACCOUNTS__COMPANY{n}__API_KEY={s.api_key}-{n}"
        for n in range(2, min(s.companies, shown) + 1)
    ]
    if s.companies > shown:
        lines.append(f"  ... up to COMPANY{s.companies} ({s.api_key}-{s.companies})")
    return lines
