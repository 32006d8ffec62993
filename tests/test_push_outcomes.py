"""The push state machine against a scripted HCP (respx): every outcome, its status, its attempt rows."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import respx
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.leads import outbox
from pipelines.leads.profiles import ProfileBook, PushSettings, parse_profiles
from pipelines.leads.push import PushResult, push_leads
from pipelines.leads.smoke import TEST_EMAIL, send_test_lead
from sources.housecallpro.client import HCPClient

BASE = "https://hcp.test"
KEY = "push_SECRET_key_0123456789"
# what HCP answers live (HCP_API.md §2 Errors; the 429 body as seen from HCP)
LIVE_BODIES = {401: {"message": "Unauthorized"}, 429: {"error": "Too many requests"}}


class FakeHCP:
    """Just enough HCP for the push: /company, /lead_sources, /customers, with scripted faults."""

    def __init__(self) -> None:
        self.customers: list[dict[str, Any]] = []
        self.lead_sources: list[str] = ["Website"]
        self.company_status = 200
        # per email (or "*"): a list of scripted answers for POST /customers, consumed in order.
        # An answer is an int status, "timeout", "drop" (not created, no answer), or "lost" /
        # "created_timeout" (created, then the answer is lost).
        self.script: dict[str, list[Any]] = {}
        self.get_script: list[Any] = []  # scripted answers for GET /customers
        self.posts: list[dict[str, Any]] = []
        # Live HCP accepts a second customer with the same email (HCP_API.md §2); tests of the
        # 422 "Duplicate customer" paths switch this on, as some accounts may reject them.
        self.reject_duplicates = False

    def _next(self, key: str) -> Any:
        for k in (key, "*"):
            if self.script.get(k):
                return self.script[k].pop(0)
        return None

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        customer = {
            "id": f"cus_{len(self.customers) + 1:04d}",
            "created_at": f"2026-01-01T00:00:{len(self.customers):02d}Z",
            **body,
        }
        self.customers.append(customer)
        return customer

    def post_customer(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.posts.append(body)
        answer = self._next(
            body.get("email") or body.get("mobile_number") or body.get("work_number") or ""
        )
        if answer == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        if answer == "drop":
            raise httpx.RemoteProtocolError("Server disconnected", request=request)
        if answer == "lost":
            self.create(body)
            raise httpx.RemoteProtocolError("Server disconnected", request=request)
        if answer == "created_timeout":
            self.create(body)
            raise httpx.ReadTimeout("timed out", request=request)
        if isinstance(answer, int) and answer != 201:
            messages = {403: "Permission denied"}
            if answer in LIVE_BODIES:
                headers = {"Retry-After": "0"} if answer == 429 else {}
                return httpx.Response(answer, json=LIVE_BODIES[answer], headers=headers)
            if answer == 422:
                return httpx.Response(422, json={"errors": {"email": ["is invalid"]}})
            return httpx.Response(answer, json={"error": {"message": messages.get(answer, "boom")}})
        email = (body.get("email") or "").lower()
        if (
            email
            and self.reject_duplicates
            and any((c.get("email") or "").lower() == email for c in self.customers)
        ):
            return httpx.Response(422, json={"error": {"message": "Duplicate customer"}})
        return httpx.Response(201, json=self.create(body))

    def get_customers(self, request: httpx.Request) -> httpx.Response:
        answer = self.get_script.pop(0) if self.get_script else None
        if isinstance(answer, int):
            return httpx.Response(answer, json={"error": {"message": "nope"}})
        q = (request.url.params.get("q") or "").lower()
        if answer == "miss":  # HCP's search finds nothing, whatever it holds
            q = "\0"
        digits = "".join(ch for ch in q if ch.isdigit())
        found = [
            c
            for c in self.customers
            if q in (c.get("email") or "").lower()
            or (digits and digits in (c.get("mobile_number") or ""))
            # HCP's q covers names too (spec), not the work or home number
            or (q and q in f"{c.get('first_name') or ''} {c.get('last_name') or ''}".lower())
        ]
        return httpx.Response(
            200,
            json={
                "page": 1,
                "page_size": 200,
                "total_pages": 1,
                "total_items": len(found),
                "customers": found,
            },
        )

    def get_lead_sources(self, request: httpx.Request) -> httpx.Response:
        items = [{"id": f"ls_{i}", "name": n} for i, n in enumerate(self.lead_sources)]
        return httpx.Response(
            200,
            json={
                "page": 1,
                "page_size": 200,
                "total_pages": 1,
                "total_items": len(items),
                "lead_sources": items,
            },
        )

    def post_lead_source(self, request: httpx.Request) -> httpx.Response:
        name = json.loads(request.content)["name"]
        self.lead_sources.append(name)
        return httpx.Response(201, json={"id": "ls_new", "name": name})

    def company(self, request: httpx.Request) -> httpx.Response:
        if self.company_status in LIVE_BODIES:
            return httpx.Response(self.company_status, json=LIVE_BODIES[self.company_status])
        if self.company_status != 200:
            msg = {403: "Permission denied"}.get(self.company_status, "boom")
            return httpx.Response(self.company_status, json={"error": {"message": msg}})
        return httpx.Response(200, json={"id": "co_1", "name": "Acme Plumbing"})


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def hcp() -> Iterator[tuple[FakeHCP, respx.MockRouter]]:
    fake = FakeHCP()
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        mock.get("/company").mock(side_effect=fake.company)
        mock.get("/lead_sources").mock(side_effect=fake.get_lead_sources)
        mock.post("/lead_sources").mock(side_effect=fake.post_lead_source)
        mock.post("/customers").mock(side_effect=fake.post_customer)
        mock.get("/customers", name="search").mock(side_effect=fake.get_customers)
        yield fake, mock


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "push.duckdb"
    con = duckdb.connect(str(path))
    outbox.ensure_schema(con)
    con.close()
    return path


def stage(db: Path, *leads: dict[str, Any]) -> None:
    con = duckdb.connect(str(db))
    for i, lead in enumerate(leads):
        lead = {"lead_id": f"L{i + 1}", **lead}
        cols = ", ".join(lead)
        con.execute(
            f"INSERT INTO staging.leads ({cols}, created_at) VALUES ({', '.join('?' for _ in lead)}, "
            f"TIMESTAMPTZ '2026-01-01 00:00:00+00' + INTERVAL (?) SECOND)",
            [*lead.values(), i],
        )
    con.close()


def query(db: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db))
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def lead_row(db: Path, lead_id: str = "L1") -> dict[str, Any]:
    con = duckdb.connect(str(db))
    try:
        cur = con.execute("SELECT * FROM staging.leads WHERE lead_id = ?", [lead_id])
        names = [d[0] for d in cur.description]
        return dict(zip(names, cur.fetchone(), strict=True))
    finally:
        con.close()


def attempts_of(db: Path, lead_id: str = "L1") -> list[tuple[Any, ...]]:
    return query(
        db,
        "SELECT kind, method, path, http_status FROM staging.lead_attempts WHERE lead_id = ? ORDER BY attempted_at",
        [lead_id],
    )


def make_client(**kw: Any) -> HCPClient:
    kw.setdefault("rate_limit", 0)
    kw.setdefault("concurrency", 2)
    kw.setdefault("max_retries", 2)
    return HCPClient(KEY, BASE, sleep=lambda _s: None, **kw)


def push(
    db: Path, routes: ProfileBook | None = None, settings: PushSettings | None = None, **kw: Any
) -> PushResult:
    with make_client(**kw.pop("client_kw", {})) as client:
        return push_leads(
            "default",
            db_path=db,
            client=client,
            routes=routes or ProfileBook(),
            settings=settings or PushSettings(),
            **kw,
        )


ANN = {"name": "Ann Lee", "email": "ann@x.io", "phone": "(415) 555-2671"}
LOOKUP = ("lookup", "GET", "/customers", 200)  # the search before creating (on_existing link/skip)


def routes_on_existing(on_existing: str) -> ProfileBook:
    """A default route with `on_existing` set as a user would in leads_routes.toml."""
    return parse_profiles({"routes": {"default": {"on_existing": on_existing}}})


CREATE = routes_on_existing("create")  # POST first, as before the lookup existed


# ---------------------------------------------------------------- outcomes


def test_201_is_sent_with_customer_id(db: Path, hcp: tuple[FakeHCP, Any]) -> None:
    fake, _ = hcp
    stage(db, ANN)
    result = push(db)
    row = lead_row(db)
    assert (row["status"], row["hcp_customer_id"], row["attempts"], row["error_reason"]) == (
        "sent",
        "cus_0001",
        1,
        None,
    )
    assert fake.posts == [
        {
            "first_name": "Ann",
            "last_name": "Lee",
            "email": "ann@x.io",
            "mobile_number": "4155552671",
        }
    ]
    # the default route links an existing customer, so it searches first: 1 GET + 1 POST
    assert attempts_of(db) == [LOOKUP, ("create", "POST", "/customers", 201)]
    assert (result.status, result.exit_code, result.claimed, result.sent) == ("ok", 0, 1, 1)
    run = query(
        db, "SELECT status, claimed, sent, requests, finished_at IS NOT NULL FROM staging.push_runs"
    )
    assert run == [("ok", 1, 1, result.requests, True)]
    # run-level requests are attempt rows too, without a lead
    assert query(
        db,
        "SELECT kind, path, http_status FROM staging.lead_attempts WHERE lead_id IS NULL ORDER BY attempted_at",
    ) == [("verify", "/company", 200)]


def test_duplicate_without_earlier_attempt_fails_permanently(
    db: Path, hcp: tuple[FakeHCP, Any]
) -> None:
    fake, _ = hcp
    fake.reject_duplicates = True
    fake.create({"email": "ann@x.io", "first_name": "Existing"})
    stage(db, ANN)
    result = push(db, routes=CREATE)
    row = lead_row(db)
    assert row["status"] == "failed_permanent"
    # names the customer HCP has and the setting that links such leads instead
    assert row["error_reason"] == (
        "duplicate customer: Duplicate customer; HCP already has customer cus_0001 (Existing); "
        'set on_existing = "link" on the lead\'s route (leads_routes.toml) to link leads to the '
        "customers HCP already has"
    )
    assert attempts_of(db) == [("create", "POST", "/customers", 422), LOOKUP]
    assert result.failed_permanent == 1 and len(fake.customers) == 1


def test_duplicate_the_search_missed_points_at_on_duplicate(
    db: Path, hcp: tuple[FakeHCP, Any]
) -> None:
    """A linking route searched first and found nothing, yet HCP says duplicate: the reason
    says so and names `on_duplicate`, the setting for that case."""
    fake, _ = hcp
    fake.reject_duplicates = True
    fake.create({"email": "ann@x.io", "first_name": "Existing"})
    fake.get_script = ["miss", "miss"]  # the search before creating and the one after the 422
    stage(db, ANN)
    push(db)
    row = lead_row(db)
    assert row["status"] == "failed_permanent"
    assert row["error_reason"] == (
        "duplicate customer: Duplicate customer; HCP already has a customer with this email or "
        'phone (its search did not find it); set on_duplicate = "link" under '
        "[sources.housecallpro.leads] to link such leads"
    )


def test_push_command_exits_1_when_too_many_leads_failed(
    db: Path, hcp: tuple[FakeHCP, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every lead failing used to exit 0; now the flow's threshold applies: over it, exit 1."""
    fake, _ = hcp
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__API_KEY", KEY)
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__BASE_URL", BASE)
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__RATE_LIMIT", "0")
    fake.script["*"] = [422, 422, 201, 201, 201]
    stage(db, *({"name": f"P{i}", "email": f"p{i}@x.io"} for i in range(5)))
    runner = CliRunner()
    over = runner.invoke(app, ["leads", "push", "--db", str(db), "--max-failed-share", "0.3"])
    assert over.exit_code == 1, over.output
    assert over.output.strip().splitlines()[-1] == (
        "2 of 5 leads failed (40.0%), over the threshold of 30.0%. Why: `hcp leads status`, or "
        "SELECT lead_id, error_reason FROM staging.leads WHERE status LIKE 'failed%'"
    )
    assert "Traceback" not in over.output
    query(db, "UPDATE staging.leads SET status = 'pending' WHERE status LIKE 'failed%'")
    fake.script["*"] = [422, 422]
    within = runner.invoke(app, ["leads", "push", "--db", str(db)])  # 2 of 2: over 20%
    assert within.exit_code == 1
    nothing = runner.invoke(app, ["leads", "push", "--db", str(db)])
    assert nothing.exit_code == 0, nothing.output  # nothing to push is not a failure


def test_duplicate_with_on_duplicate_link_links_existing(
    db: Path, hcp: tuple[FakeHCP, Any]
) -> None:
    fake, _ = hcp
    fake.reject_duplicates = True
    fake.create({"email": "ann@x.io", "first_name": "Existing"})
    stage(db, ANN)
    result = push(db, routes=CREATE, settings=PushSettings(on_duplicate="link"))
    row = lead_row(db)
    assert (row["status"], row["hcp_customer_id"]) == ("linked", "cus_0001")
    assert attempts_of(db) == [
        ("create", "POST", "/customers", 422),
        ("link", "GET", "/customers", 200),
    ]
    assert result.linked == 1 and len(fake.customers) == 1


def test_other_422_fails_permanently_with_hcp_reason_and_field(
    db: Path, hcp: tuple[FakeHCP, Any]
) -> None:
    fake, _ = hcp
    fake.script["ann@x.io"] = [422]
    stage(db, ANN)
    push(db)
    row = lead_row(db)
    assert row["status"] == "failed_permanent"
    assert row["error_reason"] == "HCP refused it: email is invalid (field email)"


@pytest.mark.parametrize(
    ("status", "code", "words"),
    [(401, 2, 'HCP says 401 "Unauthorized"'), (403, 3, 'HCP says 403 "Permission denied"')],
)
def test_401_403_on_post_stop_the_run_and_leave_leads_pending(
    db: Path, hcp: tuple[FakeHCP, Any], status: int, code: int, words: str
) -> None:
    fake, _ = hcp
    fake.script["*"] = [status] * 10
    stage(db, *({"email": f"p{i}@x.io"} for i in range(6)))
    result = push(db, client_kw={"concurrency": 1})
    assert (result.status, result.exit_code) == ("stopped", code)
    assert words in result.message
    statuses = query(db, "SELECT DISTINCT status, attempts FROM staging.leads")
    assert statuses == [("pending", 0)]
    assert len(fake.posts) == 1  # stopped at once: no further lead was sent
    assert query(db, "SELECT status, exit_code FROM staging.push_runs") == [("stopped", code)]


@pytest.mark.parametrize(("status", "code"), [(401, 2), (403, 3)])
def test_verify_first_refused_key_claims_nothing(
    db: Path, hcp: tuple[FakeHCP, Any], status: int, code: int
) -> None:
    fake, _ = hcp
    fake.company_status = status
    stage(db, ANN)
    result = push(db)
    assert result.exit_code == code and result.claimed == 0
    assert lead_row(db)["status"] == "pending" and fake.posts == []


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_429_and_5xx_are_retried_then_sent(db: Path, hcp: tuple[FakeHCP, Any], status: int) -> None:
    fake, _ = hcp
    fake.script["ann@x.io"] = [status, status]
    stage(db, ANN)
    push(db)
    row = lead_row(db)
    assert (row["status"], row["attempts"]) == ("sent", 1)
    assert attempts_of(db) == [LOOKUP] + [("create", "POST", "/customers", status)] * 2 + [
        ("create", "POST", "/customers", 201)
    ]
    assert len(fake.customers) == 1


def test_persistent_5xx_is_retryable_then_gives_up_after_max_attempts(
    db: Path, hcp: tuple[FakeHCP, Any]
) -> None:
    fake, _ = hcp
    fake.script["ann@x.io"] = [503] * 100
    stage(db, ANN)
    settings = PushSettings(max_attempts=2)
    first = push(db, settings=settings)
    row = lead_row(db)
    assert (row["status"], row["attempts"]) == ("failed_retryable", 1)
    assert "HTTP 503" in row["error_reason"]
    assert first.failed_retryable == 1
    assert len(attempts_of(db)) == 4  # the lookup, and the client's own retries too
    push(db, settings=settings)
    row = lead_row(db)
    assert row["status"] == "failed_permanent"
    assert row["error_reason"].startswith("gave up after 2 attempts: ")
    assert fake.customers == []


def test_retryable_lead_is_not_reclaimed_in_the_same_run(
    db: Path, hcp: tuple[FakeHCP, Any]
) -> None:
    fake, _ = hcp
    fake.script["ann@x.io"] = [503] * 100
    stage(db, ANN)
    push(db, settings=PushSettings(max_attempts=5))
    assert lead_row(db)["attempts"] == 1


@pytest.mark.parametrize("fault", ["created_timeout", "lost"])
def test_unanswered_post_that_was_created_is_reconciled_not_resent(
    db: Path, hcp: tuple[FakeHCP, Any], fault: str
) -> None:
    fake, _ = hcp
    fake.script["ann@x.io"] = [fault]
    stage(db, ANN)
    result = push(db)
    row = lead_row(db)
    assert (row["status"], row["hcp_customer_id"]) == ("sent", "cus_0001")
    assert len(fake.posts) == 1 and len(fake.customers) == 1
    assert attempts_of(db) == [
        LOOKUP,
        ("create", "POST", "/customers", None),
        ("reconcile", "GET", "/customers", 200),
    ]
    assert result.reconciled == 1


@pytest.mark.parametrize("fault", ["timeout", "drop"])
def test_unanswered_post_not_created_is_sent_again(
    db: Path, hcp: tuple[FakeHCP, Any], fault: str
) -> None:
    fake, _ = hcp
    fake.script["ann@x.io"] = [fault]
    stage(db, ANN)
    push(db)
    row = lead_row(db)
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert len(fake.customers) == 1
    assert attempts_of(db) == [
        LOOKUP,
        ("create", "POST", "/customers", None),
        ("reconcile", "GET", "/customers", 200),
        ("create", "POST", "/customers", 201),
    ]


def test_phone_only_lead_is_reconciled_by_phone(db: Path, hcp: tuple[FakeHCP, Any]) -> None:
    fake, _ = hcp
    fake.create({"first_name": "Other", "mobile_number": "4155552671"})  # same phone, other person
    fake.script["4155552671"] = ["lost"]
    stage(db, {"name": "Sam Roe", "phone": "415-555-2671"})
    push(db)
    row = lead_row(db)
    assert (row["status"], row["hcp_customer_id"]) == ("sent", "cus_0002")
    assert len(fake.customers) == 2


def test_toll_free_phone_only_lead_is_reconciled_by_name(
    db: Path, hcp: tuple[FakeHCP, Any]
) -> None:
    """Sent as work_number, which HCP's search does not cover: the lost answer is reconciled
    through a search by name, matched on that number; HCP ends with one customer for it."""
    fake, _ = hcp
    fake.create({"first_name": "Sam", "last_name": "Roe", "work_number": "8665550100"})  # another
    fake.script["8005550199"] = ["lost"]
    stage(db, {"name": "Sam Roe", "phone": "1 (800) 555-0199"})
    push(db)
    row = lead_row(db)
    assert (row["status"], row["hcp_customer_id"]) == ("sent", "cus_0002")
    assert [c.get("work_number") for c in fake.customers] == ["8665550100", "8005550199"]
    assert all("mobile_number" not in p for p in fake.posts) and len(fake.posts) == 1


def test_duplicate_after_unanswered_attempt_is_reconciled_never_failed(
    db: Path, hcp: tuple[FakeHCP, Any]
) -> None:
    fake, _ = hcp
    # An account that rejects duplicates, a route that POSTs first. The answer is lost, then the
    # search is briefly unavailable, so the lead is not resent blind: the next run looks it up.
    fake.reject_duplicates = True
    fake.script["ann@x.io"] = ["lost"]
    fake.get_script = [500, 500, 500]  # the reconcile lookup fails (client retries: 3 tries)
    stage(db, ANN)
    push(db, routes=CREATE)
    row = lead_row(db)
    assert row["status"] == "failed_retryable"
    assert "could not look the customer up" in row["error_reason"]
    push(db, routes=CREATE)  # next run: evidence in lead_attempts -> looked up before any POST
    row = lead_row(db)
    assert (row["status"], row["hcp_customer_id"]) == ("sent", "cus_0001")
    assert len(fake.customers) == 1 and len(fake.posts) == 1


def test_duplicate_422_after_unanswered_post_in_same_run(
    db: Path, hcp: tuple[FakeHCP, Any]
) -> None:
    fake, _ = hcp
    # lost answer; lookup misses it (search lag); re-POST gets 422 duplicate -> reconcile finds it
    fake.script["ann@x.io"] = ["lost"]
    original = fake.get_customers
    calls = {"n": 0}

    def laggy(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            return httpx.Response(
                200, json={"page": 1, "total_pages": 1, "total_items": 0, "customers": []}
            )
        return original(request)

    hcp[1]["search"].side_effect = laggy
    fake.reject_duplicates = True
    stage(db, ANN)
    push(db, routes=CREATE, settings=PushSettings(on_duplicate="fail"))
    row = lead_row(db)
    assert (row["status"], row["hcp_customer_id"]) == ("sent", "cus_0001")
    assert [a[3] for a in attempts_of(db)] == [None, 200, 422, 200]


# ---------------------------------------------------------------- a customer HCP already has


def test_existing_customer_is_linked_without_a_post(db: Path, hcp: tuple[FakeHCP, Any]) -> None:
    fake, _ = hcp
    fake.create({"email": "ann@x.io", "first_name": "Existing"})
    stage(db, ANN)
    result = push(db)  # the default route: on_existing = "link"
    row = lead_row(db)
    assert (row["status"], row["hcp_customer_id"], row["error_reason"]) == (
        "linked",
        "cus_0001",
        None,
    )
    assert fake.posts == [] and len(fake.customers) == 1
    assert attempts_of(db) == [LOOKUP]
    assert (result.linked, result.sent) == (1, 0)
    assert query(db, "SELECT linked, skipped, sent FROM staging.push_runs") == [(1, 0, 0)]


def test_existing_customer_is_skipped_on_a_skip_route(db: Path, hcp: tuple[FakeHCP, Any]) -> None:
    fake, _ = hcp
    fake.create({"email": "ann@x.io", "first_name": "Existing"})
    stage(db, ANN, {"name": "Bo New", "email": "bo@x.io"})
    result = push(db, routes=routes_on_existing("skip"))
    row = lead_row(db)
    assert (row["status"], row["hcp_customer_id"], row["error_reason"]) == (
        "skipped",
        "cus_0001",
        None,
    )
    assert lead_row(db, "L2")["status"] == "sent"  # a new lead is still created
    assert [p["email"] for p in fake.posts] == ["bo@x.io"]
    assert attempts_of(db) == [LOOKUP]
    assert (result.skipped, result.sent) == (1, 1)
    assert query(db, "SELECT linked, skipped, sent FROM staging.push_runs") == [(0, 1, 1)]
    assert "skipped" in outbox.TERMINAL
    push(db, routes=routes_on_existing("skip"))  # terminal: never claimed again
    assert len(attempts_of(db)) == 1


def test_create_route_posts_without_looking(db: Path, hcp: tuple[FakeHCP, Any]) -> None:
    fake, _ = hcp
    fake.create({"email": "ann@x.io", "first_name": "Existing"})
    stage(db, ANN)
    push(db, routes=CREATE)
    row = lead_row(db)
    assert (row["status"], row["hcp_customer_id"]) == ("sent", "cus_0002")
    assert len(fake.customers) == 2  # the account accepts duplicates, as live HCP does
    assert attempts_of(db) == [("create", "POST", "/customers", 201)]


def test_phone_only_lead_is_linked_by_phone(db: Path, hcp: tuple[FakeHCP, Any]) -> None:
    fake, _ = hcp
    fake.create({"first_name": "Other", "mobile_number": "4155552671"})  # a household member
    fake.create({"first_name": "Sam", "last_name": "Roe", "mobile_number": "4155552671"})
    stage(db, {"name": "Sam Roe", "phone": "415-555-2671"})
    push(db)
    row = lead_row(db)
    assert (row["status"], row["hcp_customer_id"]) == ("linked", "cus_0002")
    assert fake.posts == [] and attempts_of(db) == [LOOKUP]


def test_failed_lookup_before_create_sends_nothing_and_is_retried(
    db: Path, hcp: tuple[FakeHCP, Any]
) -> None:
    fake, _ = hcp
    fake.get_script = [500, 500, 500]  # the search fails (client retries: 3 tries)
    stage(db, ANN)
    push(db)
    row = lead_row(db)
    assert row["status"] == "failed_retryable" and fake.posts == []
    assert row["error_reason"].startswith("could not look the customer up before creating it: ")
    push(db)  # a failed lookup is no evidence of a POST: the next run looks up, then creates
    row = lead_row(db)
    assert (row["status"], row["hcp_customer_id"]) == ("sent", "cus_0001")
    assert [a[0] for a in attempts_of(db)] == ["lookup"] * 3 + ["lookup", "create"]


def test_refused_key_on_the_lookup_stops_the_run_and_leaves_the_lead_pending(
    db: Path, hcp: tuple[FakeHCP, Any]
) -> None:
    fake, _ = hcp
    fake.get_script = [401]
    stage(db, ANN)
    result = push(db)
    assert result.exit_code == 2 and fake.posts == []
    assert (lead_row(db)["status"], lead_row(db)["attempts"]) == ("pending", 0)


@pytest.mark.parametrize(
    ("fault", "customer", "customers"), [("drop", "cus_0001", 1), ("lost", "cus_0002", 2)]
)
def test_create_route_reconciles_to_the_newest_match_never_a_second_post(
    db: Path, hcp: tuple[FakeHCP, Any], fault: str, customer: str, customers: int
) -> None:
    # `create` does not look first, so after an unanswered POST the reconcile may find a customer
    # HCP had before. It cannot tell that one from ours, so it never POSTs again: a lost answer
    # (ours created) records ours, the newest; a dropped one (nothing created) records the older.
    fake, _ = hcp
    fake.create({"email": "ann@x.io", "first_name": "Existing"})
    fake.script["ann@x.io"] = [fault]
    stage(db, ANN)
    result = push(db, routes=CREATE)
    row = lead_row(db)
    assert (row["status"], row["hcp_customer_id"]) == ("sent", customer)
    assert len(fake.posts) == 1 and len(fake.customers) == customers
    assert result.reconciled == 1


def test_rows_left_sending_are_reconciled_first(db: Path, hcp: tuple[FakeHCP, Any]) -> None:
    fake, _ = hcp
    created = fake.create(
        {"email": "ann@x.io", "first_name": "Ann"}
    )  # the killed run's POST landed
    stage(
        db,
        {**ANN, "status": "sending", "attempts": 1},
        {
            "name": "Bob",
            "email": "bob@x.io",
            "status": "sending",
            "attempts": 1,
        },  # never reached HCP
        {"name": "Cy", "email": "cy@x.io"},
    )
    result = push(db)
    assert (lead_row(db, "L1")["status"], lead_row(db, "L1")["hcp_customer_id"]) == (
        "sent",
        created["id"],
    )
    assert lead_row(db, "L2")["status"] == "sent"
    assert lead_row(db, "L3")["status"] == "sent"
    assert sorted(p["email"] for p in fake.posts) == ["bob@x.io", "cy@x.io"]  # threads: any order
    assert attempts_of(db, "L1") == [("reconcile", "GET", "/customers", 200)]
    assert attempts_of(db, "L2")[0] == ("reconcile", "GET", "/customers", 200)
    assert result.reconciled == 1 and result.sent == 3


def test_invalid_leads_fail_before_any_request(db: Path, hcp: tuple[FakeHCP, Any]) -> None:
    fake, _ = hcp
    stage(db, {"name": "No Contact"}, {"name": "Bad", "email": "nope", "phone": "12"}, ANN)
    result = push(db)
    assert lead_row(db, "L1")["error_reason"] == "no valid email or usable phone"
    assert lead_row(db, "L2")["status"] == "failed_permanent"
    assert attempts_of(db, "L1") == [] and attempts_of(db, "L2") == []
    assert [p["email"] for p in fake.posts] == ["ann@x.io"]
    assert result.failed_permanent == 2 and result.claimed == 3


def test_dropped_fields_are_noted_on_the_attempt_row(db: Path, hcp: tuple[FakeHCP, Any]) -> None:
    stage(db, {"name": "Ann", "email": "ann@x.io", "phone": "garbage"})
    push(db)
    assert query(
        db,
        "SELECT kind, dropped_fields FROM staging.lead_attempts WHERE lead_id = 'L1' ORDER BY attempted_at",
    ) == [("lookup", None), ("create", "phone 'garbage': not a phone number")]


def test_lead_sources_ensured_once_per_run(db: Path, hcp: tuple[FakeHCP, Any]) -> None:
    fake, mock = hcp
    fake.lead_sources = ["Website", "Google Ads"]
    stage(
        db,
        {"email": "a@x.io", "lead_source": "Website"},
        {"email": "b@x.io", "lead_source": "Flyer"},
        {"email": "c@x.io", "lead_source": "Flyer"},
        {"email": "d@x.io", "lead_source": "google ads"},  # HCP's spelling is reused
        {"email": "e@x.io"},
    )
    routes = parse_profiles({"routes": {"default": {"lead_source": "Website"}}})
    result = push(db, routes=routes)
    assert mock.routes[1].call_count == 1  # GET /lead_sources
    assert mock.routes[2].call_count == 1  # POST /lead_sources: "Flyer" only
    assert result.lead_sources_created == ["Flyer"]
    # the sender threads finish in any order: compare lead by lead, not by position
    assert {p["email"]: p.get("lead_source") for p in fake.posts} == {
        "a@x.io": "Website",
        "b@x.io": "Flyer",
        "c@x.io": "Flyer",
        "d@x.io": "Google Ads",
        "e@x.io": "Website",
    }


def test_limit_and_route_filters(db: Path, hcp: tuple[FakeHCP, Any]) -> None:
    fake, _ = hcp
    stage(db, *({"email": f"p{i}@x.io", "route": "ads" if i % 2 else None} for i in range(6)))
    routes = parse_profiles({"routes": {"default": {}, "ads": {}}})
    assert push(db, routes=routes, limit=2).claimed == 2
    assert push(db, routes=routes, route="ads").claimed == 2  # p1 was sent by the first run
    assert sorted(p["email"] for p in fake.posts) == ["p0@x.io", "p1@x.io", "p3@x.io", "p5@x.io"]


def test_other_accounts_are_left_alone(db: Path, hcp: tuple[FakeHCP, Any]) -> None:
    stage(db, {**ANN, "account": "franchise2"})
    assert push(db).claimed == 0
    assert lead_row(db)["status"] == "pending"


# ---------------------------------------------------------------- secrets


def test_key_is_in_no_table_output_or_error(
    db: Path,
    hcp: tuple[FakeHCP, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, _ = hcp
    fake.script["*"] = [503, "drop", 422, 500, 500, 500, 429]
    stage(db, *({"email": f"p{i}@x.io", "notes": "n"} for i in range(8)))
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__API_KEY", KEY)
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__BASE_URL", BASE)
    caplog.set_level("DEBUG")
    runner = CliRunner()
    outputs = [
        runner.invoke(app, ["leads", "push", "--db", str(db)]),
        runner.invoke(app, ["leads", "push", "--db", str(db), "--json"]),
    ]
    fake.company_status = 401
    outputs.append(runner.invoke(app, ["leads", "push", "--db", str(db)]))
    outputs.append(runner.invoke(app, ["leads", "test"]))
    outputs.append(runner.invoke(app, ["leads", "status", "--db", str(db)]))
    for out in outputs:
        assert KEY not in out.output
        assert out.exception is None or isinstance(out.exception, SystemExit)
    assert outputs[2].exit_code == 2
    con = duckdb.connect(str(db))
    for table in outbox.TABLES:
        dump = con.execute(f"SELECT * FROM staging.{table}").fetchall()
        assert dump and KEY not in repr(dump), table
    con.close()
    assert KEY not in caplog.text
    raw = db.read_bytes()
    assert KEY.encode() not in raw


# ---------------------------------------------------------------- hcp leads test


def test_test_lead_created_then_shown_as_existing(hcp: tuple[FakeHCP, Any]) -> None:
    fake, _ = hcp
    with make_client() as client:
        first = send_test_lead(client)
        second = send_test_lead(client)
    assert first.created and first.customer_id == "cus_0001"
    assert fake.posts == [
        {**fake.posts[0], "first_name": "Test", "last_name": "Lead", "email": TEST_EMAIL}
    ]
    assert not second.created and second.exit_code == 0
    assert "already exists" in second.message and "cus_0001" in second.message
    assert len(fake.customers) == 1


def test_test_lead_duplicate_shows_existing(hcp: tuple[FakeHCP, Any]) -> None:
    fake, mock = hcp
    fake.reject_duplicates = True
    fake.create({"email": TEST_EMAIL, "first_name": "Test", "last_name": "Lead"})
    original: Callable[[httpx.Request], httpx.Response] = fake.get_customers
    seen = {"n": 0}

    def first_empty(request: httpx.Request) -> httpx.Response:
        seen["n"] += 1
        if seen["n"] == 1:
            return httpx.Response(200, json={"page": 1, "total_pages": 1, "customers": []})
        return original(request)

    mock["search"].side_effect = first_empty  # the first search misses it (not yet indexed)
    with make_client() as client:
        result = send_test_lead(client)
    assert not result.created and result.exit_code == 0
    assert "duplicate" in result.message and "cus_0001" in result.message


def test_test_lead_cli_prints_id_and_maps_401(
    hcp: tuple[FakeHCP, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake, _ = hcp
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__API_KEY", KEY)
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__BASE_URL", BASE)
    result = CliRunner().invoke(app, ["leads", "test"])
    assert result.exit_code == 0, result.output
    assert "cus_0001" in result.output
    assert not (tmp_path / "hcp_sync.duckdb").exists()  # not staged
    fake.customers.clear()
    fake.script["*"] = [401]
    refused = CliRunner().invoke(app, ["leads", "test"])
    assert refused.exit_code == 2 and 'HCP says 401 "Unauthorized"' in refused.output
