"""The one HTTP client of the suite: budget, rate limit, retries, the read-only guard and the
record of every exchange in the trace of the test that made it; `_wire` sends each request
within its deadline."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlencode, urlsplit

from conformance._client import raw as raw_wire
from conformance._client import wire
from conformance._client.raw import Raw
from conformance._client.wire import Pools
from conformance._core import trace
from conformance._core.errors import TargetUnavailable
from conformance._core.exchange import Exchange, Masker

BUDGET_USED_UP = "the request budget (--max-requests) is used up"
Params = Sequence[tuple[str, str]] | Mapping[str, str] | None
#: Says why a request must not be sent (method, path relative to the target), or None.
Guard = Callable[[str, str], str | None]
T = TypeVar("T")
#: Set in threads that run requests for a hypothesis example (`lend`).
_lent: ContextVar[bool] = ContextVar("dcs_lent", default=False)


@dataclass(frozen=True)
class Limits:
    """How hard the suite may push a target, and how long it waits."""

    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    deadline: float = 15.0  # total per request, headers and body included
    max_body_bytes: int = 4 * 1024 * 1024
    max_requests: int | None = None  # budget for the whole run (per worker under xdist)
    rate_limit: float | None = None  # requests per second (per worker under xdist)
    max_retries: int = 2
    max_retry_wait: float = 5.0


class BudgetExhausted(Exception):
    """The run's request budget is used up; remaining tests are skipped, not judged."""


class WriteRefused(Exception):
    """A request the suite must never send (a declared write): it was not sent."""


class Transport:
    """Sends requests to one target, each within a total deadline, and records them in the
    trace of the test that sends them (`_trace`). Safe to share between threads: the budget
    and the rate limit are kept under one lock."""

    def __init__(
        self,
        base_url: str,
        *,
        limits: Limits | None = None,
        masker: Masker,
        guard: Guard | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.limits = limits or Limits()
        self.masker = masker
        self.guard = guard
        self.sent = 0
        self.retried = 0
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._pools = Pools()

    @property
    def budget_used_up(self) -> bool:
        return self.limits.max_requests is not None and self.sent >= self.limits.max_requests

    def drain(self) -> list[Exchange]:
        """The exchanges of the current test so far (its trace then starts afresh)."""
        return trace.take().exchanges

    def one_connection(self) -> AbstractContextManager[None]:
        """The requests of this context in the `with` body go over one connection of their
        own, kept alive between them (the budget and the rate limit still count them)."""
        return self._pools.one_connection()

    def close(self) -> None:
        self._pools.close()

    def url(self, path_or_url: str, params: Params = None) -> str:
        """The full URL of a path (or of a URL on this target) with the query appended."""
        if "://" in path_or_url:
            if not path_or_url.startswith(f"{self.base_url}/"):
                raise ValueError(f"{path_or_url} is not on the target {self.base_url}")
            url = path_or_url
        else:
            url = f"{self.base_url}{path_or_url}"
        query = urlencode(list(params.items()) if isinstance(params, Mapping) else params or [])
        return url + (f"{'&' if '?' in url else '?'}{query}" if query else "")

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Params = None,
        headers: Mapping[str, str] | None = None,
        raw: Raw | None = None,
        fresh: bool = False,
    ) -> Exchange:
        """Send one request, retrying what the API marks retryable within the limits.

        `raw`: written byte for byte on a connection of its own (`_client.raw`: HTTP/1.0,
        absolute-form, values as given, a HEAD's body seen); `fresh`: on a new connection
        of the pooled client, closed after it. Header names that differ only in letter case
        go as separate field lines (a repeated field). Raises `WriteRefused`, sending nothing,
        when the guard forbids the request, and `wire.Unsendable` when the pooled client cannot
        write it."""
        url = self.url(path_or_url, params)
        if self.guard is not None:
            path = urlsplit(url).path.removeprefix(urlsplit(self.base_url).path) or "/"
            written = raw.line.split(" ", 1)[0] if raw is not None and raw.line else method
            for sent in dict.fromkeys((method, written)):  # a request-line of its own too
                reason = self.guard(sent, path)
                if reason:
                    raise WriteRefused(f"{sent} {path} not sent: {reason}")
        headers = dict(headers or {})
        identity = (method, url, sorted(headers.items()), raw, fresh)
        record = trace.current()
        if record.stalled is not None:
            if record.stalled[0] == identity:
                return record.stalled[1]  # it stalled already in this test: not sent again
            _not_against_a_stalled_target()
        retries = 0
        retried: list[Exchange] = []
        while True:
            exchange = self._send(method, url, headers, raw, fresh)
            exchange.retries = retries
            exchange.retried = tuple(retried)
            wait = self._retry_wait(exchange)
            if wait is None or retries >= self.limits.max_retries:
                break
            retries += 1
            retried.append(exchange)
            with self._lock:
                self.retried += 1
            time.sleep(wait)
        if exchange.stalled:
            record.stalled = (identity, exchange)
        record.exchanges.append(exchange)
        return exchange

    def _send(
        self, method: str, url: str, headers: dict[str, str], raw: Raw | None, fresh: bool
    ) -> Exchange:
        self._take_slot()
        if raw is not None and (raw.then_get or raw.follow or raw.then_query):
            self._take_slot()  # the follow-up GET is a request too
        limits = self.limits
        sent_at = time.time()
        connect, read, deadline = limits.connect_timeout, limits.read_timeout, limits.deadline
        cap = limits.max_body_bytes
        start = time.perf_counter()
        try:
            if raw is not None:
                answer = raw_wire.exchange(
                    method, url, list(headers.items()), raw, connect_timeout=connect,
                    read_timeout=read, deadline=deadline, max_body_bytes=cap,
                )  # fmt: skip
            else:
                with self._pools.fresh() if fresh else nullcontext(self._pools.current()) as pool:
                    answer = wire.exchange(
                        pool, method, url, headers, connect_timeout=connect,
                        read_timeout=read, deadline=deadline, max_body_bytes=cap,
                    )  # fmt: skip
        except (wire.Unsendable, TargetUnavailable) as exc:  # their text may quote a value
            raise type(exc)(self.masker.error(exc)) from None
        connection = [v for k, v in headers.items() if k.lower() == "connection"]
        asked_close = any("close" in (t.strip().lower() for t in v.split(",")) for v in connection)
        if raw is not None and not connection:
            asked_close = not (raw.then_get or raw.then_query or raw.watch_close)
        return Exchange(
            method=method,
            url=url,
            request_headers=headers,
            status=answer.status,
            headers=answer.headers or {},
            body=answer.body,
            elapsed=time.perf_counter() - start,
            error=self.masker.text(answer.error),
            stalled=answer.stalled,
            streamed=answer.streamed,
            coded=answer.coded,
            http_version=raw.version if raw is not None else "1.1",
            absolute_form=raw is not None and raw.absolute_form,
            raw=raw is not None,
            then_get=raw is not None and raw.then_get,
            fresh=fresh and raw is None,
            flaw=raw.flaw if raw is not None else "",
            closed=answer.closed,
            answered_after=answer.answered_after,
            asked_close=asked_close,
            masker=self.masker,
            started=sent_at,
            left_open=answer.left_open,
            interim=answer.interim,
        )

    def _take_slot(self) -> None:
        with self._lock:
            limit = self.limits.max_requests
            if limit is not None and self.sent >= limit:
                raise BudgetExhausted(BUDGET_USED_UP)
            self.sent += 1
            if self.limits.rate_limit:
                now = time.monotonic()
                slot = max(now, self._next_slot)
                self._next_slot = slot + 1.0 / self.limits.rate_limit
                delay = slot - now
            else:
                delay = 0.0
        if delay > 0:
            time.sleep(delay)

    def _retry_wait(self, exchange: Exchange) -> float | None:
        """Seconds to wait before retrying, or None when the answer is final: the body's
        `retry_after_ms`, else the `Retry-After` header, else 1 s (429) or 0.5 s."""
        if exchange.error or not exchange.unavailable:
            return None
        default = 1.0 if exchange.status == 429 else 0.5
        wait = _seconds(exchange.headers.get("retry-after"), default=default)
        ok, body = exchange.parsed
        if ok and isinstance(body, dict) and type(body.get("retry_after_ms")) is int:
            wait = body["retry_after_ms"] / 1000
        return min(max(wait, 0.0), self.limits.max_retry_wait)


def in_generated_test() -> bool:
    """Whether this runs inside a hypothesis example (or a thread one started: `lend`)."""
    from hypothesis.control import currently_in_test_context

    return currently_in_test_context() or _lent.get()


def lend(call: Callable[[], T]) -> Callable[[], T]:
    """`call`, to run in another thread on behalf of the current hypothesis example."""
    inside = in_generated_test()

    def run() -> T:
        token = _lent.set(inside)
        try:
            return call()
        finally:
            _lent.reset(token)

    return run


def _not_against_a_stalled_target() -> None:
    """A request of this test already stalled: under hypothesis, skip this example.

    The test has failed; shrinking it would wait out the deadline once per attempt (minutes).
    Rejected attempts leave the failing example as it was; hypothesis's final replay makes
    the stalled request again and gets its recorded exchange: real evidence, no second wait.
    """
    from hypothesis.control import reject

    if in_generated_test():
        reject()


def _seconds(value: str | None, *, default: float) -> float:
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        return default
    return seconds if math.isfinite(seconds) else default
