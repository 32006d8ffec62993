"""Rate limit, latency and every fault kind, as a client sees them (HCP_API.md §2, §10)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from sandbox.server import SandboxHandle


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.25) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_rate_limit_answers_429_with_retry_after_and_reset(sandbox_factory) -> None:
    clock = FakeClock()
    h: SandboxHandle = sandbox_factory(scale=0.1, rate_limit=3, clock=clock)
    with h.client() as c:
        assert [c.get("/company").status_code for _ in range(3)] == [200, 200, 200]
        r = c.get("/company")
        assert r.status_code == 429
        assert r.json() == {"error": "Too many requests"}
        assert r.headers["Retry-After"] == "1"
        assert r.headers["RateLimit-Reset"] == str(1_800_000_001)
        # per key: another key still passes in the same window
        assert (
            c.get("/company", headers={"Authorization": f"Token {h.readonly_key}"}).status_code
            == 200
        )
        # the admin API is never limited
        assert h.admin.counters()["rate_limited"] == 1
        clock.now += 1.0
        assert c.get("/company").status_code == 200


def test_rate_limit_can_be_switched_at_runtime(sandbox: SandboxHandle) -> None:
    # 0.02 requests/s counted over 50 s windows: one request per window
    sandbox.admin.settings(rate_limit=0.02, rate_limit_window_s=50)
    with sandbox.client() as c:
        assert c.get("/company").status_code == 200
        r = c.get("/company")
        assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 50
        sandbox.admin.settings(rate_limit=0)
        assert c.get("/company").status_code == 200


def test_latency_is_added_without_blocking_other_requests(sandbox_factory) -> None:
    h = sandbox_factory(scale=0.1, latency_ms=300)

    async def burst() -> float:
        async with httpx.AsyncClient(
            base_url=h.base_url, headers={"Authorization": f"Token {h.api_key}"}
        ) as c:
            start = time.perf_counter()
            responses = await asyncio.gather(*(c.get("/company") for _ in range(8)))
            assert all(r.status_code == 200 for r in responses)
            return time.perf_counter() - start

    elapsed = asyncio.run(burst())
    assert 0.3 <= elapsed < 1.5  # 8 x 300 ms sequentially would be 2.4 s


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_server_error_faults(sandbox: SandboxHandle, kind: str) -> None:
    sandbox.admin.queue_fault(kind, method="GET", path="/jobs")
    with sandbox.client() as c:
        assert c.get("/jobs").status_code == int(kind)
        assert c.get("/jobs").status_code == 200  # only the queued one
    assert sandbox.admin.counters()["faults"] == {kind: 1}


def test_drop_closes_the_connection_without_a_response(sandbox: SandboxHandle) -> None:
    sandbox.admin.queue_fault("drop")
    with sandbox.client() as c:
        with pytest.raises(httpx.RemoteProtocolError):
            c.get("/customers")
        assert c.get("/customers").status_code == 200


def test_lost_creates_the_customer_then_drops(sandbox: SandboxHandle) -> None:
    sandbox.admin.queue_fault("lost")
    with sandbox.client() as c:
        assert c.get("/customers").status_code == 200  # `lost` only targets POST /customers
        with pytest.raises(httpx.RemoteProtocolError):
            c.post("/customers", json={"first_name": "Lost", "email": "lost@example.com"})
        found = c.get("/customers", params={"q": "lost@example.com"}).json()["customers"]
        retry = c.post("/customers", json={"first_name": "Lost", "email": "lost@example.com"})
    assert [x["email"] for x in found] == ["lost@example.com"]
    # duplicates are accepted (as live HCP does): a blind retry makes a second customer, which
    # is why the push looks a customer up after an unanswered POST
    assert retry.status_code == 201
    assert [x["email"] for x in sandbox.state.created_customers()] == ["lost@example.com"] * 2


def test_slow_outlasts_the_client_timeout_and_the_server_stays_up(sandbox_factory) -> None:
    h = sandbox_factory(scale=0.1, slow_seconds=5)
    h.admin.queue_fault("slow")
    with h.client(timeout=0.3) as c:
        start = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout):
            c.get("/customers")
        assert time.perf_counter() - start < 2
        assert c.get("/customers").status_code == 200
    assert h.admin.counters()["faults"] == {"slow": 1}


def test_fault_rate_hits_the_api_but_never_the_admin(sandbox_factory) -> None:
    h = sandbox_factory(scale=0.1, fault_rate=1.0, faults=("503",))
    with h.client() as c:
        assert {c.get("/company").status_code for _ in range(5)} == {503}
    assert h.admin.counters()["faults"] == {"503": 5}
    assert h.admin.dump("tags")["objects"]["tags"]


def test_fault_sequence_is_reproducible_from_the_fault_seed(sandbox_factory) -> None:
    def statuses(h: SandboxHandle) -> list[int]:
        with h.client() as c:
            return [c.get("/tags").status_code for _ in range(30)]

    a = statuses(sandbox_factory(scale=0.1, fault_rate=0.5, faults=("500", "503"), fault_seed=7))
    b = statuses(sandbox_factory(scale=0.1, fault_rate=0.5, faults=("500", "503"), fault_seed=7))
    assert a == b and {500, 503, 200} == set(a)


def test_lost_is_never_picked_for_reads(sandbox_factory) -> None:
    h = sandbox_factory(scale=0.1, fault_rate=1.0, faults=("lost",))
    with h.client() as c:
        assert c.get("/tags").status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            c.post("/customers", json={"first_name": "X"})
    assert len(h.state.created_customers()) == 1
