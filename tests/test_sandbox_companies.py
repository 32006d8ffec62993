"""`hcp sandbox --companies N`: N HCP accounts on one base URL, told apart by key, each with
its own data, rate limit and admin API (what an agency's accounts look like to hcp)."""

from __future__ import annotations

import httpx
import pytest

from pipelines.config import Account
from pipelines.sync import sync_account
from sandbox.banner import banner
from sandbox.companies import company_settings
from sandbox.server import run_sandbox
from sandbox.settings import SandboxSettings
from tests.utils import query

SMALL = SandboxSettings(scale=0.2, companies=3)


def get(base_url: str, key: str, path: str) -> httpx.Response:
    return httpx.get(f"{base_url}{path}", headers={"Authorization": f"Token {key}"})


def test_each_key_sees_its_own_company_and_an_unknown_key_is_401() -> None:
    with run_sandbox(SMALL) as sb:
        names = [
            get(sb.base_url, f"sandbox-key{s}", "/company").json()["name"] for s in ("", "-2", "-3")
        ]
        assert names == [
            "Lone Star Plumbing & Air",
            "Lone Star Plumbing & Air #2",
            "Lone Star Plumbing & Air #3",
        ]
        first = {c["id"] for c in get(sb.base_url, "sandbox-key", "/customers").json()["customers"]}
        second = {
            c["id"] for c in get(sb.base_url, "sandbox-key-2", "/customers").json()["customers"]
        }
        assert first and second and not first & second  # seeds 42 and 43: different records
        assert get(sb.base_url, "sandbox-key-4", "/customers").status_code == 401
        # each company's keys keep their roles: company 2's read-only key cannot write
        denied = httpx.post(
            f"{sb.base_url}/customers",
            json={"first_name": "No"},
            headers={"Authorization": "Token sandbox-readonly-key-2"},
        )
        assert denied.status_code == 403


def test_rate_limits_and_counters_are_per_company() -> None:
    with run_sandbox(SandboxSettings(scale=0.2, companies=2, rate_limit=2)) as sb:
        codes = [get(sb.base_url, "sandbox-key", "/company").status_code for _ in range(4)]
        assert 429 in codes  # company 1 ran out of its window...
        assert get(sb.base_url, "sandbox-key-2", "/company").status_code == 200  # ...2 did not
        two = sb.company(2)
        assert two.api_key == "sandbox-key-2"
        assert two.admin.counters()["total_requests"] == 1
        assert sb.admin.counters()["total_requests"] == 4


def test_the_admin_api_lists_companies_and_refuses_an_unknown_one() -> None:
    with run_sandbox(SMALL) as sb:
        listed = httpx.get(f"{sb.base_url}/_sandbox/companies").json()["companies"]
        assert [(c["company"], c["api_key"], c["seed"]) for c in listed] == [
            (1, "sandbox-key", 42),
            (2, "sandbox-key-2", 43),
            (3, "sandbox-key-3", 44),
        ]
        missing = httpx.get(f"{sb.base_url}/_sandbox/companies/9/counters")
        assert missing.status_code == 404 and "1..3" in missing.json()["error"]["message"]
        with pytest.raises(ValueError, match="1..3"):
            sb.company(9)


def test_settings_and_banner() -> None:
    with pytest.raises(ValueError, match="companies"):
        SandboxSettings(companies=0)
    two = company_settings(
        SandboxSettings(webhook_url="http://127.0.0.1:1/x", webhook_secret="s"), 2
    )
    assert (two.seed, two.readonly_key, two.webhook_url) == (43, "sandbox-readonly-key-2", "")
    text = "\n".join(banner("http://127.0.0.1:1", SandboxSettings(companies=5)))
    assert "companies: 5" in text
    assert "SOURCES__HOUSECALLPRO__ACCOUNTS__COMPANY2__API_KEY=sandbox-key-2" in text


@pytest.mark.slow
def test_two_accounts_sync_into_one_warehouse_from_one_sandbox(tmp_path) -> None:
    db = tmp_path / "agency.duckdb"
    with run_sandbox(SandboxSettings(scale=0.2, companies=2)) as sb:
        for name, n in (("north", 1), ("south", 2)):
            company = sb.company(n)
            acct = Account(name, company.api_key, sb.base_url, rate_limit=0, concurrency=4)
            assert sync_account(acct, db, objects="customers,company", max_retries=1).ok
        expected = {n: len(sb.company(n).state.records("customers")) for n in (1, 2)}
    rows = dict(query(db, "select account, count(*) from hcp.customers group by 1"))
    assert rows == {"north": expected[1], "south": expected[2]}
    names = dict(query(db, "select account, name from hcp.company"))
    assert names == {"north": "Lone Star Plumbing & Air", "south": "Lone Star Plumbing & Air #2"}
