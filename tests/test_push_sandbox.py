"""The push end to end against the local sandbox: faults, lost answers, kill -9, strict lead sources.

The bar (DESIGN.md): exactly one HCP customer per valid lead, every lead terminal and explained,
none left `sending`.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.config import Account
from pipelines.leads.load import load_leads
from pipelines.leads.profiles import ProfileBook, PushSettings, parse_profiles
from pipelines.leads.push import PushResult, push_leads
from sandbox.server import SandboxHandle
from sources.housecallpro.client import HCPClient

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def write_leads(
    path: Path, n: int, *, sources: tuple[str, ...] = ("Website", "Google Ads")
) -> dict[str, int]:
    """n leads: most with email and phone, some phone-only, some with no contact (invalid)."""
    kinds: Counter[str] = Counter()
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["external_id", "name", "email", "phone", "lead_source"])
        for i in range(n):
            phone = f"(312) 555-{2000 + i:04d}"
            source = sources[i % len(sources)]
            if i % 20 == 7:
                writer.writerow([f"e2e-{i}", f"Nocontact Person{i}", "", "", source])
                kinds["invalid"] += 1
            elif i % 10 == 3:
                writer.writerow([f"e2e-{i}", f"Phoneonly Person{i}", "", phone, source])
                kinds["phone"] += 1
            else:
                writer.writerow(
                    [f"e2e-{i}", f"Lead Person{i}", f"lead{i}@push-e2e.example", phone, source]
                )
                kinds["email"] += 1
    return dict(kinds)


def fast_client(sb: SandboxHandle, **kw: Any) -> HCPClient:
    """No pacing and no real sleeping between retries: the sandbox decides what fails."""
    return HCPClient(
        sb.api_key,
        sb.base_url,
        rate_limit=0,
        concurrency=4,
        timeout=10.0,
        sleep=lambda _s: None,
        **kw,
    )


def push_until_settled(
    db: Path, sb: SandboxHandle, routes: ProfileBook, runs: int = 6
) -> list[PushResult]:
    """Run the push like a schedule would, until nothing is claimable (bounded)."""
    results = []
    for _ in range(runs):
        with fast_client(sb) as client:
            results.append(
                push_leads(
                    "default", db_path=db, client=client, routes=routes, settings=PushSettings()
                )
            )
        if not claimable(db):
            break
    return results


def claimable(db: Path) -> int:
    con = duckdb.connect(str(db))
    try:
        row = con.execute(
            "SELECT count(*) FROM staging.leads WHERE status IS NULL OR status IN ('pending', 'sending', 'failed_retryable')"
        ).fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def leads(db: Path) -> list[dict[str, Any]]:
    con = duckdb.connect(str(db))
    try:
        cur = con.execute(
            "SELECT lead_id, name, email, phone, status, hcp_customer_id, error_reason FROM staging.leads"
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def assert_exactly_once(db: Path, sb: SandboxHandle, kinds: dict[str, int]) -> None:
    """One customer per valid lead, each lead terminal and explained, none `sending`."""
    rows = leads(db)
    created = sb.state.created_customers()
    statuses = Counter(r["status"] for r in rows)
    assert statuses == {
        "sent": kinds["email"] + kinds["phone"],
        "failed_permanent": kinds["invalid"],
    }, statuses
    by_email = Counter((c.get("email") or "").lower() for c in created if c.get("email"))
    by_phone_only = Counter(
        (c.get("mobile_number"), c.get("first_name"), c.get("last_name"))
        for c in created
        if not c.get("email")
    )
    assert len(created) == kinds["email"] + kinds["phone"], "one customer per valid lead, no more"
    assert max(by_email.values()) == 1 and max(by_phone_only.values()) == 1
    ids = {c["id"]: c for c in created}
    for r in rows:
        if r["status"] == "sent":
            customer = ids[r["hcp_customer_id"]]  # the recorded id is the customer that exists
            if r["email"]:
                assert customer["email"] == r["email"]
            else:
                assert customer["first_name"] == r["name"].split(" ")[0]
        else:
            assert r["error_reason"], r


@pytest.mark.slow
def test_thousand_leads_with_faults_and_lost_answers(tmp_path: Path, sandbox_factory: Any) -> None:
    # An account that rejects duplicate emails (the 422 safety net on); the next test runs the
    # same faults on one that accepts them, as live HCP does.
    sb = sandbox_factory(
        reject_duplicate_email=True,
        fault_rate=0.1,
        faults=("500", "502", "503", "drop", "lost"),
        fault_seed=7,
    )
    db = tmp_path / "e2e.duckdb"
    kinds = write_leads(tmp_path / "leads.csv", 1000)
    load_leads(tmp_path / "leads.csv", db_path=db, routes=ProfileBook())
    results = push_until_settled(db, sb, ProfileBook())
    assert sum(r.reconciled for r in results) > 0, "the lost answers were reconciled"
    assert sb.state.counters.snapshot()["faults"].get("lost", 0) > 0
    assert_exactly_once(db, sb, kinds)
    con = duckdb.connect(str(db))
    unanswered = con.execute(
        "SELECT count(*) FROM staging.lead_attempts WHERE kind = 'create' AND http_status IS NULL"
    ).fetchone()[0]
    con.close()
    assert unanswered > 0, "faults reached the POSTs"


@pytest.mark.slow
def test_lost_answers_without_the_duplicate_email_safety_net(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    # HCP may allow duplicate emails: then only the lookup stands between a lost answer and a
    # second customer.
    sb = sandbox_factory(
        reject_duplicate_email=False, fault_rate=0.25, faults=("lost", "drop", "503"), fault_seed=3
    )
    db = tmp_path / "dups.duckdb"
    kinds = write_leads(tmp_path / "leads.csv", 200)
    load_leads(tmp_path / "leads.csv", db_path=db, routes=ProfileBook())
    push_until_settled(db, sb, ProfileBook())
    assert_exactly_once(db, sb, kinds)


def test_strict_lead_sources_are_created_not_failed(tmp_path: Path, sandbox_factory: Any) -> None:
    sb = sandbox_factory(strict_lead_sources=True)
    db = tmp_path / "strict.duckdb"
    kinds = write_leads(
        tmp_path / "leads.csv", 40, sources=("Billboard on I-35", "Radio KXYZ", "Website")
    )
    load_leads(tmp_path / "leads.csv", db_path=db, routes=ProfileBook())
    before = {ls["name"] for ls in sb.state.records("lead_sources")}
    assert "Billboard on I-35" not in before
    [result] = push_until_settled(db, sb, ProfileBook(), runs=1)
    assert sorted(result.lead_sources_created) == ["Billboard on I-35", "Radio KXYZ"]
    assert {"Billboard on I-35", "Radio KXYZ"} <= {
        ls["name"] for ls in sb.state.records("lead_sources")
    }
    assert_exactly_once(db, sb, kinds)
    assert {c["lead_source"] for c in sb.state.created_customers()} == {
        "Billboard on I-35",
        "Radio KXYZ",
        "Website",
    }


# ---------------------------------------------------------------- a customer HCP already has


def _existing_and_new(tmp_path: Path, sb: SandboxHandle, db: Path) -> dict[str, Any]:
    """Stage two leads: `dup-1` has the email of a seeded customer, `dup-2` is new."""
    existing = next(c for c in sb.state.records("customers") if c.get("email"))
    path = tmp_path / "dups.csv"
    path.write_text(
        "external_id,name,email\n"
        f"dup-1,{existing['first_name']} {existing['last_name']},{existing['email']}\n"
        "dup-2,Nia New,nia.new@push-e2e.example\n",
        encoding="utf-8",
    )
    load_leads(path, db_path=db, routes=ProfileBook())
    return existing


def _push_once(db: Path, sb: SandboxHandle, routes: ProfileBook, **settings: Any) -> PushResult:
    with fast_client(sb) as client:
        return push_leads(
            "default", db_path=db, client=client, routes=routes, settings=PushSettings(**settings)
        )


def _attempts(db: Path, lead_id: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db))
    try:
        return con.execute(
            "SELECT kind, method, http_status FROM staging.lead_attempts WHERE lead_id = ? "
            "ORDER BY attempted_at",
            [lead_id],
        ).fetchall()
    finally:
        con.close()


LOOKUP = ("lookup", "GET", 200)
CREATED = ("create", "POST", 201)


@pytest.mark.parametrize(
    ("on_existing", "status", "created", "dup_attempts"),
    [
        ("link", "linked", 1, [LOOKUP]),
        ("skip", "skipped", 1, [LOOKUP]),
        ("create", "sent", 2, [CREATED]),
    ],
)
def test_existing_customer_with_duplicates_accepted(
    tmp_path: Path,
    sandbox: SandboxHandle,
    on_existing: str,
    status: str,
    created: int,
    dup_attempts: list[tuple[Any, ...]],
) -> None:
    # The sandbox's default, as live HCP: a second customer with the same email is accepted.
    assert not sandbox.state.store.settings.reject_duplicate_email
    db = tmp_path / f"{on_existing}.duckdb"
    existing = _existing_and_new(tmp_path, sandbox, db)
    routes = parse_profiles({"routes": {"default": {"on_existing": on_existing}}})
    _push_once(db, sandbox, routes)
    by_id = {r["lead_id"]: r for r in leads(db)}
    dup, new = by_id["dup-1"], by_id["dup-2"]
    assert dup["status"] == status and dup["error_reason"] is None
    made = sandbox.state.created_customers()
    assert len(made) == created
    if on_existing == "create":
        assert dup["hcp_customer_id"] != existing["id"]
        assert sum(c["email"] == existing["email"] for c in made) == 1  # the second one is ours
    else:
        assert dup["hcp_customer_id"] == existing["id"]  # the customer HCP already had
    assert _attempts(db, "dup-1") == dup_attempts
    assert new["status"] == "sent" and new["hcp_customer_id"] in {c["id"] for c in made}
    assert _attempts(db, "dup-2") == ([CREATED] if on_existing == "create" else [LOOKUP, CREATED])


@pytest.mark.parametrize(
    ("on_duplicate", "status", "reason"),
    [
        (
            "fail",
            "failed_permanent",
            "duplicate customer: Duplicate customer; HCP already has customer {id} ({name}); "
            'set on_existing = "link" on the lead\'s route (leads_routes.toml) to link leads to '
            "the customers HCP already has",
        ),
        ("link", "linked", None),
    ],
)
def test_existing_customer_with_duplicates_rejected_on_a_create_route(
    tmp_path: Path, sandbox: SandboxHandle, on_duplicate: str, status: str, reason: str | None
) -> None:
    # An account that rejects duplicates, a route that POSTs first: the 422 decides.
    sandbox.admin.settings(reject_duplicate_email=True)
    db = tmp_path / f"reject-{on_duplicate}.duckdb"
    existing = _existing_and_new(tmp_path, sandbox, db)
    routes = parse_profiles({"routes": {"default": {"on_existing": "create"}}})
    _push_once(db, sandbox, routes, on_duplicate=on_duplicate)
    dup = {r["lead_id"]: r for r in leads(db)}["dup-1"]
    name = f"{existing['first_name']} {existing['last_name']}"
    expected_reason = reason.format(id=existing["id"], name=name) if reason else None
    assert (dup["status"], dup["error_reason"]) == (status, expected_reason)
    assert dup["hcp_customer_id"] == (existing["id"] if status == "linked" else None)
    assert [c["email"] for c in sandbox.state.created_customers()] == ["nia.new@push-e2e.example"]
    # a failed duplicate searches once too: to name the customer HCP already has
    search = ("link", "GET", 200) if status == "linked" else ("lookup", "GET", 200)
    expected = [("create", "POST", 422), search]
    assert _attempts(db, "dup-1") == expected


def test_bad_key_against_sandbox_stops_with_exit_2(tmp_path: Path, sandbox: SandboxHandle) -> None:
    db = tmp_path / "k.duckdb"
    write_leads(tmp_path / "leads.csv", 5)
    load_leads(tmp_path / "leads.csv", db_path=db, routes=ProfileBook())
    account = Account("default", "not-the-key", sandbox.base_url, rate_limit=0)
    result = push_leads(account, db_path=db, routes=ProfileBook(), settings=PushSettings())
    assert result.exit_code == 2 and 'HCP says 401 "Unauthorized"' in result.message
    assert {(r["status"], r["hcp_customer_id"]) for r in leads(db)} == {("pending", None)}
    noaccess = Account("default", sandbox.noaccess_key, sandbox.base_url, rate_limit=0)
    assert push_leads(
        noaccess, db_path=db, routes=ProfileBook(), settings=PushSettings()
    ).exit_code in (2, 3)


# ---------------------------------------------------------------- kill -9


def _spawn_push(db: Path, sb: SandboxHandle) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "SOURCES__HOUSECALLPRO__API_KEY": sb.api_key,
        "SOURCES__HOUSECALLPRO__BASE_URL": sb.base_url,
        "SOURCES__HOUSECALLPRO__RATE_LIMIT": "0",  # no client pacing: the kill lands mid-batch
        "PYTHONPATH": str(ROOT),
    }
    # no --json: the kill waits for the run's "Connected to" line, which goes to stderr without it
    cmd = [sys.executable, "-m", "pipelines.cli", "leads", "push", "--db", str(db)]
    return subprocess.Popen(
        [*cmd, "--account", "default"],
        cwd=db.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_while_sending(proc: subprocess.Popen[str], rng: random.Random) -> bool:
    """SIGKILL at a random moment after the key was verified; False if it finished first."""
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    for line in proc.stderr:
        if "Connected to" in line or time.monotonic() > deadline:
            break
    time.sleep(rng.uniform(0.0, 0.25))
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return True


@pytest.mark.slow
def test_kill_9_at_random_moments_then_complete(tmp_path: Path, sandbox_factory: Any) -> None:
    # Duplicate emails allowed: nothing but the claim/reconcile protocol prevents doubles.
    sb = sandbox_factory(reject_duplicate_email=False, latency_ms=2.0)
    db = tmp_path / "crash.duckdb"
    kinds = write_leads(tmp_path / "leads.csv", 400)
    load_leads(tmp_path / "leads.csv", db_path=db, routes=ProfileBook())
    rng = random.Random(20261122)
    kills = 0
    for _ in range(14):
        if kills >= 10 or claimable(db) == 0:
            break
        kills += _kill_while_sending(_spawn_push(db, sb), rng)
    assert kills >= 10, f"only {kills} kills landed before the push finished"
    con = duckdb.connect(str(db))
    left_sending = con.execute(
        "SELECT count(*) FROM staging.leads WHERE status = 'sending'"
    ).fetchone()[0]
    killed_runs = con.execute(
        "SELECT count(*) FROM staging.push_runs WHERE status IN ('running', 'killed')"
    ).fetchone()[0]
    con.close()
    assert killed_runs >= 10
    final = _spawn_push(db, sb)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    assert claimable(db) == 0
    assert_exactly_once(db, sb, kinds)
    con = duckdb.connect(str(db))
    assert (
        con.execute("SELECT count(*) FROM staging.push_runs WHERE status = 'running'").fetchone()[0]
        == 0
    )
    con.close()
    # the kills left leads in `sending` (mid-request), and the next runs reconciled them
    assert left_sending > 0


@pytest.mark.slow
def test_a_push_faster_than_the_limit_draws_few_429s_and_sends_every_lead(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    """Four threads paced at 4x HCP's limit: one thread's 429 pauses and slows them all."""
    sb = sandbox_factory(rate_limit=10.0)
    db = tmp_path / "fast.duckdb"
    kinds = write_leads(tmp_path / "leads.csv", 60)
    load_leads(tmp_path / "leads.csv", db_path=db, routes=ProfileBook())
    with HCPClient(sb.api_key, sb.base_url, rate_limit=40.0, concurrency=4) as client:
        push_leads(
            "default", db_path=db, client=client, routes=ProfileBook(), settings=PushSettings()
        )
        stats, pacing = client.stats.snapshot(), client.limiter.snapshot()
    assert_exactly_once(db, sb, kinds)
    assert stats["rate_limited"] == sb.state.counters.snapshot()["rate_limited"] >= 1
    assert stats["rate_limited"] <= max(3, stats["requests"] // 8), stats
    assert pacing["paused_s"] >= 1.0 and pacing["rate"] < 40.0, pacing
