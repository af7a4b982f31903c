"""The one HTTP client of the suite: deadlines, size cap, budget, rate limit, retries, and the
read-only guard. It makes `Exchange` records (`_exchange`); nothing else imports httpx."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import anyio
import httpx
from anyio.from_thread import start_blocking_portal

from conformance._errors import TargetUnavailable
from conformance._exchange import Exchange, Masker

OVERSIZE_EVIDENCE_BYTES = 64 * 1024  # of a body over the cap, what an exchange keeps
BUDGET_USED_UP = "the request budget (--max-requests) is used up"
#: Media types of streams: their status and headers are judged, the stream itself is not read.
STREAM_MEDIA_TYPES = frozenset({"text/event-stream"})
Params = Sequence[tuple[str, str]] | Mapping[str, str] | None
#: Says why a request must not be sent (method, path relative to the target), or None.
Guard = Callable[[str, str], str | None]


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
    """Sends requests to one target with a total deadline per request and records them."""

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
        self.history: list[Exchange] = []
        self._stalled: tuple[tuple[Any, ...], Exchange] | None = None  # in the current test
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._stack = ExitStack()
        self._portal = self._stack.enter_context(start_blocking_portal())
        self._client = self._portal.call(self._make_client)

    @property
    def budget_used_up(self) -> bool:
        return self.limits.max_requests is not None and self.sent >= self.limits.max_requests

    def drain(self) -> list[Exchange]:
        """The exchanges recorded since the last drain (the history is then emptied)."""
        with self._lock:
            drained, self.history = self.history, []
            self._stalled = None  # drained once per test: a new test starts afresh
        return drained

    async def _make_client(self) -> httpx.AsyncClient:
        timeout = httpx.Timeout(
            self.limits.read_timeout, connect=self.limits.connect_timeout, pool=None
        )
        return httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False)

    def close(self) -> None:
        self._portal.call(self._client.aclose)
        self._stack.close()

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
    ) -> Exchange:
        """Send one request, retrying what the API marks retryable within the limits.

        Raises `WriteRefused`, sending nothing, when the guard forbids the request."""
        url = self.url(path_or_url, params)
        if self.guard is not None:
            path = urlsplit(url).path.removeprefix(urlsplit(self.base_url).path) or "/"
            reason = self.guard(method, path)
            if reason:
                raise WriteRefused(f"{method} {path} not sent: {reason}")
        headers = dict(headers or {})
        identity = (method, url, sorted(headers.items()))
        if self._stalled is not None:
            if self._stalled[0] == identity:
                return self._stalled[1]  # it stalled already in this test: not sent again
            _not_against_a_stalled_target()
        retries = 0
        while True:
            exchange = self._send(method, url, headers)
            exchange.retries = retries
            wait = self._retry_wait(exchange)
            if wait is None or retries >= self.limits.max_retries:
                break
            retries += 1
            self.retried += 1
            time.sleep(wait)
        if exchange.stalled:
            self._stalled = (identity, exchange)
        self.history.append(exchange)
        return exchange

    def _send(self, method: str, url: str, headers: dict[str, str]) -> Exchange:
        self._take_slot()
        return self._portal.call(self._send_async, method, url, headers)

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

    async def _send_async(self, method: str, url: str, headers: dict[str, str]) -> Exchange:
        start = time.perf_counter()
        status: int | None = None
        response_headers: dict[str, str] = {}
        body = bytearray()
        error = ""
        stalled = streamed = False
        try:
            with anyio.fail_after(self.limits.deadline):
                async with self._client.stream(
                    method, url, headers=_wire_headers(headers), extensions=_exact_target(url)
                ) as response:
                    status = response.status_code
                    response_headers = {k.lower(): v for k, v in response.headers.items()}
                    media = response_headers.get("content-type", "").split(";")[0].strip()
                    streamed = status == 101 or media.lower() in STREAM_MEDIA_TYPES
                    if not streamed:
                        error = await self._read_body(response, body)
        except TimeoutError:
            error = f"no complete response within the {self.limits.deadline:g} s deadline"
            stalled = True
        except httpx.ConnectError as exc:
            raise TargetUnavailable(f"cannot connect to {self.base_url} ({_reason(exc)})") from exc
        except httpx.ConnectTimeout as exc:
            raise TargetUnavailable(f"connecting to {self.base_url} timed out") from exc
        except httpx.TimeoutException:
            error = f"no data for {self.limits.read_timeout:g} s (read timeout)"
            stalled = True
        except httpx.DecodingError as exc:
            encoding = response_headers.get("content-encoding", "?")
            error = f"broken response: the body is not {encoding} as labelled ({_reason(exc)})"
        except httpx.HTTPError as exc:
            error = f"broken response: {_reason(exc)}"
        return Exchange(
            method=method,
            url=url,
            request_headers=headers,
            status=status,
            headers=response_headers,
            body=bytes(body),
            elapsed=time.perf_counter() - start,
            error=error,
            stalled=stalled,
            streamed=streamed,
            masker=self.masker,
        )

    async def _read_body(self, response: httpx.Response, body: bytearray) -> str:
        """Read the body into `body` up to the size cap; the error if it is over."""
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self.limits.max_body_bytes:
                del body[OVERSIZE_EVIDENCE_BYTES:]  # not 4 MiB kept per request
                return f"body exceeds {self.limits.max_body_bytes} bytes; stopped reading"
        return ""

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


def _wire_headers(headers: Mapping[str, str]) -> dict[str, str | bytes]:
    """Header values as sent: ASCII as is, anything else as its UTF-8 bytes (a probe)."""
    return {k: v if v.isascii() else v.encode("utf-8") for k, v in headers.items()}


def _exact_target(url: str) -> dict[str, Any]:
    """The request-target exactly as the URL spells it: httpx would otherwise normalise dot
    segments away, and a probe of `/v1/./usage` must reach the server as written."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return {"target": target.encode("ascii")} if target.isascii() else {}


def _not_against_a_stalled_target() -> None:
    """A request of this test already stalled: under hypothesis, skip this example.

    The test has failed; shrinking it would wait out the deadline once per attempt (minutes).
    Rejected attempts leave the failing example as it was; hypothesis's final replay makes
    the stalled request again and gets its recorded exchange: real evidence, no second wait.
    """
    from hypothesis.control import currently_in_test_context, reject

    if currently_in_test_context():
        reject()


def _seconds(value: str | None, *, default: float) -> float:
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        return default
    return seconds if math.isfinite(seconds) else default


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
