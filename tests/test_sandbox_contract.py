"""The sandbox keeps HCP's documented contract (HCP_API.md §2, §3, §6, §10)."""

from __future__ import annotations

import math
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from sandbox.objects import OBJECTS
from sandbox.server import SandboxHandle

STANDARD_ENVELOPE = {"page", "page_size", "total_pages", "total_items"}
PRICEBOOK_ENVELOPE = {
    "object",
    "page",
    "page_size",
    "total_pages_count",
    "total_count",
    "data",
    "url",
}


def _get(h: SandboxHandle, path: str, key: str | None = None, **params: object) -> httpx.Response:
    with h.client(key) as c:
        return c.get(path, params=params or None)


def _a_category_with_materials(h: SandboxHandle) -> str:
    return h.state.records("materials")[0]["material_category_uuid"]


# envelopes & pagination ------------------------------------------------------------------------
@pytest.mark.parametrize("spec", list(OBJECTS.values()), ids=lambda s: s.name)
def test_every_list_has_hcps_envelope(sandbox: SandboxHandle, spec) -> None:
    params = (
        {"material_category_uuid": _a_category_with_materials(sandbox)}
        if spec.name == "materials"
        else {}
    )
    r = _get(sandbox, spec.path, **params)
    assert r.status_code == 200, r.text
    body = r.json()
    if spec.envelope == "pricebook":
        assert set(body) == PRICEBOOK_ENVELOPE
        assert body["object"] == "list" and body["url"].startswith("/pricebook/")
        rows, total, pages = body["data"], body["total_count"], body["total_pages_count"]
    else:
        assert set(body) == STANDARD_ENVELOPE | {spec.key}
        rows, total, pages = body[spec.key], body["total_items"], body["total_pages"]
    assert body["page"] == 1 and body["page_size"] == 10
    assert total > 0, f"{spec.name} has no seeded rows"
    assert pages == math.ceil(total / 10)
    assert len(rows) == min(10, total)
    assert all(isinstance(r[spec.pk], str) for r in rows)


def test_pages_cover_every_record_exactly_once(sandbox: SandboxHandle) -> None:
    seen: list[str] = []
    page = 1
    while True:
        body = _get(sandbox, "/customers", page=page, page_size=150).json()
        seen += [c["id"] for c in body["customers"]]
        if page >= body["total_pages"]:
            break
        page += 1
    assert sorted(seen) == sorted(c["id"] for c in sandbox.state.records("customers"))


def test_page_size_over_200_is_a_400_and_routes_serve_100(sandbox: SandboxHandle) -> None:
    # live HCP refuses (HCP_API.md §9 had assumed clamping)
    too_big = {"message": "Size must be less than or equal to 200"}
    for path, param in (("/jobs", "page_size"), ("/routes", "per_page")):
        r = _get(sandbox, path, **{param: 201})
        assert (r.status_code, r.json()) == (400, too_big), path
    body = _get(sandbox, "/jobs", page_size=200).json()
    assert body["page_size"] == 200 and len(body["jobs"]) == 200
    routes = sandbox.state.records("routes")
    day = max({r["date"] for r in routes}, key=lambda d: sum(r["date"] == d for r in routes))
    body = _get(sandbox, "/routes", per_page=200, date=day).json()
    assert body["page_size"] == 100


@pytest.mark.parametrize(
    ("path", "param", "value"),
    [
        ("/jobs", "scheduled_start_min", "not-a-date"),
        ("/estimates", "scheduled_end_max", "2026-13-45"),
        ("/invoices", "created_at_min", ""),
        ("/invoices", "paid_at_min", "yesterday"),
        ("/invoices", "due_at_max", "31/12/2026"),
    ],
)
def test_an_unparseable_date_filter_is_a_400(
    sandbox: SandboxHandle, path: str, param: str, value: str
) -> None:
    r = _get(sandbox, path, **{param: value})
    assert r.status_code == 400
    assert r.json() == {"message": f"{param} must be a valid date"}
    assert _get(sandbox, path, **{param: "2026-08-01T00:00:00Z"}).status_code == 200


def test_served_page_size_serves_fewer_rows_than_total_pages_counts(
    sandbox: SandboxHandle,
) -> None:
    total = len(sandbox.state.records("customers"))
    sandbox.admin.settings(served_page_size=100)  # the admin API's PATCH
    assert sandbox.settings.served_page_size == 100
    seen: list[str] = []
    for page in (1, 2):
        body = _get(sandbox, "/customers", page=page, page_size=200).json()
        assert body["page_size"] == 200 and body["total_pages"] == math.ceil(total / 200)
        assert body["total_items"] == total and len(body["customers"]) == 100
        seen += [c["id"] for c in body["customers"]]
    assert len(set(seen)) == 200  # page 2 starts after the 100 rows served on page 1
    # a size asked at or below it is served whole
    assert len(_get(sandbox, "/customers", page_size=50).json()["customers"]) == 50
    with pytest.raises(ValueError, match="served_page_size"):
        sandbox.state.update_settings({"served_page_size": -1})


def test_churn_every_changes_a_record_of_the_listed_object_every_nth_list_request(
    sandbox: SandboxHandle,
) -> None:
    def listing() -> list[tuple[str, str]]:
        body = _get(sandbox, "/jobs", page_size=200, sort_by="updated_at").json()
        return [(j["id"], j["updated_at"]) for j in body["jobs"]]

    before = listing()
    total = len(sandbox.state.records("jobs"))
    sandbox.admin.settings(churn_every=2)  # the admin API's PATCH
    assert listing() == before  # request 1 of jobs: nothing due
    moved = listing()  # request 2: one job edited or created before it is served
    [change] = sandbox.state.churn.changes
    assert change.obj == "jobs" and change.kind in ("edit", "create")
    assert moved[0][0] == change.id and moved[0][1] > before[0][1]  # at the front, newer
    assert len(sandbox.state.records("jobs")) == total + (change.kind == "create")
    _get(sandbox, "/customers")  # counted per object: one customers request changes nothing
    assert len(sandbox.state.churn.changes) == 1
    for _ in range(6):
        listing()
    kinds = [c.kind for c in sandbox.state.churn.changes]
    assert len(kinds) == 4 and not {"edit", "create"} - set(kinds)

    sandbox.state.reset()  # the same seed and requests give the same changes
    listing()
    listing()
    assert sandbox.state.churn.changes == [change]
    with pytest.raises(ValueError, match="churn_every"):
        sandbox.state.update_settings({"churn_every": -1})


def test_page_past_the_end_is_empty_with_true_totals(sandbox: SandboxHandle) -> None:
    body = _get(sandbox, "/customers", page=999, page_size=50).json()
    assert body["customers"] == []
    assert body["total_items"] == 400 and body["total_pages"] == 8 and body["page"] == 999


def test_empty_list_has_zero_pages(sandbox: SandboxHandle) -> None:
    body = _get(sandbox, "/customers", q="zzz-nobody-zzz").json()
    assert body == {"page": 1, "page_size": 10, "total_pages": 0, "total_items": 0, "customers": []}
    body = _get(sandbox, "/routes", date="1999-01-01").json()
    assert body["total_pages"] == 0 and body["routes"] == []


# sorting ---------------------------------------------------------------------------------------
def test_default_order_is_created_at_desc(sandbox: SandboxHandle) -> None:
    rows = _get(sandbox, "/jobs", page_size=200).json()["jobs"]
    stamps = [r["created_at"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    assert stamps[0] == max(j["created_at"] for j in sandbox.state.records("jobs"))


def test_sort_by_updated_at_both_directions(sandbox: SandboxHandle) -> None:
    desc = _get(
        sandbox, "/customers", sort_by="updated_at", sort_direction="desc", page_size=200
    ).json()["customers"]
    asc = _get(
        sandbox, "/customers", sort_by="updated_at", sort_direction="asc", page_size=200
    ).json()["customers"]
    assert [c["updated_at"] for c in desc] == sorted((c["updated_at"] for c in desc), reverse=True)
    assert [c["updated_at"] for c in asc] == sorted(c["updated_at"] for c in asc)
    assert desc[0]["updated_at"] > asc[0]["updated_at"]


def test_invoices_sort_by_paid_at_puts_unpaid_last_ascending(sandbox: SandboxHandle) -> None:
    rows = _get(
        sandbox,
        "/invoices",
        **{"sort_by": "paid_at", "sort_direction": "asc", "page_size": 200, "status[]": "paid"},
    ).json()["invoices"]
    assert all(r["status"] == "paid" for r in rows)
    stamps = [r["paid_at"] for r in rows]
    assert None not in stamps and stamps == sorted(stamps)


def test_unknown_sort_is_ignored(sandbox: SandboxHandle) -> None:
    default = _get(sandbox, "/jobs").json()["jobs"]
    odd = _get(sandbox, "/jobs", sort_by="favourite_colour", sort_direction="sideways").json()[
        "jobs"
    ]
    assert [j["id"] for j in odd] == [j["id"] for j in default]


# query rules -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/invoices", "status"),
        ("/jobs", "work_status"),
        ("/jobs", "expand"),
        ("/customers", "expand"),
        ("/leads", "lead_source"),
    ],
)
def test_bare_scalar_for_an_array_param_is_422(
    sandbox: SandboxHandle, path: str, param: str
) -> None:
    r = _get(sandbox, path, **{param: "paid"})
    assert r.status_code == 422
    assert r.json() == {"errors": {param: "must be an array"}}


def test_array_params_filter_when_bracketed(sandbox: SandboxHandle) -> None:
    body = _get(sandbox, "/invoices", **{"status[]": "paid", "page_size": 200}).json()
    truth = [i for i in sandbox.state.records("invoices") if i["status"] == "paid"]
    assert body["total_items"] == len(truth) > 0
    with sandbox.client() as c:
        r = c.get(
            "/jobs",
            params=[
                ("work_status[]", "canceled"),
                ("work_status[]", "unscheduled"),
                ("page_size", "200"),
            ],
        )
    statuses = {j["work_status"] for j in r.json()["jobs"]}
    assert statuses <= {"pro canceled", "user canceled", "needs scheduling"} and len(statuses) >= 2


def test_unknown_params_and_updated_since_are_ignored(sandbox: SandboxHandle) -> None:
    plain = _get(sandbox, "/customers").json()
    odd = _get(
        sandbox,
        "/customers",
        updated_at_min="2099-01-01T00:00:00Z",
        updated_since="2099-01-01",
        foo="bar",
    ).json()
    assert odd == plain


def test_appointments_only_with_expand(sandbox: SandboxHandle) -> None:
    plain = _get(sandbox, "/jobs", page_size=50).json()["jobs"]
    assert all("appointments" not in j["schedule"] for j in plain)
    expanded = _get(sandbox, "/jobs", **{"page_size": 50, "expand[]": "appointments"}).json()[
        "jobs"
    ]
    scheduled = [j for j in expanded if j["schedule"]["scheduled_start"]]
    assert scheduled and all(j["schedule"]["appointments"] for j in scheduled)
    assert all(
        a["id"].startswith("appt_") for j in scheduled for a in j["schedule"]["appointments"]
    )


def test_local_schedule_times_are_sent_as_hcp_sends_them(sandbox: SandboxHandle) -> None:
    """HAE jobs.json: `"scheduled_start": "2026-06-26T10:45:00Z"` beside
    `"scheduled_start_local": "2026-06-26T06:45:00-04:00"`, `"time_zone": "America/New_York"`:
    the same instant, written as the zone's wall clock with its offset, to the second."""
    jobs = _get(sandbox, "/jobs", page_size=50).json()["jobs"]
    scheduled = [j["schedule"] for j in jobs if j["schedule"]["scheduled_start"]]
    assert scheduled
    for s in scheduled:
        local = s["scheduled_start_local"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", local), local
        utc = datetime.fromisoformat(s["scheduled_start"])
        assert datetime.fromisoformat(local) == utc
        assert (
            datetime.fromisoformat(local).utcoffset()
            == utc.astimezone(ZoneInfo(s["time_zone"])).utcoffset()
        )


def test_materials_need_a_category_and_categories_start_at_root(sandbox: SandboxHandle) -> None:
    r = _get(sandbox, "/api/price_book/materials")
    assert r.status_code == 422
    cat = _a_category_with_materials(sandbox)
    rows = _get(
        sandbox, "/api/price_book/materials", material_category_uuid=cat, page_size=200
    ).json()["data"]
    assert rows and all(m["material_category_uuid"] == cat for m in rows)
    roots = _get(sandbox, "/api/price_book/material_categories", page_size=200).json()["data"]
    assert roots and all(c["parent_uuid"] is None for c in roots)
    children = _get(
        sandbox, "/api/price_book/material_categories", parent_uuid=roots[0]["uuid"]
    ).json()["data"]
    assert children and all(c["parent_uuid"] == roots[0]["uuid"] for c in children)


def test_line_items_envelope(sandbox: SandboxHandle) -> None:
    job = sandbox.state.records("jobs")[0]
    body = _get(sandbox, f"/jobs/{job['id']}/line_items").json()
    assert set(body) == {"object", "data", "url"} and body["object"] == "list"
    assert sum(li["amount"] for li in body["data"]) == job["subtotal"]
    assert _get(sandbox, "/jobs/job_nope/line_items").status_code == 404


def test_single_reads_and_404(sandbox: SandboxHandle) -> None:
    cus = sandbox.state.records("customers")[0]
    assert _get(sandbox, f"/customers/{cus['id']}").json() == cus
    r = _get(sandbox, "/customers/cus_missing")
    assert r.status_code == 404 and r.json() == {"error": {"message": "Customer not found"}}
    option = sandbox.state.records("estimates")[0]["options"][0]["id"]
    r = _get(sandbox, f"/estimates/{option}")
    assert r.status_code == 404 and r.json()["error"]["message"] == "Estimate not found"


# auth ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("header", [None, "Token wrong-key", "Basic sandbox-key", "sandbox-key"])
def test_missing_or_wrong_key_is_401(sandbox: SandboxHandle, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    r = httpx.get(f"{sandbox.base_url}/company", headers=headers)
    assert r.status_code == 401 and r.json() == {"message": "Unauthorized"}


def test_bearer_works_like_token(sandbox: SandboxHandle) -> None:
    r = httpx.get(
        f"{sandbox.base_url}/company", headers={"Authorization": f"Bearer {sandbox.api_key}"}
    )
    assert r.status_code == 200 and r.json()["time_zone"] == "America/Chicago"


def test_readonly_key_reads_but_cannot_write(sandbox: SandboxHandle) -> None:
    with sandbox.client(sandbox.readonly_key) as c:
        assert c.get("/customers").status_code == 200
        r = c.post("/customers", json={"first_name": "Nope"})
    assert r.status_code == 403 and r.json() == {"error": {"message": "Permission denied"}}
    assert sandbox.state.created_customers() == []


def test_noaccess_key_gets_403_everywhere(sandbox: SandboxHandle) -> None:
    with sandbox.client(sandbox.noaccess_key) as c:
        assert c.get("/company").status_code == 403
        assert c.get("/customers").status_code == 403


def test_application_key_only_objects(sandbox: SandboxHandle, sandbox_factory) -> None:
    paths = ["/routes", "/service_zones", "/api/price_book/services"]
    for p in paths:
        assert _get(sandbox, p).status_code == 200
        assert _get(sandbox, p, key=sandbox.company_only_key).status_code == 403
    assert _get(sandbox, "/customers", key=sandbox.company_only_key).status_code == 200
    assert "locations" not in _get(sandbox, "/company", key=sandbox.company_only_key).json()
    company_main = sandbox_factory(scale=0.1, app_key_objects=False)
    for p in paths:
        assert _get(company_main, p).status_code == 403


# writes ----------------------------------------------------------------------------------------
def test_create_customer_returns_201_with_ids(sandbox: SandboxHandle) -> None:
    with sandbox.client() as c:
        r = c.post(
            "/customers",
            json={
                "first_name": "Test",
                "last_name": "Lead",
                "email": "test+hcp@example.com",
                "mobile_number": "(512) 555-0199",
                "lead_source": "Google",
                "addresses": [
                    {
                        "street": "1 Main St",
                        "city": "Austin",
                        "state": "TX",
                        "zip": "78701",
                        "country": "US",
                    }
                ],
            },
        )
    assert r.status_code == 201
    body = r.json()
    assert body["id"].startswith("cus_") and body["mobile_number"] == "5125550199"
    assert (
        body["addresses"][0]["id"].startswith("adr_") and body["addresses"][0]["type"] == "service"
    )
    assert body["created_at"] > max(
        c["updated_at"] for c in sandbox.state.records("customers") if c["id"] != body["id"]
    )
    assert [c["id"] for c in sandbox.state.created_customers()] == [body["id"]]


def test_create_customer_needs_a_name_email_or_phone(sandbox: SandboxHandle) -> None:
    with sandbox.client() as c:
        r = c.post("/customers", json={"company": "Acme", "notes": "no contact"})
    assert r.status_code == 422 and "error" in r.json()


def test_duplicate_email_is_accepted_by_default_and_422_when_switched_on(
    sandbox: SandboxHandle,
) -> None:
    # Live HCP accepts duplicates (HCP_API.md §2); the switch imitates an account that rejects.
    existing = next(c["email"] for c in sandbox.state.records("customers") if c["email"])
    with sandbox.client() as c:
        assert (
            c.post("/customers", json={"first_name": "Dup", "email": existing}).status_code == 201
        )
        sandbox.admin.settings(reject_duplicate_email=True)
        r = c.post("/customers", json={"first_name": "Dup", "email": existing.upper()})
        assert r.status_code == 422 and r.json() == {"error": {"message": "Duplicate customer"}}
    assert len(sandbox.state.created_customers()) == 1


def test_lead_source_auto_added_or_rejected(sandbox: SandboxHandle) -> None:
    with sandbox.client() as c:
        assert (
            c.post(
                "/customers", json={"first_name": "A", "lead_source": "Brand New Source"}
            ).status_code
            == 201
        )
        names = [ls["name"] for ls in sandbox.state.records("lead_sources")]
        assert "Brand New Source" in names
        sandbox.admin.settings(strict_lead_sources=True)
        r = c.post("/customers", json={"first_name": "B", "lead_source": "Another Unknown"})
        assert r.status_code == 422 and r.json() == {"error": {"message": "Lead source not found"}}
        assert (
            c.post(
                "/customers", json={"first_name": "C", "lead_source": "Brand New Source"}
            ).status_code
            == 201
        )


def test_put_customer_is_partial_and_bumps_updated_at(sandbox: SandboxHandle) -> None:
    cus = sandbox.state.records("customers")[0]
    with sandbox.client() as c:
        r = c.put(f"/customers/{cus['id']}", json={"notes": "gate code 9"})
        assert c.put("/customers/cus_missing", json={"notes": "x"}).status_code == 404
    assert r.status_code == 200
    body = r.json()
    assert body["notes"] == "gate code 9" and body["first_name"] == cus["first_name"]
    assert body["updated_at"] > cus["updated_at"]


def test_post_lead_sources_tags_and_leads(sandbox: SandboxHandle) -> None:
    cus = sandbox.state.records("customers")[0]
    with sandbox.client() as c:
        ls = c.post("/lead_sources", json={"name": "Radio"})
        tag = c.post("/tags", json={"name": "From push"})
        lead = c.post("/leads", json={"customer_id": cus["id"], "lead_source": "Radio"})
        blank = c.post("/tags", json={"name": " "})
    assert ls.status_code == 201 and ls.json()["name"] == "Radio" and ls.json()["editable"] is True
    assert tag.status_code == 201 and tag.json()["id"]
    assert (
        lead.status_code == 201
        and lead.json()["customer"]["id"] == cus["id"]
        and lead.json()["status"] == "open"
    )
    assert blank.status_code == 422


def test_customer_search_by_name_email_and_phone_digits(sandbox: SandboxHandle) -> None:
    with sandbox.client() as c:
        made = c.post(
            "/customers",
            json={
                "first_name": "Zelda",
                "last_name": "Quokka",
                "email": "Zelda.Q@Example.com",
                "mobile_number": "5551234567",
            },
        ).json()
        for q in (
            "555-123-4567",
            "(555) 123 4567",
            "+1 555 123 4567",
            "zelda.q@example",
            "quokka",
            "ZELDA",
        ):
            ids = [x["id"] for x in c.get("/customers", params={"q": q}).json()["customers"]]
            assert made["id"] in ids, q
        assert c.get("/customers", params={"q": "5559999999"}).json()["total_items"] == 0


# admin -----------------------------------------------------------------------------------------
def test_admin_update_add_delete_and_reset(sandbox: SandboxHandle) -> None:
    job = sandbox.state.records("jobs")[0]
    updated = sandbox.admin.update(
        "jobs", job["id"], {"description": "Changed", "schedule": {"arrival_window": 90}}
    )
    assert updated["description"] == "Changed" and updated["updated_at"] > job["updated_at"]
    assert updated["schedule"]["scheduled_start"] == job["schedule"]["scheduled_start"]
    newest = _get(sandbox, "/jobs", sort_by="updated_at", page_size=1).json()["jobs"][0]
    assert newest["id"] == job["id"]
    added = sandbox.admin.add("tags", {"name": "Added by admin"})
    assert added["id"].startswith("tag_")
    sandbox.admin.delete("customers", sandbox.state.records("customers")[0]["id"])
    assert _get(sandbox, "/customers").json()["total_items"] == 399
    sandbox.admin.reset()
    assert _get(sandbox, "/customers").json()["total_items"] == 400
    assert sandbox.state.get("jobs", job["id"]) == job


def test_admin_counters_dump_and_created_customers(sandbox: SandboxHandle) -> None:
    _get(sandbox, "/customers")
    job = sandbox.state.records("jobs")[0]["id"]
    _get(sandbox, f"/jobs/{job}/line_items")
    with sandbox.client() as c:
        c.post("/customers", json={"first_name": "Counted"})
    counters = sandbox.admin.counters()
    assert counters["requests"]["GET /customers"] == 1
    assert counters["requests"]["GET /jobs/{id}/line_items"] == 1
    assert counters["statuses"]["201"] == 1
    assert [c["first_name"] for c in sandbox.admin.created_customers()] == ["Counted"]
    dump = sandbox.admin.dump("customers", "leads")
    assert (
        set(dump["objects"]) == {"customers", "leads"} and len(dump["objects"]["customers"]) == 401
    )
    assert "created_at" in next(iter(dump["hidden"]["leads"].values()))


def test_admin_api_needs_no_key_and_refuses_data_settings(sandbox: SandboxHandle) -> None:
    assert httpx.get(f"{sandbox.base_url}/_sandbox/health").json()["ok"] is True
    r = httpx.patch(f"{sandbox.base_url}/_sandbox/settings", json={"scale": 10})
    assert r.status_code == 422
    r = httpx.patch(f"{sandbox.base_url}/_sandbox/settings", json={"no_such_knob": 1})
    assert r.status_code == 422
