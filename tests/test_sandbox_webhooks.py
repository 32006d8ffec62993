"""The sandbox sends HCP's webhooks: signed envelopes for API writes and admin edits, the
unsigned probe first, retries with backoff, loopback only, and the receiver accepts them all."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from pipelines.webhooks.drain import account_pipeline, drain_into
from pipelines.webhooks.receiver import create_app as create_receiver
from pipelines.webhooks.spool import Spool
from sandbox.server import run_sandbox
from sandbox.settings import SandboxSettings, check_loopback_url
from sandbox.webhooks import WebhookSender, appointment_events
from sources.housecallpro.client import HCPClient
from tests.utils import query
from tests.webhook_utils import NOW, SECRET, hcp_signature

URL = "http://127.0.0.1:9/webhooks/default"


class Recorder:
    """An httpx transport that answers from a script of statuses and keeps every request."""

    def __init__(self, statuses: list[int | None]) -> None:
        self.statuses = statuses
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses.pop(0) if self.statuses else 200
        if status is None:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(status)


def _sender(recorder: Recorder, waits: list[float], attempts: int = 4) -> WebhookSender:
    return WebhookSender(
        URL,
        SECRET,
        max_attempts=attempts,
        backoff_s=0.5,
        clock=lambda: NOW,
        transport=httpx.MockTransport(recorder),
        wait=waits.append,
    )


def test_probe_first_unsigned_then_signed_events() -> None:
    recorder, waits = Recorder([]), []
    sender = _sender(recorder, waits).start()
    sender.emit(b'{"event":"customer.created"}')
    assert sender.wait_idle(5)
    sender.stop()
    probe, event = recorder.requests
    assert probe.content == b'{"foo":"bar"}' and "api-signature" not in probe.headers
    ts = event.headers["api-timestamp"]
    assert ts == str(int(NOW))
    assert event.headers["api-signature"] == hcp_signature(SECRET, ts, event.content)
    assert sender.stats["sent"] == 1 and sender.stats["probe"] == "ok"


def test_non_2xx_and_no_answer_are_retried_with_doubling_backoff() -> None:
    recorder, waits = Recorder([200, 500, None, 503]), []
    sender = _sender(recorder, waits).start()
    sender.emit(b'{"event":"job.created"}')
    assert sender.wait_idle(5)
    sender.stop()
    assert len(recorder.requests) == 5  # probe + 3 failures + success
    assert waits == [0.5, 1.0, 2.0]
    assert sender.stats["sent"] == 1 and sender.stats["failed"] == 0


def test_gives_up_after_max_attempts_and_counts_it() -> None:
    recorder, waits = Recorder([200, 500, 500]), []
    sender = _sender(recorder, waits, attempts=2).start()
    sender.emit(b'{"event":"job.created"}')
    sender.emit(b'{"event":"job.updated"}')
    assert sender.wait_idle(5)
    sender.stop()
    assert sender.stats["failed"] == 1 and sender.stats["sent"] == 1


@pytest.mark.parametrize(
    "url",
    ["http://example.com/hook", "https://10.1.2.3/x", "http://127.0.0.1.nip.io/", "file:///x"],
)
def test_only_loopback_urls_are_allowed(url: str) -> None:
    with pytest.raises(ValueError, match="loopback|http"):
        SandboxSettings(webhook_url=url, webhook_secret="s")
    with pytest.raises(ValueError):
        WebhookSender(url, "s")


def test_loopback_forms_are_allowed_and_a_url_needs_a_secret() -> None:
    for url in ("http://127.0.0.1:8787/w", "http://localhost/w", "http://[::1]:1/w"):
        assert check_loopback_url(url) == url
    with pytest.raises(ValueError, match="webhook_secret"):
        SandboxSettings(webhook_url="http://127.0.0.1:8787/w")
    assert SandboxSettings(webhook_url=URL, webhook_secret="s").public()["webhook_secret"] == "***"


def test_appointment_changes_become_appointment_events() -> None:
    def job(*appts: dict) -> dict:
        return {"id": "job_1", "schedule": {"appointments": list(appts)}}

    a, b = {"id": "a1", "start_time": "t1"}, {"id": "a2", "start_time": "t2"}
    events = appointment_events(job(a), job({**a, "start_time": "t9"}, b))
    assert [(n, r["id"], r["job_id"]) for n, r in events] == [
        ("job.appointment.rescheduled", "a1", "job_1"),
        ("job.appointment.scheduled", "a2", "job_1"),
    ]
    assert [n for n, _ in appointment_events(job(a), job())] == [
        "job.appointment.appointment_discarded"
    ]


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        return None


@contextmanager
def receiver(spool: Spool) -> Iterator[str]:
    app = create_receiver({"default": SECRET}, spool)
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/webhooks/default"
    finally:
        server.should_exit = True
        thread.join(5)


@pytest.mark.slow
def test_api_writes_and_admin_edits_reach_the_receiver_signed(tmp_path: Path) -> None:
    with Spool(tmp_path / "hooks.sqlite") as spool, receiver(spool) as url:
        settings = SandboxSettings(webhook_url=url, webhook_secret=SECRET)
        with run_sandbox(settings) as sb, sb.client() as hcp:
            created = hcp.post("/customers", json={"first_name": "Ada", "email": "a@x.io"}).json()
            hcp.put(f"/customers/{created['id']}", json={"last_name": "Lovelace"})
            hcp.post("/tags", json={"name": "webhook-test"})  # HCP has no tag events
            hcp.post("/leads", json={"customer_id": created["id"]})
            job = sb.admin.records("jobs")[0]
            appts = (job.get("schedule") or {}).get("appointments") or []
            assert appts, "the seed's first job has appointments"
            moved = [{**appts[0], "start_time": "2026-09-09T09:00:00Z"}]
            sb.admin.update(
                "jobs", job["id"], {"notes": "edited", "schedule": {"appointments": moved}}
            )
            employee = sb.admin.add("employees", {"first_name": "Pat", "last_name": "Pro"})
            sb.admin.delete("customers", created["id"])
            assert sb.state.webhooks.sender is not None
            assert sb.state.webhooks.sender.wait_idle(10)
            stats = dict(sb.state.webhooks.sender.stats)
            served = hcp.get(f"/leads?customer_id={created['id']}").status_code
            events = [json.loads(d.body) for d in spool.pending()]
            # the drain re-reads the job of the appointment events from the sandbox
            db = tmp_path / "w.duckdb"
            pipeline, _ = account_pipeline("default", db)
            with HCPClient(sb.api_key, sb.base_url) as client:
                drained = drain_into(pipeline, spool, "default", client=client)
    assert served == 200
    names = [e["event"] for e in events]
    assert names == [
        "customer.created",
        "customer.updated",
        "lead.created",
        "job.updated",
        "job.appointment.rescheduled",
        *["job.appointment.appointment_discarded"] * (len(appts) - 1),
        "employee.created",
        "customer.deleted",
    ]
    assert stats["probe"] == "ok" and stats["failed"] == 0 and stats["dropped"] == 0
    first = events[0]
    assert set(first) == {"event", "event_occurred_at", "company_id", "customer"}
    assert first["customer"] == created  # the record as the API returned it
    assert events[1]["customer"]["last_name"] == "Lovelace"
    assert "appointments" not in (events[3]["job"].get("schedule") or {})  # GET shape
    assert {e["appointment"]["job_id"] for e in events if "appointment" in e} == {job["id"]}
    assert events[-2]["employee"]["id"] == employee["id"]
    assert (drained.refresh.jobs, drained.refresh.applied) == (1, len(appts))
    starts = query(
        db,
        "select a.start_time from hcp.jobs__schedule__appointments a join hcp.jobs j "
        "on a._dlt_parent_id = j._dlt_id where j.id = ?",
        [job["id"]],
    )
    assert [t.strftime("%Y-%m-%d %H:%M") for (t,) in starts] == ["2026-09-09 09:00"]


@pytest.mark.slow
def test_admin_settings_patch_turns_webhooks_on(tmp_path: Path) -> None:
    with Spool(tmp_path / "hooks.sqlite") as spool, receiver(spool) as url:
        with run_sandbox() as sb, sb.client() as hcp:
            assert sb.state.webhooks.sender is None
            hcp.post("/customers", json={"first_name": "Before"})
            bad = httpx.patch(
                f"{sb.base_url}/_sandbox/settings",
                json={"webhook_url": "http://example.com/x", "webhook_secret": "s"},
            )
            assert bad.status_code == 422 and "loopback" in bad.text
            sb.admin.settings(webhook_url=url, webhook_secret=SECRET)
            hcp.post("/customers", json={"first_name": "After"})
            assert sb.state.webhooks.sender.wait_idle(10)
        bodies = [json.loads(d.body) for d in spool.pending()]
    assert [b["customer"]["first_name"] for b in bodies] == ["After"]
