"""The one HTTP client for Housecall Pro's public API (docs: https://docs.housecallpro.com/).

Every read and write of hcp-sync goes through `HCPClient`: auth, query encoding, paging over both
of HCP's envelopes, retries with backoff and jitter, a shared rate limiter that a 429 pauses and
slows for every thread (HCP counts per account), bounded concurrency, typed errors and counters. Get a key in HCP: App Store -> API Key Management ->
Generate API Key (MAX plan).

Must never: put the API key in a message, log line, repr or exception; retry a write whose
outcome is unknown (the push step reconciles those); fetch a page past the last one of an
honest listing, or end a listing whose row count disagrees with its `total_items` quietly
(a steady listing raises `IncompleteRead`; one whose `total_items` moved while it was paged is
reported in its `PagingLog`, and `helpers.py` reads it again).
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

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
    message_from_body,
)
from sources.housecallpro.ratelimit import TokenBucket
from sources.housecallpro.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENCY,
    DEFAULT_RATE_LIMIT,
    MAX_PAGE_SIZE,
)

USER_AGENT = "hcp-sync/0.1 (+https://github.com/hcp-sync/hcp-sync)"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_META_KEYS = frozenset(
    {
        "page",
        "page_size",
        "total_pages",
        "total_items",
        "total_pages_count",
        "total_count",
        "object",
        "url",
    }
)

log = logging.getLogger("hcp.client")


@dataclass(frozen=True)
class Exchange:
    """One HTTP attempt as observers see it (a retried request is several exchanges)."""

    method: str
    path: str
    status: int | None  # None: no answer (timeout, refused or dropped connection)
    message: str  # HCP's error text or the transport error, the key redacted; "" on success
    elapsed_s: float
    tag: Any = None  # what the caller said the request is for (the push: lead and kind)


ResponseObserver = Callable[[Exchange], None]


@dataclass
class ClientStats:
    """Counters for summaries and benchmarks; safe to update from many threads."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    bytes_received: int = 0
    pages: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "rate_limited": self.rate_limited,
                "server_errors": self.server_errors,
                "transport_errors": self.transport_errors,
                "bytes_received": self.bytes_received,
                "pages": self.pages,
            }


@dataclass(frozen=True)
class Page:
    """One page of a list endpoint, whatever envelope HCP used for it."""

    number: int
    total_pages: int
    total_items: int | None
    items: list[dict[str, Any]]


@dataclass
class PagingLog:
    """What one `iter_pages` call saw of its listing, for a caller that must know whether the
    listing moved under it (HCP pages by number, not by snapshot: HCP_API.md §5).

    `totals` holds each page's `total_items` in the order the pages were yielded (sequential:
    the order they were fetched). `complete` is set once the listing was read to its end.
    """

    concurrent: bool = False
    totals: list[int] = field(default_factory=list)
    complete: bool = False

    @property
    def first_total(self) -> int | None:
        return self.totals[0] if self.totals else None

    @property
    def totals_steady(self) -> bool:
        """No row can have shifted toward the front across a page boundary.

        Sequential pages: `total_items` never fell from one page to the next. In a newest-first
        listing every insertion (a create, or an edit under `updated_at`) lands at the front,
        ahead of every unread row, so between two fetches an unread row moves by
        insertions - deletions ahead of it >= insertions - deletions >= 0: it can only move
        back, into pages still to come. Concurrent pages are fetched in no known order, so a
        row may move back past a page fetched earlier: there every page must report the same
        `total_items` (and `helpers.py` checks the ids as well).
        """
        if self.concurrent:
            return len(set(self.totals)) <= 1
        return all(b >= a for a, b in zip(self.totals, self.totals[1:], strict=False))


@dataclass
class _Tally:
    """How far one listing's read has got, and the rules that say it is over.

    The served page size comes from page 1 (HCP's `page_size` field echoes what was asked, not
    what was served); `total_items` from the latest page, so rows created while paging are
    still read to the end.
    """

    served_size: int
    total_items: int | None
    total_pages: int
    rows: int
    last_number: int
    last_rows: int

    @classmethod
    def of_first(cls, page: Page, asked: int) -> _Tally:
        rows = len(page.items)
        more = page.total_items is not None and 0 < rows < page.total_items
        return cls(
            served_size=rows if more else asked,
            total_items=page.total_items,
            total_pages=page.total_pages,
            rows=rows,
            last_number=1,
            last_rows=rows,
        )

    def add(self, number: int, page: Page) -> None:
        self.rows += len(page.items)
        self.last_number, self.last_rows = number, len(page.items)
        if page.total_items is not None:
            self.total_items = page.total_items
        self.total_pages = page.total_pages

    @property
    def done(self) -> bool:
        if self.last_rows == 0:
            return True
        if self.total_items is None:  # no totals, so no served size either: the page count
            return self.last_number >= self.total_pages
        return self.last_rows < self.served_size or self.rows >= self.total_items

    @property
    def expected_pages(self) -> int:
        if self.total_items is None:
            return self.total_pages
        return math.ceil(self.total_items / self.served_size)

    def check(self, path: str, paging: PagingLog) -> None:
        """A finished read of a steady listing must have read exactly `total_items` rows.

        A steady listing read by an honest server always does (a sequential read of a growing
        one too: every page but the last is full, the last ends at the latest total), so a
        disagreement there is a truncated listing and raises. When `total_items` moved the
        other way, rows were deleted or pages fetched out of order while the listing changed:
        the count proves nothing, and the caller, seeing `paging.totals_steady` false, reads
        the listing again; that read is checked here in turn.
        """
        if self.total_items is None or self.rows == self.total_items:
            return
        if paging.totals_steady:
            raise IncompleteRead(path=path, rows=self.rows, total_items=self.total_items)
        log.warning(
            "%s changed while it was paged (total_items %s): read %d rows, count unchecked",
            path,
            sorted(set(paging.totals)),
            self.rows,
        )


def encode_query(params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> str:
    """HCP's query encoding: lists become repeated `name[]=v` with the brackets unencoded.

    A bare scalar for an array parameter is a 422 at HCP (HCP_API.md §2), so lists are always
    sent with brackets; `None` values are left out.
    """
    if not params:
        return ""
    items = params.items() if isinstance(params, Mapping) else params
    parts: list[str] = []
    for key, value in items:
        if value is None:
            continue
        if isinstance(value, list | tuple | set):
            name = key if key.endswith("[]") else f"{key}[]"
            parts += [f"{quote(name, safe='[]')}={quote(_scalar(v), safe='')}" for v in value]
        else:
            parts.append(f"{quote(key, safe='[]')}={quote(_scalar(value), safe='')}")
    return "&".join(parts)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_page(body: Any, envelope_key: str | None, requested_page: int) -> Page:
    """Read either envelope: standard (`total_pages`, `<key>`) or price book (`total_pages_count`, `data`).

    Endpoints without paging (`{object: "list", data, url}`, plain lists) are one page.
    """
    if isinstance(body, list):
        return Page(requested_page, 1, len(body), body)
    if not isinstance(body, dict):
        raise HCPError(f"unexpected response body of type {type(body).__name__}")
    key = envelope_key
    if key is None or key not in body:
        if "data" in body and isinstance(body["data"], list):
            key = "data"
        else:
            lists = [k for k, v in body.items() if isinstance(v, list) and k not in _META_KEYS]
            if envelope_key is not None and not lists:
                raise HCPError(f"response has no {envelope_key!r} list (keys: {sorted(body)})")
            key = lists[0] if lists else None
    items = body.get(key, []) if key else []
    total_pages = body.get("total_pages", body.get("total_pages_count"))
    total_items = body.get("total_items", body.get("total_count"))
    number = int(body.get("page") or requested_page)
    if total_pages is None:
        total_pages = number  # unpaged endpoint: this is the only page
    return Page(
        number, int(total_pages), None if total_items is None else int(total_items), items or []
    )


class HCPClient:
    """Synchronous HCP client over one keep-alive `httpx.Client`, safe to share between threads."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 30.0,
        rate_limit: float = DEFAULT_RATE_LIMIT,
        concurrency: int = DEFAULT_CONCURRENCY,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        retry_after_cap: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        transport: httpx.BaseTransport | None = None,
        auth_scheme: str = "Token",
        observers: Iterable[ResponseObserver] = (),
        account: str = "default",
    ) -> None:
        if not api_key:
            raise ValueError("an HCP API key is required")
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.account = account
        """The account's name, for messages that must say which key to fix."""
        self.concurrency = max(1, int(concurrency))
        self.max_retries = max(0, int(max_retries))
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retry_after_cap = retry_after_cap
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rng = rng
        # copy-on-write: senders iterate a snapshot while a caller adds or removes an observer
        self._observers: tuple[ResponseObserver, ...] = tuple(observers)
        self._observers_lock = threading.Lock()
        self.stats = ClientStats()
        self.limiter = TokenBucket(rate_limit, clock=clock, sleep=sleep)
        self._inflight = threading.BoundedSemaphore(self.concurrency)
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": f"{auth_scheme} {api_key}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(
                max_connections=self.concurrency * 2, max_keepalive_connections=self.concurrency * 2
            ),
            transport=transport,
        )

    @classmethod
    def from_account(cls, account: Any, **kwargs: Any) -> HCPClient:
        """Build from a `pipelines.config.Account` (key, base URL, rate limit, concurrency)."""
        kwargs.setdefault("rate_limit", account.rate_limit)
        kwargs.setdefault("concurrency", account.concurrency)
        kwargs.setdefault("account", account.name)
        return cls(account.api_key, account.base_url, **kwargs)

    def __repr__(self) -> str:
        return f"HCPClient(base_url={self.base_url!r}, api_key=***)"

    def __enter__(self) -> HCPClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @contextlib.contextmanager
    def observing(self, observer: ResponseObserver) -> Iterator[None]:
        """Call `observer` with every `Exchange` made during the block, from any thread.

        Counting (the sync), recording attempts (the push) and progress each add their own
        observer; none replaces another's.
        """
        with self._observers_lock:
            self._observers = (*self._observers, observer)
        try:
            yield
        finally:
            with self._observers_lock:
                kept = list(self._observers)
                kept.remove(observer)
                self._observers = tuple(kept)

    # ------------------------------------------------------------------ requests

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, tag: Any = None) -> Any:
        return self.request("GET", path, params=params, tag=tag).json()

    def post(
        self,
        path: str,
        json: Any,
        *,
        params: Mapping[str, Any] | None = None,
        retry_on_status: bool = True,
        tag: Any = None,
    ) -> Any:
        """POST; 429/5xx are retried (HCP created nothing), an unknown outcome raises at once."""
        return _json_or_none(
            self.request(
                "POST", path, params=params, json=json, retry_on_status=retry_on_status, tag=tag
            )
        )

    def put(self, path: str, json: Any, *, tag: Any = None) -> Any:
        return _json_or_none(self.request("PUT", path, json=json, tag=tag))

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        retry_on_status: bool = True,
        tag: Any = None,
    ) -> httpx.Response:
        """Send one logical request, retrying what is safe to retry; raise a typed `HCPError`.

        `tag` is handed to the observers with each of its exchanges (who the request is for).
        """
        method = method.upper()
        query = encode_query(params)
        url = f"{path}?{query}" if query else path
        attempt = 0
        while True:
            self.limiter.acquire()
            started = self._clock()
            try:
                with self._inflight:
                    self.stats.add(requests=1)
                    response = self._http.request(method, url, json=json)
            except httpx.TransportError as exc:
                elapsed = self._clock() - started
                self.stats.add(transport_errors=1)
                sent = not isinstance(
                    exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
                )
                reason = _describe_transport_error(exc)
                self._notify(Exchange(method, path, None, reason, elapsed, tag))
                if sent and method not in IDEMPOTENT_METHODS:
                    raise TransportError(
                        f"{reason}; HCP may or may not have processed it",
                        outcome_unknown=True,
                        method=method,
                        path=path,
                    ) from None
                if attempt < self.max_retries:
                    attempt = self._pause(attempt, method, path, reason)
                    continue
                raise TransportError(
                    f"{reason} (gave up after {attempt + 1} attempts)",
                    outcome_unknown=False,
                    method=method,
                    path=path,
                ) from None
            elapsed = self._clock() - started
            self.stats.add(bytes_received=len(response.content))
            status = response.status_code
            if status < 400:
                self.limiter.passed()
                self._notify(Exchange(method, path, status, "", elapsed, tag))
                return response
            body = _safe_json(response)
            message, field_name = message_from_body(body)
            message = self._redact(message or response.reason_phrase or f"HTTP {status}")
            self._notify(Exchange(method, path, status, message, elapsed, tag))
            if status == 429:
                self.stats.add(rate_limited=1)
                wait = self._retry_after(response)
                # HCP counts per account: the pause and the slower pace hold every thread
                pause = wait if wait is not None else self.backoff_delay(attempt)
                self.limiter.throttle(pause, sent_at=started)
                if attempt < self.max_retries:
                    self.stats.add(retries=1)
                    attempt += 1
                    log.info(
                        "%s %s: 429 Too Many Requests; every thread paused %.1fs, pace now %.2f/s; "
                        "retry %d",
                        method,
                        path,
                        pause,
                        self.limiter.rate,
                        attempt,
                    )
                    continue
                raise RateLimited(message, retry_after=wait, status=429, method=method, path=path)
            self.limiter.passed()
            if status >= 500:
                self.stats.add(server_errors=1)
                if retry_on_status and attempt < self.max_retries:
                    attempt = self._pause(attempt, method, path, f"HTTP {status}")
                    continue
                raise ServerError(message, status=status, method=method, path=path)
            raise _client_error(status, message, field_name, method, path)

    # ------------------------------------------------------------------ paging

    def get_page(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        page: int = 1,
        page_size: int = MAX_PAGE_SIZE,
        envelope_key: str | None = None,
        page_size_param: str = "page_size",
        tag: Any = None,
    ) -> Page:
        query = dict(params or {})
        # HCP answers a page_size over its cap with 400 "Size must be less than or equal to 200"
        query.update({"page": page, page_size_param: min(page_size, MAX_PAGE_SIZE)})
        parsed = parse_page(self.get(path, query, tag=tag), envelope_key, page)
        self.stats.add(pages=1)
        return parsed

    def iter_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        page_size: int = MAX_PAGE_SIZE,
        envelope_key: str | None = None,
        page_size_param: str = "page_size",
        concurrent: bool = False,
        tag: Any = None,
        paging: PagingLog | None = None,
    ) -> Iterator[Page]:
        """Pages in order until the listing is exhausted, then checked against `total_items`.

        `total_pages` is not trusted alone: a live account counted it against a page size larger
        than the one it served, and honouring it dropped months of invoices (HCP_API.md §2). So
        paging ends when a page has no rows, or fewer rows than the server serves per page (page
        1 tells: a short first page while `total_items` says there is more *is* the served size),
        or when the rows read reach `total_items`; a listing without totals is one page. An
        honest server costs the API minimum, ceil(total_items / page size) requests, and a
        consumer that stops early (an incremental read reaching its cursor) stops the requests.

        Sequential by default. With `concurrent=True` pages 2..N (N from `total_items` and the
        served page size) are fetched by up to `concurrency` threads, yielded in order with a
        bounded window so memory stays flat, then sequentially while rows are still missing.
        A read that ends with more or fewer rows than `total_items` raises `IncompleteRead`,
        unless `total_items` moved while paging (see `_Tally.check`). `paging`, when given,
        records each page's `total_items`, whether the pages were concurrent and whether the
        listing was read to its end, so the caller can tell a steady listing from a moving one.
        """
        paging = paging if paging is not None else PagingLog()
        page_size = min(page_size, MAX_PAGE_SIZE)
        kwargs = {
            "page_size": page_size,
            "envelope_key": envelope_key,
            "page_size_param": page_size_param,
            "tag": tag,
        }
        first = self.get_page(path, params, page=1, **kwargs)
        tally = _Tally.of_first(first, page_size)
        _note_total(paging, first)
        if tally.served_size != page_size:
            log.warning(
                "%s serves %d rows per page, not the %d asked; paging by %d",
                path,
                tally.served_size,
                page_size,
                tally.served_size,
            )
        yield first
        if concurrent and self.concurrency > 1 and not tally.done:
            paging.concurrent = True
            numbers = range(2, tally.expected_pages + 1)
            with contextlib.closing(
                self._fetch_concurrently(path, params, numbers, kwargs)
            ) as pages:
                for number, page in zip(numbers, pages, strict=True):
                    tally.add(number, page)
                    _note_total(paging, page)
                    yield page
        while not tally.done:
            number = tally.last_number + 1
            page = self.get_page(path, params, page=number, **kwargs)
            tally.add(number, page)
            _note_total(paging, page)
            yield page
        tally.check(path, paging)
        paging.complete = True

    def _fetch_concurrently(
        self, path: str, params: Mapping[str, Any] | None, numbers: range, kwargs: dict[str, Any]
    ) -> Iterator[Page]:
        window = self.concurrency * 2
        pending: deque[Future[Page]] = deque()
        todo = iter(numbers)
        with ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix="hcp-page"
        ) as pool:
            try:
                for number in todo:
                    pending.append(pool.submit(self.get_page, path, params, page=number, **kwargs))
                    if len(pending) >= window:
                        break
                while pending:
                    page = pending.popleft().result()
                    nxt = next(todo, None)
                    if nxt is not None:
                        pending.append(pool.submit(self.get_page, path, params, page=nxt, **kwargs))
                    yield page
            finally:
                for future in pending:
                    future.cancel()

    def iter_items(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        page_size: int = MAX_PAGE_SIZE,
        envelope_key: str | None = None,
        page_size_param: str = "page_size",
        concurrent: bool = False,
        tag: Any = None,
    ) -> Iterator[dict[str, Any]]:
        for page in self.iter_pages(
            path,
            params,
            page_size=page_size,
            envelope_key=envelope_key,
            page_size_param=page_size_param,
            concurrent=concurrent,
            tag=tag,
        ):
            yield from page.items

    # ------------------------------------------------------------------ internals

    def backoff_delay(self, attempt: int) -> float:
        """Exponential backoff with equal jitter: half fixed, half random, capped."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2**attempt))
        return ceiling / 2 + self._rng() * ceiling / 2

    def _pause(self, attempt: int, method: str, path: str, reason: str) -> int:
        """This thread waits out a 5xx or transport error (a 429 pauses the limiter instead)."""
        delay = self.backoff_delay(attempt)
        self.stats.add(retries=1)
        log.info("%s %s: %s; retry %d in %.1fs", method, path, reason, attempt + 1, delay)
        self._sleep(delay)
        return attempt + 1

    def _retry_after(self, response: httpx.Response) -> float | None:
        """Seconds to wait from `Retry-After` (seconds or HTTP-date) or `RateLimit-Reset`, capped;
        None when HCP said neither (the caller backs off on its own)."""
        wait: float | None = None
        header = response.headers.get("Retry-After")
        if header:
            header = header.strip()
            try:
                wait = float(header)
            except ValueError:
                try:
                    when = email.utils.parsedate_to_datetime(header)
                    wait = when.timestamp() - self._wall_clock()
                except (TypeError, ValueError, IndexError):
                    wait = None
        if wait is None:
            reset = response.headers.get("RateLimit-Reset") or response.headers.get(
                "X-RateLimit-Reset"
            )
            if reset:
                try:
                    value = float(reset)
                    # An epoch timestamp (HCP_API.md §2) or, per the IETF draft, seconds from now.
                    wait = value - self._wall_clock() if value > 1_000_000_000 else value
                except ValueError:
                    wait = None
        if wait is None:
            return None
        return max(0.0, min(wait, self.retry_after_cap))

    def _notify(self, exchange: Exchange) -> None:
        for observer in self._observers:
            observer(exchange)

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key in text else text


def _note_total(paging: PagingLog, page: Page) -> None:
    if page.total_items is not None:
        paging.totals.append(page.total_items)


def _client_error(
    status: int, message: str, field_name: str | None, method: str, path: str
) -> HCPError:
    kw = {"status": status, "method": method, "path": path}
    if status == 401:
        return AuthError(message or "Invalid API token", **kw)
    if status == 403:
        return PermissionDenied(message or "Permission denied", **kw)
    if status == 404:
        return NotFound(message, **kw)
    if status in (400, 409, 422):
        if "duplicate" in message.lower():
            return DuplicateCustomer(message, field=field_name or "email", **kw)
        return ValidationError(message, field=field_name, **kw)
    return HCPError(message, **kw)


def _describe_transport_error(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or unreachable"
    return f"connection dropped ({type(exc).__name__})"


def _safe_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _json_or_none(response: httpx.Response) -> Any:
    return _safe_json(response) if response.content else None
