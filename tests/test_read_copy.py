"""Readers while writers run: `<stem>.read.duckdb` stays open in another process while sync,
transform and push write the warehouse, and shows their rows after reconnecting; a program
outside hcp holding the main file gets one line naming its PID, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipelines.cli.app import app
from pipelines.config import Account
from pipelines.leads.load import load_leads
from pipelines.leads.profiles import ProfileBook
from pipelines.leads.push import push_leads
from pipelines.sync import sync_account
from pipelines.transform import run_transforms
from pipelines.warehouse import FileHeldElsewhere, connect, duckdb_lock, read_copy_path
from pipelines.webhooks.spool import Spool, spool_path_for
from sandbox.server import SandboxHandle
from sources.housecallpro.client import HCPClient
from tests.utils import write_lead_file

READER = textwrap.dedent(
    """
    import sys, duckdb
    path = sys.argv[1]
    con = duckdb.connect(path, read_only=True)
    print("ready", flush=True)
    for line in sys.stdin:
        cmd, _, sql = line.strip().partition(" ")
        if cmd == "reconnect":
            con.close()
            con = duckdb.connect(path, read_only=True)
            print("ok", flush=True)
        else:
            print(repr(con.execute(sql).fetchall()), flush=True)
    """
)

HOLDER = "import sys, duckdb, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(60)"


Holder = Callable[[Path], int]


class Reader:
    """Another process holding one read-only connection until told to reconnect."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", READER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._line() == "ready"

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def ask(self, sql: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"q {sql}\n")
        self.proc.stdin.flush()
        return self._line()

    def reconnect(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("reconnect\n")
        self.proc.stdin.flush()
        assert self._line() == "ok"

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Holder]:
    procs: list[subprocess.Popen[str]] = []

    def hold(path: Path) -> int:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        procs.append(proc)
        return proc.pid

    yield hold
    for proc in procs:
        proc.kill()
        proc.wait(10)


def test_a_change_publishes_the_read_copy_and_a_read_only_change_does_not(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with connect(db) as con:
        con.execute("create table t as select 1 as x")
    copy = read_copy_path(db)
    assert copy.name == "w.read.duckdb"
    with duckdb.connect(str(copy), read_only=True) as con:
        assert con.execute("select x from t").fetchall() == [(1,)]
    published = copy.stat().st_mtime_ns
    with connect(db, read_only=True) as con:
        con.execute("select * from t").fetchall()
    assert copy.stat().st_mtime_ns == published
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed into place


def test_a_read_only_connect_reads_the_copy_while_another_process_writes(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with connect(db) as con:
        con.execute("create table t as select 1 as x")
    script = (
        "import sys, time; from pipelines.warehouse import duckdb_lock\n"
        "with duckdb_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        told: list[str] = []
        with connect(db, read_only=True, on_wait=told.append) as con:
            assert con.execute("select x from t").fetchall() == [(1,)]
        assert told and "reading w.read.duckdb" in told[0]
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.slow
def test_the_read_copy_stays_open_while_sync_transform_and_push_run(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    db = tmp_path / "hcp_sync.duckdb"
    account = Account("default", sandbox.api_key, sandbox.base_url, rate_limit=0, concurrency=4)
    assert sync_account(account, db, objects="customers,lead_sources", max_retries=1).ok
    customers = int(
        duckdb.connect(str(db), read_only=True)
        .execute("select count(*) from hcp.customers")
        .fetchone()[0]
    )
    reader = Reader(read_copy_path(db))
    try:
        assert reader.ask("select count(*) from hcp.customers") == repr([(customers,)])
        sandbox.admin.add("customers", {"first_name": "Late", "last_name": "Arrival"})
        assert sync_account(account, db, objects="customers", max_retries=1).ok
        run_transforms(db)
        write_lead_file(
            tmp_path / "leads.csv",
            ["external_id", "name", "email", "lead_source"],
            [["rc-1", "Reada Copy", "reada@copy.example", "Website"]],
        )
        load_leads(tmp_path / "leads.csv", db_path=db, routes=ProfileBook())
        with HCPClient(sandbox.api_key, sandbox.base_url, rate_limit=0) as client:
            pushed = push_leads(account, db_path=db, routes=ProfileBook(), client=client)
        assert pushed.sent == 1
        # the open connection still sees the copy it opened; a reconnect sees every change
        assert reader.ask("select count(*) from hcp.customers") == repr([(customers,)])
        reader.reconnect()
        assert reader.ask("select count(*) from hcp.customers") == repr([(customers + 1,)])
        assert reader.ask(
            "select count(*) > 0 from information_schema.tables where table_schema = 'analytics'"
        ) == repr([(True,)])
        assert reader.ask("select status from staging.leads") == repr([("sent",)])
    finally:
        reader.close()


def test_a_program_outside_hcp_holding_the_file_gets_one_line(
    tmp_path: Path, holder: Holder, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "hcp_sync.duckdb"
    with connect(db) as con:
        con.execute("create schema staging")
    pid = holder(db)
    monkeypatch.setenv("HCP_FOREIGN_LOCK_TIMEOUT", "0.3")
    leads = write_lead_file(tmp_path / "l.csv", ["name", "email"], [["A B", "a@b.example"]])
    result = CliRunner().invoke(app, ["leads", "load", str(leads), "--db", str(db)])
    assert result.exit_code == 1, result.output
    out = " ".join((result.output or "").split())
    assert f"PID {pid}" in out and "hcp_sync.read.duckdb" in out and "Waited" in out
    assert "Traceback" not in out
    # readers are not stopped by it: a read-only command reads the published copy
    status = CliRunner().invoke(app, ["leads", "status", "--db", str(db)])
    assert status.exit_code == 0, status.output
    assert "hcp_sync.read.duckdb" in " ".join(status.output.split())


@pytest.mark.parametrize(
    "command",
    [
        ["sync"],
        ["transform"],
        ["leads", "push"],
        ["webhooks", "drain"],
        ["report", "attribution"],
    ],
)
def test_every_command_names_a_foreign_holder_in_one_line(
    command: list[str], tmp_path: Path, holder: Holder, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "hcp_sync.duckdb"
    duckdb.connect(str(db)).close()
    with Spool(spool_path_for(db)) as spool:  # one pending delivery: the drain has work
        spool.append("default", "sig", b'{"event": "customer.updated"}')
    pid = holder(db)
    monkeypatch.setenv("HCP_FOREIGN_LOCK_TIMEOUT", "0.2")
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__API_KEY", "k")
    monkeypatch.setenv("SOURCES__HOUSECALLPRO__BASE_URL", "http://127.0.0.1:9")
    result = CliRunner().invoke(app, [*command, "--db", str(db)])
    out = " ".join((result.output or "").split())
    assert result.exit_code == 1, out
    assert f"PID {pid}" in out and "hcp_sync.read.duckdb" in out, out
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_lock_waits_for_a_foreign_holder_then_names_it(
    tmp_path: Path, holder: Holder, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "w.duckdb"
    duckdb.connect(str(db)).close()
    pid = holder(db)
    monkeypatch.setenv("HCP_FOREIGN_LOCK_TIMEOUT", "0.2")
    told: list[str] = []
    with (
        pytest.raises(FileHeldElsewhere, match=f"PID {pid}"),
        duckdb_lock(db, on_wait=told.append, poll_s=0.05),
    ):
        pass
    assert told and f"w.duckdb is open in PID {pid}" in told[0]
