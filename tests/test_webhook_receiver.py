"""The webhook receiver: each status of issue 15's contract, the spool as the only store, and
the config that feeds it (secrets per account, tolerance, spool path)."""

from __future__ import annotations

import json
import logging
import threading
import time
import warnings
from pathlib import Path

import pytest

from pipelines import config
from pipelines.config import ConfigError
from pipelines.warehouse import duckdb_lock
from pipelines.webhooks.receiver import create_app, is_known_event
from pipelines.webhooks.spool import Spool, spool_path_for
from pipelines.webhooks.verify import BadSignature, sign, verify
from tests.webhook_utils import NOW, SECRET, event_body, signed_headers

with warnings.catch_warnings():
    # starlette's TestClient warns, once on import, that it will move to httpx2; no behaviour
    # the tests rely on changes.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@pytest.fixture
def spool(tmp_path: Path):
    with Spool(tmp_path / "hooks.sqlite") as s:
        yield s


@pytest.fixture
def client(spool: Spool):
    app = create_app({"default": SECRET, "north": "n" * 32}, spool, clock=lambda: NOW)
    with TestClient(app) as c:
        yield c


def post(client: TestClient, body: bytes, headers: dict[str, str], account: str = "default"):
    return client.post(f"/webhooks/{account}", content=body, headers=headers)


def test_a_signed_delivery_is_stored_and_answered_200(client: TestClient, spool: Spool) -> None:
    body = event_body("customer.created", "cus_1")
    r = post(client, body, signed_headers(body))
    assert r.status_code == 200 and r.json()["status"] == "stored"
    [d] = spool.pending()
    assert (d.account, d.body, d.api_timestamp) == ("default", body, str(int(NOW)))


def test_a_redelivery_answers_200_and_is_stored_once(client: TestClient, spool: Spool) -> None:
    body = event_body("job.created", "job_1")
    assert post(client, body, signed_headers(body)).status_code == 200
    again = post(client, body, signed_headers(body, timestamp=int(NOW) + 30))
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert spool.counts()["pending"] == 1


def test_sha256_prefix_is_accepted(client: TestClient, spool: Spool) -> None:
    body = event_body("lead.created", "lea_1")
    headers = signed_headers(body)
    headers["Api-Signature"] = "sha256=" + headers["Api-Signature"]
    assert post(client, body, headers).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        {"Api-Signature": "0" * 64},
        {"Api-Signature": None},
        {"Api-Timestamp": None},
        {"Api-Timestamp": "yesterday"},
    ],
    ids=["wrong", "missing-signature", "missing-timestamp", "non-numeric-timestamp"],
)
def test_bad_signatures_are_401_not_stored_and_logged_without_body_or_secret(
    client: TestClient, spool: Spool, caplog: pytest.LogCaptureFixture, change: dict
) -> None:
    body = event_body("customer.updated", "cus_secretive_body_marker")
    headers = {k: v for k, v in {**signed_headers(body), **change}.items() if v is not None}
    with caplog.at_level(logging.INFO, logger="hcp.webhooks"):
        r = post(client, body, headers)
    assert r.status_code == 401
    assert spool.counts()["pending"] == 0
    assert "refused (401)" in caplog.text
    assert "secretive_body_marker" not in caplog.text and SECRET not in caplog.text


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_timestamp_beyond_the_tolerance_is_401(
    client: TestClient, spool: Spool, offset: int
) -> None:
    body = event_body("customer.updated", "cus_1")
    r = post(client, body, signed_headers(body, timestamp=int(NOW) + offset))
    assert r.status_code == 401
    assert spool.counts()["pending"] == 0


def test_a_timestamp_within_the_tolerance_is_accepted(client: TestClient) -> None:
    body = event_body("customer.updated", "cus_1")
    assert post(client, body, signed_headers(body, timestamp=int(NOW) - 299)).status_code == 200


def test_the_tolerance_is_configurable(spool: Spool) -> None:
    app = create_app({"default": SECRET}, spool, tolerance_s=10, clock=lambda: NOW)
    body = event_body("customer.updated", "cus_1")
    with TestClient(app) as c:
        assert post(c, body, signed_headers(body, timestamp=int(NOW) - 11)).status_code == 401
        assert post(c, body, signed_headers(body, timestamp=int(NOW) - 9)).status_code == 200


def test_the_unsigned_setup_probe_is_200_and_not_stored(client: TestClient, spool: Spool) -> None:
    r = post(client, b'{"foo": "bar"}', {"Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["status"] == "probe"
    signed = post(client, b'{"foo":"bar"}', signed_headers(b'{"foo":"bar"}'))
    assert signed.status_code == 200 and signed.json()["status"] == "probe"
    assert spool.counts() == {"pending": 0, "drained": 0}


def test_malformed_json_is_400(client: TestClient, spool: Spool) -> None:
    for body in (b'{"event": "job.created",', b'["job.created"]'):
        assert post(client, body, signed_headers(body)).status_code == 400
    assert spool.counts()["pending"] == 0


def test_a_body_over_one_megabyte_is_413(client: TestClient, spool: Spool) -> None:
    body = b'{"event":"job.created","pad":"' + b"x" * 1_000_000 + b'"}'
    assert post(client, body, signed_headers(body)).status_code == 413

    def stream():  # chunked, no Content-Length: the limit holds while reading
        yield b'{"event":"job.created","pad":"'
        for _ in range(20):
            yield b"x" * 100_000
        yield b'"}'

    r = client.post("/webhooks/default", content=stream(), headers=signed_headers(b""))
    assert r.status_code == 413
    assert spool.counts()["pending"] == 0


def test_an_account_not_configured_is_404(client: TestClient, spool: Spool) -> None:
    body = event_body("job.created", "job_1")
    assert post(client, body, signed_headers(body), account="south").status_code == 404
    assert spool.counts()["pending"] == 0


def test_each_account_verifies_with_its_own_secret(client: TestClient, spool: Spool) -> None:
    body = event_body("job.created", "job_1")
    assert post(client, body, signed_headers(body), account="north").status_code == 401
    good = post(client, body, signed_headers(body, secret="n" * 32), account="north")
    assert good.status_code == 200
    assert [d.account for d in spool.pending()] == ["north"]


def test_an_unknown_event_type_is_stored_and_marked(client: TestClient, spool: Spool) -> None:
    body = event_body("widget.exploded", "w_1")
    r = post(client, body, signed_headers(body))
    assert r.status_code == 200 and r.json()["known"] is False
    assert spool.counts()["pending"] == 1


def test_known_event_families() -> None:
    for name in ("customer.created", "job.appointment.rescheduled", "pro.created", "invoice.paid"):
        assert is_known_event(name)
    for name in ("widget.created", None, 3, "jobs.created"):
        assert not is_known_event(name)


def test_healthz_reports_spool_counts(client: TestClient) -> None:
    body = event_body("job.created", "job_1")
    post(client, body, signed_headers(body))
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["spool"] == {"pending": 1, "drained": 0}
    assert SECRET not in r.text


def test_a_spool_that_cannot_commit_is_503_never_200(spool: Spool) -> None:
    class Broken(Spool):
        def append(self, *args, **kwargs) -> bool:
            raise OSError("disk full")

    broken = Broken(spool.path)
    body = event_body("job.created", "job_1")
    with TestClient(create_app({"default": SECRET}, broken, clock=lambda: NOW)) as c:
        assert post(c, body, signed_headers(body)).status_code == 503
    broken.close()


def test_it_answers_fast_while_a_sync_holds_the_warehouse(tmp_path: Path) -> None:
    db = tmp_path / "hcp_sync.duckdb"
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with duckdb_lock(db, timeout_s=5):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(5)
        with Spool(spool_path_for(db)) as s:
            app = create_app({"default": SECRET}, s, clock=lambda: NOW)
            body = event_body("job.created", "job_1")
            with TestClient(app) as c:
                started = time.monotonic()
                r = post(c, body, signed_headers(body))
                elapsed = time.monotonic() - started
        assert r.status_code == 200
        assert elapsed < 0.5
        assert not db.exists()  # the receiver never opened (or created) the DuckDB file
    finally:
        release.set()
        holder.join()


def test_verify_names_the_reason_without_the_secret() -> None:
    body = b'{"event":"job.created"}'
    good = sign(SECRET, "100", body)
    verify(SECRET, "100", good, body, now=100)
    with pytest.raises(BadSignature) as exc:
        verify(SECRET, "100", good[:-1] + ("1" if good[-1] == "0" else "0"), body, now=100)
    assert SECRET not in str(exc.value)
    with pytest.raises(BadSignature, match="future"):
        verify(SECRET, "1000", sign(SECRET, "1000", body), body, now=100)


def test_sign_matches_hcp_formula() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"1775143244.{}", hashlib.sha256).hexdigest()
    assert sign("k", "1775143244", b"{}") == expected


# config --------------------------------------------------------------------------------------
def test_webhook_secrets_default_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__WEBHOOK_SECRET", "d" * 32)
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__ACCOUNTS__NORTH__WEBHOOK_SECRET", "n" * 32)
    assert config.webhook_secrets() == {"default": "d" * 32, "north": "n" * 32}


def test_no_webhook_secret_is_one_config_error_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__API_KEY", "k")
    with pytest.raises(ConfigError, match="SOURCES__HOUSECALLPRO__WEBHOOK_SECRET") as exc:
        config.webhook_secrets()
    assert "\n" not in str(exc.value)


def test_tolerance_and_spool_path_from_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "w.duckdb"))
    assert config.webhook_tolerance_s() == 300
    assert config.webhook_spool_path() == tmp_path / "w.duckdb.webhooks.sqlite"
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__WEBHOOK_TOLERANCE_S", "60")
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__WEBHOOK_SPOOL", str(tmp_path / "s.sqlite"))
    assert config.webhook_tolerance_s() == 60
    assert config.webhook_tolerance_s(5) == 5
    assert config.webhook_spool_path() == tmp_path / "s.sqlite"
    assert config.webhook_spool_path(tmp_path / "flag.sqlite") == tmp_path / "flag.sqlite"


def test_envelope_helper_is_hcp_shaped() -> None:
    assert set(json.loads(event_body("job.created", "job_1"))) == {
        "event",
        "event_occurred_at",
        "company_id",
        "job",
    }


def test_serve_without_a_secret_is_one_red_line_exit_1() -> None:
    from typer.testing import CliRunner

    from pipelines.cli.app import app

    result = CliRunner().invoke(app, ["webhooks", "serve"])
    assert result.exit_code == 1
    assert "SOURCES__HOUSECALLPRO__WEBHOOK_SECRET" in result.output
    assert "Traceback" not in result.output
