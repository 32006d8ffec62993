"""The HCP client against respx: errors, retries, 429, paging, concurrency, pacing, redaction."""

from __future__ import annotations

import logging
import threading
import traceback
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
import respx

from sources.housecallpro.client import HCPClient, encode_query, parse_page
from sources.housecallpro.errors import (
    AuthError,
    DuplicateCustomer,
    HCPError,
    IncompleteRead,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
    ValidationError,
)
from sources.housecallpro.ratelimit import TokenBucket
from sources.housecallpro.settings import MAX_PAGE_SIZE, OBJECTS

BASE = "https://hcp.test"
KEY = "sk_live_SECRET_0123456789abcdef"


class FakeClock:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def make_client(clock: FakeClock | None = None, **kw) -> HCPClient:
    clock = clock or FakeClock()
    kw.setdefault("rate_limit", 0)
    kw.setdefault("rng", lambda: 0.5)
    return HCPClient(
        KEY, BASE, clock=clock, sleep=clock.sleep, wall_clock=lambda: 1_700_000_000.0, **kw
    )


def page_body(
    key: str, page: int, total_pages: int, rows: list[dict], page_size: int = 200
) -> dict:
    """An honest page: `total_items` as if every page held as many rows as this one."""
    return {
        "page": page,
        "page_size": page_size,
        "total_pages": total_pages,
        "total_items": total_pages * len(rows),
        key: rows,
    }


# --------------------------------------------------------------------------- requests


@respx.mock
def test_sends_token_auth_and_hcp_array_encoding() -> None:
    route = respx.get(f"{BASE}/jobs").mock(return_value=httpx.Response(200, json={"jobs": []}))
    make_client().get(
        "/jobs", {"expand": ["appointments"], "work_status": ["scheduled", "in progress"]}
    )
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Token {KEY}"
    assert (
        request.url.query
        == b"expand[]=appointments&work_status[]=scheduled&work_status[]=in%20progress"
    )


def test_encode_query_keeps_explicit_brackets_and_drops_none() -> None:
    assert encode_query({"status[]": ["paid"], "q": "a&b", "x": None, "flag": True}) == (
        "status[]=paid&q=a%26b&flag=true"
    )


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (401, {"error": {"message": "Invalid API token"}}, AuthError, "Invalid API token"),
        (403, {"error": {"message": "Permission denied"}}, PermissionDenied, "Permission denied"),
        (404, {"error": {"message": "job not found"}}, NotFound, "job not found"),
        (
            422,
            {"error": {"message": "Duplicate customer"}},
            DuplicateCustomer,
            "Duplicate customer",
        ),
        (
            422,
            {"errors": {"status": "must be an array"}},
            ValidationError,
            "status must be an array",
        ),
        (400, {"errors": {"name": ["is missing"]}}, ValidationError, "name is missing"),
        (422, {"error": "Lead source not found"}, ValidationError, "Lead source not found"),
    ],
)
@respx.mock
def test_error_classes(status: int, body: dict, error: type[HCPError], message: str) -> None:
    respx.post(f"{BASE}/customers").mock(return_value=httpx.Response(status, json=body))
    with pytest.raises(error) as info:
        make_client().post("/customers", {"email": "a@b.c"})
    assert info.value.status == status
    assert info.value.message == message
    assert "POST /customers" in str(info.value)


@respx.mock
def test_validation_error_names_the_field() -> None:
    respx.post(f"{BASE}/customers").mock(
        return_value=httpx.Response(422, json={"errors": {"email": ["is invalid"]}})
    )
    with pytest.raises(ValidationError) as info:
        make_client().post("/customers", {"email": "x"})
    assert info.value.field == "email"
    assert not isinstance(info.value, DuplicateCustomer)


@respx.mock
def test_5xx_retried_with_exponential_backoff_then_succeeds() -> None:
    clock = FakeClock()
    route = respx.get(f"{BASE}/company").mock(
        side_effect=[
            httpx.Response(500),
            httpx.Response(502),
            httpx.Response(503),
            httpx.Response(200, json={"id": "c"}),
        ]
    )
    client = make_client(clock, backoff_base=1.0)
    assert client.get("/company") == {"id": "c"}
    assert route.call_count == 4
    # equal jitter with rng=0.5: 0.75 x (1, 2, 4)
    assert clock.sleeps == [0.75, 1.5, 3.0]
    assert client.stats.snapshot()["retries"] == 3
    assert client.stats.snapshot()["server_errors"] == 3


@respx.mock
def test_backoff_is_capped_and_gives_up_with_server_error() -> None:
    clock = FakeClock()
    respx.get(f"{BASE}/company").mock(return_value=httpx.Response(503))
    client = make_client(clock, backoff_base=1.0, backoff_cap=2.0, max_retries=4)
    with pytest.raises(ServerError):
        client.get("/company")
    assert max(clock.sleeps) <= 2.0
    assert len(clock.sleeps) == 4


def test_jitter_spreads_delays() -> None:
    values = iter([0.0, 1.0])
    client = HCPClient(KEY, BASE, rng=lambda: next(values), backoff_base=2.0)
    assert client.backoff_delay(1) == 2.0  # ceiling 4: half fixed + 0
    assert client.backoff_delay(1) == 4.0  # half fixed + full random half


@respx.mock
def test_timeouts_and_dropped_connections_retried_on_get() -> None:
    clock = FakeClock()
    route = respx.get(f"{BASE}/customers").mock(
        side_effect=[
            httpx.ReadTimeout("slow"),
            httpx.RemoteProtocolError("peer closed"),
            httpx.ConnectError("refused"),
            httpx.Response(200, json={"customers": []}),
        ]
    )
    assert make_client(clock).get("/customers") == {"customers": []}
    assert route.call_count == 4


@respx.mock
def test_post_with_unknown_outcome_is_never_retried() -> None:
    route = respx.post(f"{BASE}/customers").mock(side_effect=httpx.ReadTimeout("lost"))
    with pytest.raises(TransportError) as info:
        make_client().post("/customers", {"email": "a@b.c"})
    assert info.value.outcome_unknown is True
    assert route.call_count == 1


@respx.mock
def test_post_not_sent_is_retried_safely() -> None:
    route = respx.post(f"{BASE}/customers").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(201, json={"id": "cus_1"})]
    )
    assert make_client().post("/customers", {"email": "a@b.c"}) == {"id": "cus_1"}
    assert route.call_count == 2


@respx.mock
def test_post_5xx_retried_because_hcp_created_nothing() -> None:
    route = respx.post(f"{BASE}/customers").mock(
        side_effect=[httpx.Response(503), httpx.Response(201, json={"id": "cus_1"})]
    )
    assert make_client().post("/customers", {"email": "a@b.c"}) == {"id": "cus_1"}
    assert route.call_count == 2


@respx.mock
def test_post_5xx_not_retried_when_caller_decides() -> None:
    route = respx.post(f"{BASE}/customers").mock(return_value=httpx.Response(500))
    with pytest.raises(ServerError):
        make_client().post("/customers", {"email": "a@b.c"}, retry_on_status=False)
    assert route.call_count == 1


# --------------------------------------------------------------------------- 429


@respx.mock
def test_429_retry_after_seconds() -> None:
    clock = FakeClock()
    respx.get(f"{BASE}/jobs").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(200, json={"jobs": []}),
        ]
    )
    client = make_client(clock)
    client.get("/jobs")
    assert clock.sleeps == [7.0]
    assert client.stats.snapshot()["rate_limited"] == 1


@respx.mock
def test_429_retry_after_http_date() -> None:
    clock = FakeClock()
    when = datetime.fromtimestamp(1_700_000_000 + 12, tz=UTC)
    respx.get(f"{BASE}/jobs").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": format_datetime(when, usegmt=True)}),
            httpx.Response(200, json={"jobs": []}),
        ]
    )
    make_client(clock).get("/jobs")
    assert clock.sleeps == [pytest.approx(12.0)]


@respx.mock
def test_429_ratelimit_reset_epoch_and_cap() -> None:
    clock = FakeClock()
    respx.get(f"{BASE}/jobs").mock(
        side_effect=[
            httpx.Response(429, headers={"RateLimit-Reset": str(1_700_000_000 + 5)}),
            httpx.Response(429, headers={"Retry-After": "99999"}),
            httpx.Response(200, json={"jobs": []}),
        ]
    )
    make_client(clock, retry_after_cap=60.0).get("/jobs")
    assert clock.sleeps == [pytest.approx(5.0), 60.0]


@respx.mock
def test_429_gives_up_with_rate_limited() -> None:
    respx.get(f"{BASE}/jobs").mock(return_value=httpx.Response(429, headers={"Retry-After": "1"}))
    with pytest.raises(RateLimited) as info:
        make_client(max_retries=2).get("/jobs")
    assert info.value.retry_after == 1.0


# --------------------------------------------------------------------------- paging


@respx.mock
def test_paging_stops_at_last_page_standard_envelope() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        assert page <= 3, "fetched a page past the last"
        assert request.url.params["page_size"] == "200"
        return httpx.Response(200, json=page_body("customers", page, 3, [{"id": f"cus_{page}"}]))

    route = respx.get(f"{BASE}/customers").mock(side_effect=handler)
    ids = [row["id"] for row in make_client().iter_items("/customers", envelope_key="customers")]
    assert ids == ["cus_1", "cus_2", "cus_3"]
    assert route.call_count == 3


@respx.mock
def test_paging_price_book_envelope() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return httpx.Response(
            200,
            json={
                "object": "list",
                "page": page,
                "page_size": 2,
                "total_pages_count": 2,
                "total_count": 3,
                "data": [{"uuid": f"pbmcat_{page}a"}, {"uuid": f"pbmcat_{page}b"}][
                    : 2 if page == 1 else 1
                ],
                "url": "/pricebook/material_categories",
            },
        )

    route = respx.get(f"{BASE}/api/price_book/material_categories").mock(side_effect=handler)
    pages = list(make_client().iter_pages("/api/price_book/material_categories", page_size=2))
    assert [p.number for p in pages] == [1, 2]
    assert pages[0].total_items == 3
    assert [r["uuid"] for p in pages for r in p.items] == ["pbmcat_1a", "pbmcat_1b", "pbmcat_2a"]
    assert route.call_count == 2


@respx.mock
def test_empty_listing_is_one_request() -> None:
    route = respx.get(f"{BASE}/leads").mock(
        return_value=httpx.Response(
            200, json={"page": 1, "page_size": 200, "total_pages": 0, "total_items": 0, "leads": []}
        )
    )
    assert list(make_client().iter_items("/leads", envelope_key="leads")) == []
    assert route.call_count == 1


def test_unpaged_list_envelope_is_one_page() -> None:
    page = parse_page(
        {"object": "list", "data": [{"id": "rli_1"}], "url": "/jobs/x/line_items"}, None, 1
    )
    assert page.total_pages == 1 and page.items == [{"id": "rli_1"}]


@respx.mock
def test_routes_use_per_page() -> None:
    route = respx.get(f"{BASE}/routes").mock(
        return_value=httpx.Response(200, json=page_body("routes", 1, 1, []))
    )
    list(make_client().iter_pages("/routes", page_size=100, page_size_param="per_page"))
    assert route.calls.last.request.url.params["per_page"] == "100"


@respx.mock
def test_concurrent_pages_each_fetched_once_in_order() -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        with lock:
            seen.append(page)
        return httpx.Response(200, json=page_body("jobs", page, 25, [{"id": f"job_{page}"}]))

    respx.get(f"{BASE}/jobs").mock(side_effect=handler)
    client = make_client(concurrency=4)
    pages = list(client.iter_pages("/jobs", envelope_key="jobs", concurrent=True))
    assert [p.number for p in pages] == list(range(1, 26))
    assert sorted(seen) == list(range(1, 26))
    assert client.stats.snapshot()["pages"] == 25


@respx.mock
def test_concurrency_bound_is_respected() -> None:
    in_flight = 0
    peak = 0
    lock = threading.Lock()
    gate = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        gate.wait(0.05)
        with lock:
            in_flight -= 1
        page = int(request.url.params["page"])
        return httpx.Response(200, json=page_body("jobs", page, 20, [{"id": page}]))

    respx.get(f"{BASE}/jobs").mock(side_effect=handler)
    list(make_client(concurrency=3).iter_pages("/jobs", envelope_key="jobs", concurrent=True))
    assert 1 < peak <= 3


class Listing:
    """A listing of `total` rows behind respx that may lie the way live HCP did (HCP_API.md §2).

    `served` rows per page at most, offsets counted in served pages; `total_pages` counted
    against the asked size; `reported_total` overrides `total_items`; `grow_after` adds rows
    once that many requests were answered. Logs every page asked.
    """

    def __init__(
        self,
        total: int,
        *,
        served: int | None = None,
        envelope: str = "standard",
        reported_total: int | None = None,
        reported_pages: int | None = None,
        grow_after: tuple[int, int] | None = None,
    ) -> None:
        self.total, self.served, self.envelope = total, served, envelope
        self.reported_total, self.reported_pages = reported_total, reported_pages
        self.grow_after = grow_after
        self.asked: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        asked = int(request.url.params["page_size"])
        with self._lock:
            self.asked.append(page)
            if self.grow_after and len(self.asked) > self.grow_after[0]:
                total = self.total + self.grow_after[1]
            else:
                total = self.total
        size = min(asked, self.served or asked)
        rows = [{"id": f"row_{i}"} for i in range((page - 1) * size, min(total, page * size))]
        items = total if self.reported_total is None else self.reported_total
        pages = self.reported_pages if self.reported_pages is not None else -(-items // asked)
        if self.envelope == "pricebook":
            body = {"object": "list", "page": page, "page_size": asked}
            body |= {"total_pages_count": pages, "total_count": items, "data": rows, "url": "/x"}
        else:
            body = {"page": page, "page_size": asked, "total_pages": pages, "total_items": items}
            body["rows"] = rows
        return httpx.Response(200, json=body)


def read_listing(listing: Listing, *, concurrent: bool = False, **kw) -> list[str]:
    respx.get(f"{BASE}/rows").mock(side_effect=listing)
    client = make_client(concurrency=kw.pop("concurrency", 4))
    pages = client.iter_pages("/rows", concurrent=concurrent, **kw)
    return [r["id"] for p in pages for r in p.items]


@pytest.mark.parametrize("concurrent", [False, True])
@pytest.mark.parametrize("envelope", ["standard", "pricebook"])
@respx.mock
def test_short_first_page_is_the_served_page_size_not_total_pages(
    concurrent: bool, envelope: str
) -> None:
    # the live report: 453 rows served 100 a page, total_pages counted in pages of 200 (3)
    listing = Listing(453, served=100, envelope=envelope)
    ids = read_listing(listing, concurrent=concurrent)
    assert ids == [f"row_{i}" for i in range(453)]
    assert sorted(listing.asked) == [1, 2, 3, 4, 5]  # ceil(453 / 100), each page once


@pytest.mark.parametrize("concurrent", [False, True])
@respx.mock
def test_honest_listing_costs_the_api_minimum(concurrent: bool) -> None:
    listing = Listing(400)
    assert len(read_listing(listing, concurrent=concurrent)) == 400
    assert sorted(listing.asked) == [1, 2]  # no third request to learn the end


@pytest.mark.parametrize("concurrent", [False, True])
@respx.mock
def test_rows_reaching_total_items_end_the_read_whatever_total_pages_says(
    concurrent: bool,
) -> None:
    listing = Listing(400, reported_pages=9)
    assert len(read_listing(listing, concurrent=concurrent)) == 400
    assert sorted(listing.asked) == [1, 2]


@respx.mock
def test_understated_total_pages_does_not_stop_the_read() -> None:
    listing = Listing(450, reported_pages=1)
    assert len(read_listing(listing)) == 450
    assert listing.asked == [1, 2, 3]


@respx.mock
def test_a_short_page_ends_the_read_and_a_shortfall_is_an_incomplete_read() -> None:
    # total_items claims 1000, but page 2 holds fewer rows than the served size: that is the end
    listing = Listing(300, reported_total=1000)
    with pytest.raises(IncompleteRead) as caught:
        read_listing(listing)
    assert listing.asked == [1, 2]
    assert (caught.value.rows, caught.value.total_items, caught.value.path) == (300, 1000, "/rows")
    assert str(caught.value) == (
        "GET /rows: incomplete read: read 300 rows but total_items says 1000"
    )


@respx.mock
def test_an_empty_page_ends_the_read() -> None:
    # 400 rows claimed, but every page past the first is empty
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        rows = [{"id": i} for i in range(200)] if page == 1 else []
        body = {"page": page, "page_size": 200, "total_pages": 2, "total_items": 400}
        return httpx.Response(200, json=body | {"rows": rows})

    route = respx.get(f"{BASE}/rows").mock(side_effect=handler)
    with pytest.raises(IncompleteRead, match="read 200 rows but total_items says 400"):
        list(make_client().iter_pages("/rows"))
    assert route.call_count == 2


@respx.mock
def test_more_rows_than_total_items_is_an_incomplete_read() -> None:
    listing = Listing(400, reported_total=350)
    with pytest.raises(IncompleteRead, match="read 400 rows but total_items says 350"):
        read_listing(listing)


@respx.mock
def test_rows_created_while_paging_are_read_sequentially_after_the_concurrent_pages() -> None:
    # 400 rows when page 1 is read, 150 more by the time page 2 is (the latest total_items
    # counts): page 3 is asked after the concurrent pages 2..2, and the count agrees
    listing = Listing(400, grow_after=(1, 150))
    assert len(read_listing(listing, concurrent=True)) == 550
    assert sorted(listing.asked) == [1, 2, 3]


@respx.mock
def test_a_consumer_that_stops_early_costs_one_request_and_no_error() -> None:
    listing = Listing(1000)
    respx.get(f"{BASE}/rows").mock(side_effect=listing)
    pages = make_client().iter_pages("/rows")
    assert len(next(pages).items) == 200
    pages.close()  # an incremental read that reached its cursor
    assert listing.asked == [1]


@respx.mock
def test_a_listing_without_totals_is_one_page_even_when_full() -> None:
    body = {"object": "list", "data": [{"id": i} for i in range(200)], "url": "/jobs/x/line_items"}
    route = respx.get(f"{BASE}/jobs/x/line_items").mock(return_value=httpx.Response(200, json=body))
    pages = list(make_client().iter_pages("/jobs/x/line_items", concurrent=True))
    assert len(pages) == 1 and len(pages[0].items) == 200
    assert route.call_count == 1


@respx.mock
def test_page_size_is_never_sent_above_hcps_cap() -> None:
    # HCP answers page_size > 200 with 400 "Size must be less than or equal to 200"
    listing = Listing(300)
    read_listing(listing, page_size=MAX_PAGE_SIZE + 300)
    sizes = {int(c.request.url.params["page_size"]) for c in respx.calls}
    assert sizes == {MAX_PAGE_SIZE}
    assert all(o.page_size <= MAX_PAGE_SIZE for o in OBJECTS)


# --------------------------------------------------------------------------- rate limiter


def test_token_bucket_spaces_requests_evenly() -> None:
    clock = FakeClock(0.0)
    bucket = TokenBucket(rate=5.0, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(11):
        bucket.acquire()
        stamps.append(clock.now)
    assert stamps[0] == 0.0
    assert stamps[-1] == pytest.approx(2.0)  # 10 gaps of 0.2 s
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert all(g == pytest.approx(0.2) for g in gaps)


def test_token_bucket_refills_after_idle() -> None:
    clock = FakeClock(0.0)
    bucket = TokenBucket(rate=2.0, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    clock.now += 10
    assert bucket.acquire() == 0.0


@respx.mock
def test_client_paces_requests_with_shared_limiter() -> None:
    clock = FakeClock(0.0)
    respx.get(f"{BASE}/company").mock(return_value=httpx.Response(200, json={}))
    client = make_client(clock, rate_limit=4.0)
    for _ in range(9):
        client.get("/company")
    assert clock.now == pytest.approx(2.0)


# --------------------------------------------------------------------------- shared 429 backoff


def test_one_threads_429_delays_another_threads_next_acquire() -> None:
    clock = FakeClock(0.0)
    bucket = TokenBucket(rate=10.0, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    bucket.throttle(3.0, sent_at=0.0)  # thread A's request came back 429, Retry-After: 3
    waited: list[float] = []
    other = threading.Thread(target=lambda: waited.append(bucket.acquire()))
    other.start()
    other.join()
    assert waited == [pytest.approx(3.0)] and clock.now == pytest.approx(3.0)
    assert bucket.snapshot()["paused_s"] == pytest.approx(3.0)


def test_a_pause_overtakes_a_thread_already_waiting_for_its_turn() -> None:
    clock = FakeClock(0.0)
    fired: list[bool] = []

    def sleep(seconds: float) -> None:
        if not fired:  # while this thread waits its 0.2 s turn, another one gets a 429
            fired.append(True)
            clock.now += 0.1
            bucket.throttle(2.0, sent_at=0.0)
            seconds -= 0.1
        clock.sleep(seconds)

    bucket = TokenBucket(rate=5.0, clock=clock, sleep=sleep)
    bucket.acquire()
    bucket.acquire()
    assert clock.now >= 2.1  # not a request before the pause ends


def test_429_halves_the_rate_then_it_climbs_back_to_the_configured_rate() -> None:
    clock = FakeClock(0.0)
    bucket = TokenBucket(
        rate=10.0, clock=clock, sleep=clock.sleep, recovery_s=30.0
    )  # a slow climb, to see it
    for _ in range(20):
        bucket.acquire()
        bucket.passed()
    assert bucket.rate == 10.0  # no 429 yet: nothing to recover from, nothing above the limit
    bucket.throttle(0.0, sent_at=clock.now)
    assert bucket.rate == pytest.approx(5.0)
    cut_at, rates = clock.now, []
    while clock.now - cut_at < 60:
        bucket.acquire()
        bucket.passed()
        rates.append(bucket.rate)
    assert all(b >= a for a, b in zip(rates, rates[1:], strict=False))
    assert max(rates) == 10.0
    back_at = cut_at + sum(1 / r for r in rates[: rates.index(10.0)])
    assert 25 <= back_at - cut_at <= 35  # about `recovery_s` of steady traffic, not at once


def test_429s_of_requests_sent_before_the_cut_do_not_cut_again() -> None:
    clock = FakeClock(0.0)
    bucket = TokenBucket(rate=8.0, clock=clock, sleep=clock.sleep)
    clock.now = 1.0
    for _ in range(4):  # four threads' requests, all sent at t=1, all refused
        bucket.throttle(1.0, sent_at=1.0)
        clock.now += 0.01
    assert bucket.rate == pytest.approx(4.0) and bucket.slowdowns == 1
    bucket.throttle(1.0, sent_at=clock.now)  # a request sent after the cut: new congestion
    assert bucket.rate == pytest.approx(2.0) and bucket.slowdowns == 2
    assert bucket.paused_s == pytest.approx(1.04)  # overlapping pauses are counted once


def test_unlimited_bucket_paces_at_half_the_rate_it_sent_at_when_429_arrives() -> None:
    clock = FakeClock(0.0)
    bucket = TokenBucket(rate=0, clock=clock, sleep=clock.sleep)
    for _ in range(21):  # 20 requests per second, unpaced
        assert bucket.acquire() == 0.0
        clock.now += 0.05
    bucket.throttle(1.0, sent_at=clock.now - 0.05)
    assert bucket.rate == pytest.approx(10.0, rel=0.01)
    start = clock.now
    stamps = []
    for _ in range(5):
        bucket.acquire()
        stamps.append(clock.now - start)
    assert stamps[0] == pytest.approx(1.0)  # the pause first
    assert [round(b - a, 3) for a, b in zip(stamps, stamps[1:], strict=False)] == [0.1] * 4


@respx.mock
def test_429_without_retry_after_pauses_the_limiter_by_the_backoff() -> None:
    clock = FakeClock()
    respx.get(f"{BASE}/jobs").mock(
        side_effect=[
            httpx.Response(429, json={"error": "Too many requests"}),  # the live body
            httpx.Response(200, json={"jobs": []}),
        ]
    )
    client = make_client(clock)
    client.get("/jobs")
    assert clock.sleeps == [pytest.approx(0.375)]  # backoff_delay(0) with rng 0.5
    assert client.stats.snapshot()["rate_limited"] == 1
    assert client.limiter.snapshot()["paused_s"] == pytest.approx(0.375)


@respx.mock
def test_a_429_that_gave_up_still_holds_the_next_request_of_any_thread() -> None:
    clock = FakeClock()
    respx.get(f"{BASE}/jobs").mock(
        return_value=httpx.Response(
            429, headers={"Retry-After": "4"}, json={"error": "Too many requests"}
        )
    )
    sent_at: list[float] = []
    respx.get(f"{BASE}/company").mock(
        side_effect=lambda request: sent_at.append(clock.now) or httpx.Response(200, json={})
    )
    client = make_client(clock, max_retries=0, rate_limit=50.0)
    with pytest.raises(RateLimited) as info:
        client.get("/jobs")
    assert info.value.message == "Too many requests" and info.value.retry_after == 4.0
    other = threading.Thread(target=lambda: client.get("/company"))
    other.start()
    other.join()
    assert sent_at == [pytest.approx(1004.0)]
    assert client.limiter.rate < 50.0


# --------------------------------------------------------------------------- secrets


@respx.mock
def test_key_never_in_errors_repr_logs_or_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # HCP echoing the key back must not leak it either.
    respx.get(f"{BASE}/company").mock(
        return_value=httpx.Response(401, json={"error": {"message": f"Invalid API token {KEY}"}})
    )
    respx.get(f"{BASE}/jobs").mock(side_effect=httpx.ReadTimeout("slow"))
    client = make_client(max_retries=1)
    texts = [repr(client), str(client.__dict__.get("stats"))]
    for path in ("/company", "/jobs"):
        try:
            client.get(path)
        except HCPError as exc:
            texts += [str(exc), repr(exc), exc.message, "".join(traceback.format_exception(exc))]
    texts += [record.getMessage() for record in caplog.records]
    assert texts
    for text in texts:
        assert KEY not in text


def test_missing_key_is_refused() -> None:
    with pytest.raises(ValueError):
        HCPClient("", BASE)


@respx.mock
def test_observers_see_every_attempt() -> None:
    seen = []
    respx.get(f"{BASE}/company").mock(
        side_effect=[httpx.Response(500), httpx.Response(200, json={})]
    )
    client = make_client(observers=[lambda e: seen.append((e.method, e.path, e.status))])
    client.get("/company")
    assert seen == [("GET", "/company", 500), ("GET", "/company", 200)]


@respx.mock
def test_observing_adds_an_observer_for_the_block_and_passes_each_tag() -> None:
    respx.get(f"{BASE}/customers").mock(
        side_effect=[
            httpx.Response(200, json={"page": 1, "total_pages": 2, "customers": [{"id": "a"}]}),
            httpx.Response(200, json={"page": 2, "total_pages": 2, "customers": [{"id": "b"}]}),
        ]
    )
    respx.get(f"{BASE}/company").mock(return_value=httpx.Response(200, json={}))
    counted: list[str] = []
    tagged: list[tuple[str, object]] = []
    client = make_client(observers=[lambda e: counted.append(e.path)])
    with client.observing(lambda e: tagged.append((e.path, e.tag))):
        ids = [c["id"] for c in client.iter_items("/customers", tag="lookup")]
    client.get("/company", tag="verify")  # after the block: only the constructor's observer
    assert ids == ["a", "b"]
    assert tagged == [("/customers", "lookup"), ("/customers", "lookup")]
    assert counted == ["/customers", "/customers", "/company"]
