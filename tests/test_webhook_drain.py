"""The webhook drain: spooled deliveries land in `hcp.webhook_events` and their records in the
raw tables by merge, the newest state wins, and a drain killed before marking the spool writes
nothing twice. Records are the sandbox's GET records; envelopes are HCP_API.md §7's."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import respx

from pipelines.config import Account
from pipelines.sync import sync_account
from pipelines.webhooks.drain import DrainResult, account_pipeline, drain, drain_into
from pipelines.webhooks.spool import Spool, spool_path_for
from sandbox.server import SandboxHandle
from sandbox.settings import SandboxSettings
from sources.housecallpro.client import HCPClient
from tests.plugins.sandbox_fixtures import sandbox_dataset
from tests.utils import query

COMPANY = "bdd640fb-0667-4ad1-ac80-317fa3b1799d"
T0 = datetime(2026, 4, 2, 15, 0, tzinfo=UTC)


def clock() -> datetime:
    return T0 + timedelta(hours=1)


def customer(**changes: Any) -> dict[str, Any]:
    record = copy.deepcopy(sandbox_dataset(SandboxSettings()).records["customers"][0])
    record.update(changes)
    return record


def envelope(
    event: str, occurred: datetime, record: dict[str, Any], key: str | None = None
) -> bytes:
    body = {
        "event": event,
        "event_occurred_at": occurred.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "company_id": COMPANY,
        key or event.split(".")[0]: record,
    }
    return json.dumps(body).encode()


def append(spool_file: Path, *bodies: bytes, account: str = "default") -> None:
    with Spool(spool_file) as spool:
        for body in bodies:
            assert spool.append(account, "sig", body, now=T0)


def events(db: Path) -> list[tuple[Any, ...]]:
    return query(db, "select event, status from hcp.webhook_events order by spool_id")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "w.duckdb"


def test_created_then_updated_customer_lands_with_its_addresses(db: Path) -> None:
    created = customer(updated_at="2026-04-02T15:00:00Z")
    updated = customer(first_name="Camille", updated_at="2026-04-02T15:05:00Z")
    updated["addresses"] = updated["addresses"] + [
        {**updated["addresses"][0], "id": "adr_second", "street": "1 Second St"}
    ]
    append(spool_path_for(db), envelope("customer.created", T0, created))
    [first] = drain(db, ["default"], now=clock)
    assert (first.drained, first.applied) == (1, 1)
    append(spool_path_for(db), envelope("customer.updated", T0 + timedelta(minutes=5), updated))
    [second] = drain(db, ["default"], now=clock)
    assert (second.drained, second.applied) == (1, 1)

    assert query(db, "select account, id, first_name from hcp.customers") == [
        ("default", created["id"], "Camille")
    ]
    streets = query(db, "select street from hcp.customers__addresses order by street")
    assert [s for (s,) in streets] == sorted(["1 Second St", created["addresses"][0]["street"]])
    assert query(db, "select distinct account from hcp.customers__addresses") == [("default",)]
    assert events(db) == [("customer.created", "applied"), ("customer.updated", "applied")]
    [(applied_at, occurred)] = query(
        db,
        "select applied_at, event_occurred_at from hcp.webhook_events "
        "where event = 'customer.updated'",
    )
    assert applied_at.replace(tzinfo=UTC) == clock()
    assert occurred.replace(tzinfo=UTC) == T0 + timedelta(minutes=5)


def test_an_older_event_after_a_newer_one_does_not_win(db: Path) -> None:
    newer = envelope(
        "customer.updated",
        T0 + timedelta(minutes=5),
        customer(first_name="Newer", updated_at="2026-04-02T15:05:00Z"),
    )
    older = envelope(
        "customer.updated", T0, customer(first_name="Older", updated_at="2026-04-02T15:00:00Z")
    )
    append(spool_path_for(db), newer, older)  # the same drain sees both: newest wins
    [result] = drain(db, ["default"], now=clock)
    assert result.statuses == {"applied": 1, "stale": 1}
    assert query(db, "select first_name from hcp.customers") == [("Newer",)]

    late = envelope(
        "customer.updated",
        T0 + timedelta(minutes=1),
        customer(first_name="Late", updated_at="2026-04-02T15:01:00Z"),
    )
    append(spool_path_for(db), late)  # a later drain: the row's updated_at is newer
    [result] = drain(db, ["default"], now=clock)
    assert result.statuses == {"stale": 1}
    assert query(db, "select first_name from hcp.customers") == [("Newer",)]


def test_an_invoice_event_older_than_the_row_an_event_wrote_is_stale(db: Path) -> None:
    """Invoices have no updated_at: the event's time decides."""
    invoice = copy.deepcopy(sandbox_dataset(SandboxSettings()).records["invoices"][0])
    paid = envelope("invoice.paid", T0 + timedelta(minutes=9), {**invoice, "status": "paid"})
    sent = envelope("invoice.sent", T0, {**invoice, "status": "open"})
    append(spool_path_for(db), paid)
    drain(db, ["default"], now=clock)
    append(spool_path_for(db), sent)
    [result] = drain(db, ["default"], now=clock)
    assert result.statuses == {"stale": 1}
    assert query(db, "select status from hcp.invoices") == [("paid",)]


def test_customer_deleted_flags_the_row(db: Path) -> None:
    record = customer(updated_at="2026-04-02T15:00:00Z")
    deleted_at = T0 + timedelta(minutes=3)
    append(
        spool_path_for(db),
        envelope("customer.created", T0, record),
        envelope("customer.deleted", deleted_at, record),
    )
    drain(db, ["default"], now=clock)
    [(flag,)] = query(db, "select _hcp_deleted_at from hcp.customers")
    assert flag.replace(tzinfo=UTC) == deleted_at
    assert events(db) == [("customer.created", "stale"), ("customer.deleted", "applied")]


def test_unknown_and_malformed_events_are_stored_not_applied(db: Path) -> None:
    append(
        spool_path_for(db),
        envelope("widget.created", T0, {"id": "w_1"}),
        b"<html>not json</html>",
        json.dumps({"company_id": COMPANY, "customer": {"id": "c"}}).encode(),
        envelope("job.appointment.rescheduled", T0, {"id": "appt_1"}, key="appointment"),
    )
    [result] = drain(db, ["default"], now=clock)
    assert result.statuses == {"unknown_event": 1, "malformed": 3}
    rows = query(
        db,
        "select event, status, applied_at, payload is null from hcp.webhook_events order by spool_id",
    )
    assert rows == [
        ("widget.created", "unknown_event", None, False),
        (None, "malformed", None, True),
        (None, "malformed", None, False),
        ("job.appointment.rescheduled", "malformed", None, False),  # no job_id: which job?
    ]
    tables = {t for (t,) in query(db, "select table_name from information_schema.tables")}
    assert "jobs" not in tables and "customers" not in tables


BASE = "https://hcp.test"


def job_with_appointments(count: int) -> dict[str, Any]:
    """A sandbox job (GET shape with expand[]=appointments) with `count` appointments."""
    jobs = sandbox_dataset(SandboxSettings()).records["jobs"]
    job = copy.deepcopy(next(j for j in jobs if len(j["schedule"].get("appointments") or []) > 1))
    first = job["schedule"]["appointments"][0]
    job["schedule"]["appointments"] = [
        {**first, "id": f"appt_{n}", "start_time": f"2026-04-0{n + 3}T15:00:00Z"}
        for n in range(count)
    ]
    return job


def appointment_event(job: dict[str, Any], n: int, event: str = "scheduled") -> bytes:
    appt = {**job["schedule"]["appointments"][n], "job_id": job["id"]}
    return envelope(f"job.appointment.{event}", T0, appt, key="appointment")


def appointments_of(db: Path, job_id: str) -> list[str]:
    rows = query(
        db,
        "select a.id from hcp.jobs__schedule__appointments a join hcp.jobs j "
        "on a._dlt_parent_id = j._dlt_id where j.id = ? order by a.id",
        [job_id],
    )
    return [r[0] for r in rows]


def drain_with_client(db: Path) -> DrainResult:
    pipeline, _ = account_pipeline("default", db)
    with Spool(spool_path_for(db)) as spool, HCPClient("k", BASE, max_retries=0) as client:
        return drain_into(pipeline, spool, "default", now=clock, client=client)


@respx.mock
def test_an_appointment_event_rereads_its_job_and_keeps_the_other_appointments(db: Path) -> None:
    before, after = job_with_appointments(2), job_with_appointments(3)
    append(spool_path_for(db), envelope("job.updated", T0, before))
    drain(db, ["default"], now=clock)
    assert appointments_of(db, before["id"]) == ["appt_0", "appt_1"]

    route = respx.get(f"{BASE}/jobs/{after['id']}").respond(json=after)
    append(spool_path_for(db), appointment_event(after, 2))
    result = drain_with_client(db)

    assert route.call_count == 1
    assert route.calls[0].request.url.params.get_list("expand[]") == ["appointments"]
    assert (result.statuses, result.refresh.applied, result.refresh.jobs) == ({"deferred": 1}, 1, 1)
    assert appointments_of(db, after["id"]) == ["appt_0", "appt_1", "appt_2"]
    [(status, applied_at, record_id, note)] = query(
        db,
        "select status, applied_at, record_id, note from hcp.webhook_events "
        "where event like 'job.appointment.%'",
    )
    assert (status, record_id) == ("applied", after["id"]) and applied_at is not None
    assert "re-read" in note
    assert query(db, "select count(*) from hcp.jobs") == [(1,)]


@respx.mock
def test_a_failed_reread_leaves_the_event_deferred_until_a_later_drain(db: Path) -> None:
    job = job_with_appointments(2)
    route = respx.get(f"{BASE}/jobs/{job['id']}").respond(503, json={"error": "down"})
    append(spool_path_for(db), appointment_event(job, 0), appointment_event(job, 1, "rescheduled"))
    first = drain_with_client(db)
    assert first.refresh.applied == 0 and "503" in (first.refresh.error or "")
    assert query(db, "select distinct status from hcp.webhook_events") == [("deferred",)]

    route.respond(json=job)
    second = drain_with_client(db)
    assert second.drained == 0  # nothing new in the spool: the events came from the warehouse
    assert (second.refresh.applied, second.refresh.jobs) == (2, 1)
    assert appointments_of(db, job["id"]) == ["appt_0", "appt_1"]
    assert query(db, "select distinct status from hcp.webhook_events") == [("applied",)]


@respx.mock
def test_an_appointment_of_a_job_hcp_no_longer_has_is_stale(db: Path) -> None:
    job = job_with_appointments(1)
    respx.get(f"{BASE}/jobs/{job['id']}").respond(404, json={"error": {"message": "Not found"}})
    append(spool_path_for(db), appointment_event(job, 0, "appointment_discarded"))
    result = drain_with_client(db)
    assert (result.refresh.stale, result.refresh.applied) == (1, 0)
    [(status, note)] = query(db, "select status, note from hcp.webhook_events")
    assert status == "stale" and "404" in note


def test_employee_and_pro_events_land_in_employees(db: Path) -> None:
    employee = copy.deepcopy(sandbox_dataset(SandboxSettings()).records["employees"][0])
    other = {**employee, "id": "pro_other"}
    append(
        spool_path_for(db),
        envelope("employee.created", T0, employee),
        envelope("pro.created", T0, other, key="employee"),
    )
    [result] = drain(db, ["default"], now=clock)
    assert result.statuses == {"applied": 2}
    ids = {i for (i,) in query(db, "select id from hcp.employees")}
    assert ids == {employee["id"], "pro_other"}


def test_each_account_gets_its_own_deliveries(db: Path) -> None:
    append(
        spool_path_for(db),
        envelope("customer.created", T0, customer(first_name="North")),
        account="north",
    )
    append(
        spool_path_for(db),
        envelope("customer.created", T0, customer(first_name="South")),
        account="south",
    )
    [north] = drain(db, ["north"], now=clock)
    assert north.drained == 1
    assert query(db, "select account, first_name from hcp.customers") == [("north", "North")]
    with Spool(spool_path_for(db)) as spool:
        assert [d.account for d in spool.pending()] == ["south"]


def test_a_drain_killed_before_marking_the_spool_writes_nothing_twice(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    append(
        spool_path_for(db),
        envelope("customer.updated", T0, customer(first_name="Once")),
        envelope("widget.created", T0, {"id": "w_1"}),
    )

    def killed(self: Spool, ids: list[int], **_: Any) -> None:
        raise KeyboardInterrupt("killed between the warehouse commit and mark_drained")

    with monkeypatch.context() as patch:
        patch.setattr(Spool, "mark_drained", killed)
        with pytest.raises(KeyboardInterrupt):
            drain(db, ["default"], now=clock)
    assert len(events(db)) == 2  # the warehouse committed
    loads_before = query(db, "select count(distinct _dlt_load_id) from hcp.customers")

    [rerun] = drain(db, ["default"], now=clock)
    assert (rerun.drained, rerun.duplicates, rerun.statuses) == (2, 2, {})
    assert events(db) == [("customer.updated", "applied"), ("widget.created", "unknown_event")]
    assert query(db, "select first_name from hcp.customers") == [("Once",)]
    assert query(db, "select count(distinct _dlt_load_id) from hcp.customers") == loads_before
    with Spool(spool_path_for(db)) as spool:
        assert spool.counts() == {"pending": 0, "drained": 2}


def test_no_spool_file_is_nothing_to_drain(db: Path) -> None:
    assert drain(db, ["default"], now=clock)[0].drained == 0
    assert not spool_path_for(db).exists()


def test_an_event_older_than_a_later_sync_read_does_not_overwrite_it(
    sandbox: SandboxHandle, db: Path
) -> None:
    acct = Account("default", sandbox.api_key, sandbox.base_url, rate_limit=0, concurrency=4)
    read = sorted(sandbox.admin.records("customers"), key=lambda r: r["updated_at"])[-1]
    stale = {**read, "first_name": "Stale", "updated_at": "2020-01-01T00:00:00Z"}
    append(spool_path_for(db), envelope("customer.updated", T0, stale))
    fresh = {**read, "first_name": "Fresh", "updated_at": "2030-01-01T00:00:00Z"}
    result = sync_account(acct, db, objects="customers", max_retries=1)
    assert result.ok, result.message
    # the sync drained the spool first (the event applied), then its read overwrote it
    assert (result.webhooks_drained, result.webhooks_applied) == (1, 1)
    got = query(db, f"select first_name from hcp.customers where id = '{read['id']}'")
    assert got == [(read["first_name"],)]

    append(spool_path_for(db), envelope("customer.updated", T0, stale | {"last_name": "X"}))
    [late] = drain(db, ["default"], now=clock)
    assert late.statuses == {"stale": 1}
    assert query(db, f"select first_name from hcp.customers where id = '{read['id']}'") == [
        (read["first_name"],)
    ]
    append(spool_path_for(db), envelope("customer.updated", T0, fresh))
    [newer] = drain(db, ["default"], now=clock)
    assert newer.statuses == {"applied": 1}
    assert query(db, f"select first_name from hcp.customers where id = '{read['id']}'") == [
        ("Fresh",)
    ]


def test_hcp_webhooks_drain_applies_the_spool(db: Path) -> None:
    from typer.testing import CliRunner

    from pipelines.cli.app import app

    append(spool_path_for(db), envelope("customer.created", T0, customer()))
    result = CliRunner().invoke(app, ["webhooks", "drain", "--db", str(db), "--account", "default"])
    assert result.exit_code == 0, result.output
    assert "1 webhook deliveries drained (1 applied)" in result.output
    assert query(db, "select count(*) from hcp.webhook_events") == [(1,)]


def test_hcp_sync_drains_the_configured_spool_and_says_so(
    sandbox: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from pipelines.cli.app import app

    spool_file = tmp_path / "elsewhere" / "spool.sqlite"  # not beside the warehouse
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__WEBHOOK_SPOOL", str(spool_file))
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__API_KEY", sandbox.api_key)
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__BASE_URL", sandbox.base_url)
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__RATE_LIMIT", "0")
    employee = copy.deepcopy(sandbox_dataset(SandboxSettings()).records["employees"][0])
    append(spool_file, envelope("employee.created", T0, {**employee, "id": "pro_hooked"}))
    db = tmp_path / "w.duckdb"
    out = CliRunner().invoke(app, ["sync", "--db", str(db), "--objects", "customers"])
    assert out.exit_code == 0, out.output
    assert "webhooks: 1 delivery(ies) drained, 1 applied before the read" in out.output
    assert query(db, "select id from hcp.employees") == [("pro_hooked",)]
    with Spool(spool_file) as spool:
        assert spool.counts() == {"pending": 0, "drained": 1}


def test_the_drain_finds_the_spool_where_the_receiver_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines import config
    from pipelines.webhooks.drain import configured_spool

    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "w.duckdb"))
    receiver_spool = config.webhook_spool_path()  # what `hcp webhooks serve` opens
    assert configured_spool(None) is None  # no receiver ran yet: nothing to drain
    append(receiver_spool, envelope("customer.created", T0, customer()))
    # a sync into another destination (no DuckDB file of its own) still meets the receiver
    assert configured_spool(None) == receiver_spool
    other = tmp_path / "other.duckdb"
    assert configured_spool(other) is None  # --db elsewhere: that file's own spool
