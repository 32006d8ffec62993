"""Running the sandbox: blocking (`serve`), in a background thread (`run_sandbox`), or in its
own process (`python -m sandbox`, see `__main__.py`).

`run_sandbox` is what tests use: uvicorn on 127.0.0.1 with an ephemeral port, in a daemon
thread, and a handle with the base URL, the keys, in-process `state` (ground truth) and
`admin` (the same operations over HTTP).
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from sandbox.app import create_app
from sandbox.seed import Dataset
from sandbox.settings import SandboxSettings
from sandbox.state import SandboxState


class AdminClient:
    """The `/_sandbox/` admin API over HTTP (never faulted, never rate limited)."""

    def __init__(self, base_url: str, company: int = 1) -> None:
        prefix = "/_sandbox" if company == 1 else f"/_sandbox/companies/{company}"
        self._http = httpx.Client(base_url=f"{base_url}{prefix}", timeout=30.0)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def settings(self, **changes: Any) -> dict[str, Any]:
        """Current settings; with keyword arguments, change them first (PATCH)."""
        if changes:
            return self._call("PATCH", "/settings", json=changes)
        return self._call("GET", "/settings")

    def counters(self) -> dict[str, Any]:
        return self._call("GET", "/counters")

    def reset_counters(self) -> dict[str, Any]:
        return self._call("POST", "/counters/reset")

    def reset(self) -> dict[str, Any]:
        return self._call("POST", "/reset")

    def created_customers(self) -> list[dict[str, Any]]:
        return self._call("GET", "/created_customers")["customers"]

    def dump(self, *objects: str) -> dict[str, Any]:
        params = {"objects": ",".join(objects)} if objects else None
        return self._call("GET", "/dump", params=params)

    def records(self, obj: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/objects/{obj}")["records"]

    def get(self, obj: str, rid: str) -> dict[str, Any]:
        return self._call("GET", f"/objects/{obj}/{rid}")

    def add(self, obj: str, record: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/objects/{obj}", json=record)

    def update(self, obj: str, rid: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self._call("PATCH", f"/objects/{obj}/{rid}", json=patch)

    def delete(self, obj: str, rid: str) -> None:
        self._call("DELETE", f"/objects/{obj}/{rid}")

    def queue_fault(
        self, kind: str, count: int = 1, method: str | None = None, path: str | None = None
    ) -> list[dict[str, Any]]:
        body = {"kind": kind, "count": count, "method": method, "path": path}
        return self._call("POST", "/faults", json=body)["queued"]

    def advance_clock(self, seconds: float) -> str:
        return self._call("POST", "/clock", json={"advance_seconds": seconds})["now"]

    def close(self) -> None:
        self._http.close()


@dataclass
class SandboxHandle:
    base_url: str
    state: SandboxState
    admin: AdminClient
    companies: list[SandboxState] = field(default_factory=list)
    """Every company's state, company 1 (`state`) first; one entry unless `companies` > 1."""
    _others: dict[int, SandboxHandle] = field(default_factory=dict, repr=False)

    def company(self, n: int) -> SandboxHandle:
        """Company `n` (1-based) as its own handle: its state, keys and admin API."""
        if not 1 <= n <= len(self.companies):
            raise ValueError(f"this sandbox serves companies 1..{len(self.companies)}, not {n}")
        if n == 1:
            return self
        if n not in self._others:
            admin = AdminClient(self.base_url, n)
            self._others[n] = SandboxHandle(self.base_url, self.companies[n - 1], admin)
        return self._others[n]

    def close(self) -> None:
        """Close the admin clients (company 1's and any `company(n)` made)."""
        for other in self._others.values():
            other.admin.close()
        self.admin.close()

    @property
    def settings(self) -> SandboxSettings:
        """The live settings (admin changes included)."""
        return self.state.settings

    @property
    def api_key(self) -> str:
        return self.state.settings.api_key

    @property
    def readonly_key(self) -> str:
        return self.state.settings.readonly_key

    @property
    def noaccess_key(self) -> str:
        return self.state.settings.noaccess_key

    @property
    def company_only_key(self) -> str:
        return self.state.settings.company_only_key

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        """An httpx client on the HCP side, authenticated like HCP wants (`Token <key>`)."""
        headers = {"Authorization": f"Token {key or self.api_key}", **kwargs.pop("headers", {})}
        return httpx.Client(base_url=self.base_url, headers=headers, **kwargs)


class PortInUse(Exception):
    """The sandbox's address cannot be bound (another sandbox, or another program, has it)."""


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here rather than by uvicorn: uvicorn logs a bind failure and
    exits its thread, which only showed as "did not start"; this says why, in one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortInUse(
            f"Cannot listen on {host}:{port} ({exc.strerror}): another hcp sandbox or another "
            "program has it. Stop that one, or pick another port with --port.",
        ) from None
    return sock


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the owner of the thread handles signals
        return None


@contextmanager
def run_sandbox(
    settings: SandboxSettings | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    dataset: Dataset | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[SandboxHandle]:
    """Serve a sandbox in a background thread for the duration of the `with` block."""
    settings = settings or SandboxSettings()
    app, states = create_app(settings, dataset)
    state = states[0]
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = _Server(config)
    sock = _bind(host, port)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="hcp-sandbox", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"sandbox did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()
    base_url = f"http://{host}:{bound[1]}"
    admin = AdminClient(base_url)
    handle = SandboxHandle(base_url=base_url, state=state, admin=admin, companies=states)
    try:
        yield handle
    finally:
        handle.close()
        for each in states:
            each.close()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve(
    settings: SandboxSettings | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    on_ready: Callable[[SandboxHandle], None] | None = None,
) -> None:
    """Serve until Ctrl-C or SIGTERM; `on_ready` gets the handle once the port is bound."""
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        with run_sandbox(settings, host=host, port=port) as handle:
            if on_ready is not None:
                on_ready(handle)
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                stop.set()
    finally:
        signal.signal(signal.SIGTERM, previous)
