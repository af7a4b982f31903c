"""Variants in the HTTP layer: ASGI acts (on ``_layers.WireLayer``) that change how the
mock's correct answers travel, never what they say.

``layer(act)`` returns an ``apply(app) -> app`` that runs ``act`` for every HTTP request.
The server keeps the mock's own HTTP protocol unless ``protocol`` (or a layer below) names
another: the variants that write to the connection themselves need ``WireProtocol``, which
exposes the transport. Every act is bounded in time (``WireLayer``'s limit, and its own).
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import math
import struct
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conformance.mock import _layers as layers
from conformance.mock import _replies as replies
from conformance.mock._app import USAGE_PATH
from conformance.mock._http.protocol import MockHttpToolsProtocol
from conformance.mock._layers import Apply

Headers = list[tuple[bytes, bytes]]
JSON_TYPES = frozenset({replies.JSON.encode(), replies.PROBLEM_JSON.encode()})
CLOSE_WAIT = 2.0  # seconds an act waits for the connection it closed to be gone
BODYLESS = frozenset({204, 304})  # no Content-Length on these (RFC 9110 8.6)


def everything(scope: Scope) -> bool:
    return True


def layer(act: layers.Act, protocol: type[asyncio.Protocol] | None = None) -> Apply:
    """``act`` on every HTTP request, served with ``protocol``, the protocol of the app
    below, or the mock's own (in that order)."""

    def apply(app: ASGIApp) -> ASGIApp:
        chosen = protocol or getattr(app, "http_protocol", None) or MockHttpToolsProtocol
        return layers.WireLayer(app, everything, act, chosen)

    return apply


def stateful(
    make_act: Callable[[], layers.Act], protocol: type[asyncio.Protocol] | None = None
) -> Apply:
    """Like ``layer``, with a fresh act (and so fresh state) for each app it is applied to."""
    return lambda app: layer(make_act(), protocol)(app)


# --- headers --------------------------------------------------------------------------


def header(headers: Headers, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case), or None."""
    return next((v for n, v in headers if n.lower() == name), None)


def without(headers: Headers, *names: bytes) -> Headers:
    return [(n, v) for n, v in headers if n.lower() not in names]


def media_type(headers: Headers) -> bytes:
    return (header(headers, b"content-type") or b"").split(b";")[0].strip().lower()


def _start(message: Message, headers: Headers, status: int | None = None) -> Message:
    return {**message, "status": status or message["status"], "headers": headers}


def on_start(edit: Callable[[Scope, int, Headers], Headers]) -> layers.Act:
    """The answer unchanged but for its header fields: ``edit(scope, status, headers)``."""

    async def act(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        async def edited(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                message = _start(message, edit(scope, message["status"], headers))
            await send(message)

        await app(scope, receive, edited)

    return act


def rewritten(edit: Callable[[Scope, Headers, bytes], tuple[Headers, bytes]]) -> layers.Act:
    """The whole answer, its headers and body through ``edit``; Content-Length made right."""

    async def act(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        start, body = await layers.answer(app, scope, receive)
        headers, body = edit(scope, list(start.get("headers", [])), body)
        headers = without(headers, b"content-length")
        if start["status"] not in BODYLESS:
            headers.append((b"content-length", b"%d" % len(body)))
        await send(_start(start, headers))
        await send(layers.body_message(body, False))

    return act


# --- media types, JSON text, extra header fields ------------------------------------


def charset_param(scope: Scope, status: int, headers: Headers) -> Headers:
    """``; charset=utf-8`` after every JSON media type."""
    if media_type(headers) not in JSON_TYPES:
        return headers
    kept = without(headers, b"content-type")
    return [*kept, (b"content-type", media_type(headers) + b"; charset=utf-8")]


def reversed_keys(value: Any) -> Any:
    """Every object's members in reverse order, recursively."""
    if isinstance(value, dict):
        return {k: reversed_keys(v) for k, v in reversed(value.items())}
    if isinstance(value, list):
        return [reversed_keys(v) for v in value]
    return value


def _json_body(headers: Headers, body: bytes) -> Any:
    if media_type(headers) not in JSON_TYPES or not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def pretty_reordered(scope: Scope, headers: Headers, body: bytes) -> tuple[Headers, bytes]:
    """Members in reverse order, two-space indentation, a newline at the end."""
    document = _json_body(headers, body)
    if document is None:
        return headers, body
    return headers, (json.dumps(reversed_keys(document), indent=2) + "\n").encode()


def escaped(value: Any) -> str:
    """JSON text where every character of every string is a ``\\uXXXX`` escape (upper-case hex,
    UTF-16 surrogate pairs beyond the BMP), members separated by ``, `` and ``: ``."""
    if isinstance(value, str):
        units = struct.unpack(f">{len(value.encode('utf-16-be')) // 2}H", value.encode("utf-16-be"))
        return '"' + "".join(f"\\u{unit:04X}" for unit in units) + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{escaped(k)}: {escaped(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(escaped(v) for v in value) + "]"
    return json.dumps(value)


def strings_escaped(scope: Scope, headers: Headers, body: bytes) -> tuple[Headers, bytes]:
    document = _json_body(headers, body)
    return headers, body if document is None else escaped(document).encode("ascii")


SERVER = b"dcs-gateway/2.3"
VARY = b"Authorization, X-Api-Key, X-Dedalus-Org-Id"
BEARER_CHALLENGE = b'Bearer realm="dcs"'


def standard_headers(scope: Scope, status: int, headers: Headers) -> Headers:
    """A fresh X-Request-Id, no-store caching, HSTS, Vary, Server; on a 401, its own challenge
    in place of the mock's (no error code). (Date comes with every answer already: uvicorn
    adds it.)"""
    extra = [
        (b"x-request-id", uuid.uuid4().hex.encode()),
        (b"cache-control", b"no-store"),
        (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
        (b"vary", VARY),
        (b"server", SERVER),
    ]
    if status == 401:
        headers = without(headers, b"www-authenticate")
        extra.append((b"www-authenticate", BEARER_CHALLENGE))
    return [*headers, *extra]


#: The one site a deployment opens its API to with credentials: its own console.
CONSOLE_ORIGIN = b"https://console.dcs.example"


def console_cors(scope: Scope, status: int, headers: Headers) -> Headers:
    """CORS with credentials for the console's origin only, whatever the request's Origin
    (a static configuration: a browser compares it with the page's origin)."""
    return [
        *headers,
        (b"access-control-allow-origin", CONSOLE_ORIGIN),
        (b"access-control-allow-credentials", b"true"),
        (b"vary", b"Origin"),
    ]


def date_header() -> tuple[bytes, bytes]:
    """An IMF-fixdate ``Date`` field for answers written past uvicorn (RFC 9110 6.6.1)."""
    return b"date", formatdate(usegmt=True).encode("ascii")


def connection_close(scope: Scope, status: int, headers: Headers) -> Headers:
    return [*without(headers, b"connection"), (b"connection", b"close")]


def title_case(scope: Scope, status: int, headers: Headers) -> Headers:
    """Header names as ``Content-Type``, ``Content-Length`` (h11 keeps the case it is given)."""
    return [(b"-".join(p.capitalize() for p in n.split(b"-")), v) for n, v in headers]


# --- content coding -----------------------------------------------------------------


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding value lets the server use gzip (RFC 9110 12.5.3): gzip (or
    x-gzip) with q > 0, or ``*`` with q > 0 when gzip is not named."""
    named: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        if not coding:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        named[coding.lower()] = q if math.isfinite(q) else 0.0
    for coding in ("gzip", "x-gzip"):
        if coding in named:
            return named[coding] > 0
    return named.get("*", 0.0) > 0


def gzipped(scope: Scope, headers: Headers, body: bytes) -> tuple[Headers, bytes]:
    """A non-empty body gzip-coded when the request accepts it, with ``Vary: Accept-Encoding``."""
    request = dict(scope.get("headers", []))
    accept = request.get(b"accept-encoding", b"").decode("latin-1")
    if not body or header(headers, b"content-encoding") or not accepts_gzip(accept):
        return headers, body
    vary = header(headers, b"vary")
    vary = b"Accept-Encoding" if vary is None else vary + b", Accept-Encoding"
    headers = [*without(headers, b"vary"), (b"content-encoding", b"gzip"), (b"vary", vary)]
    return headers, gzip.compress(body, compresslevel=6, mtime=0)


# --- framing ------------------------------------------------------------------------


async def chunked(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """The answer to an HTTP/1.1 request without Content-Length, its body in pieces: the
    server frames it ``Transfer-Encoding: chunked``. HTTP/1.0 defines no chunked coding: an
    answer to an HTTP/1.0 request keeps its Content-Length (RFC 9112 6.1)."""
    if scope.get("http_version") == "1.0":
        await app(scope, receive, send)
    else:
        await layers.streamed(app, scope, receive, send)


async def _request_read(scope: Scope, receive: Receive) -> None:
    """Read the request's body, if it has one (bounded), so that closing does not reset it."""
    framing = dict(scope.get("headers", []))
    if framing.get(b"content-length", b"0").strip() in (b"", b"0") and (
        b"transfer-encoding" not in framing
    ):
        return
    with anyio.move_on_after(CLOSE_WAIT):
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body"):
                return


async def http10(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """The answer as an HTTP/1.0 server writes it: status line ``HTTP/1.0``, no Content-Length,
    ``Connection: close``, and the body ended by closing the connection."""
    start, body = await layers.answer(app, scope, receive)
    headers = without(list(start.get("headers", [])), b"content-length", b"connection")
    headers.append((b"connection", b"close"))
    transport = scope.get("extensions", {}).get(layers.TRANSPORT)
    if transport is None:  # in process (no connection): the same fields, framed by the caller
        await send(_start(start, headers))
        await send(layers.body_message(body, False))
        return
    status = start["status"]
    lines = [f"HTTP/1.0 {status} {HTTPStatus(status).phrase}".encode("ascii")]
    lines += [b"%s: %s" % field for field in [date_header(), *headers]]
    await _request_read(scope, receive)
    payload = b"" if scope["method"] == "HEAD" else body
    transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + payload)
    transport.close()  # after what was written has been sent: FIN
    with anyio.move_on_after(CLOSE_WAIT):  # uvicorn then knows no response is owed
        await layers.until_disconnect(receive)


EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nlink: </v1/usage>; rel=preconnect\r\n\r\n"


async def early_hints(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """A ``103 Early Hints`` interim response before every final one (never to HTTP/1.0)."""
    transport = scope.get("extensions", {}).get(layers.TRANSPORT)
    if transport is not None and scope.get("http_version") != "1.0":
        transport.write(EARLY_HINTS)
    await app(scope, receive, send)


# --- a gateway in front: OPTIONS, HEAD, 405 -----------------------------------------

GATEWAY_ALLOW = b"GET, HEAD, OPTIONS"
CORS = (
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", GATEWAY_ALLOW),
    (b"access-control-allow-headers", b"Authorization, X-Api-Key, X-Dedalus-Org-Id"),
    (b"access-control-max-age", b"600"),
)


async def gateway(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """OPTIONS on any path: 204 with ``Allow`` and CORS fields; HEAD: the GET's header fields
    without its body; every 405 says ``Allow: GET, HEAD, OPTIONS``."""
    if scope["method"] == "OPTIONS":
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [(b"allow", GATEWAY_ALLOW), *CORS],
            }
        )
        await send(layers.body_message(b"", False))
        return
    inner = {**scope, "method": "GET"} if scope["method"] == "HEAD" else scope

    async def allow_options(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 405:
            headers = without(list(message.get("headers", [])), b"allow")
            message = _start(message, [*headers, (b"allow", GATEWAY_ALLOW)])
        await send(message)

    await app(inner, receive, allow_options)  # the server drops the body of a HEAD


# --- answers that say "try again" ---------------------------------------------------


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "?"


class RateLimiter:
    """A token bucket per client address: bursts of ``burst`` requests, refilled at ``rate``
    a second. When it is empty the client is told to wait ``retry_after`` seconds: until then
    every request gets 429 ``application/problem+json`` with ``Retry-After`` (whole seconds
    left), after it the bucket is full again. A client that honours Retry-After gets through
    on its retry, and a run's 429s number about its requests / ``burst`` whatever the
    machine's speed."""

    def __init__(self, burst: int = 200, rate: float = 10.0, retry_after: int = 1) -> None:
        self.burst, self.rate, self.retry_after = burst, rate, retry_after
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float, float]] = OrderedDict()
        self.refused = 0

    def wait(self, client: str, now: float) -> int:
        """Seconds the client must wait (0: served, and one token taken)."""
        with self._lock:
            tokens, last, until = self._buckets.pop(client, (float(self.burst), now, 0.0))
            if until and now >= until:  # the wait announced is over: a full bucket
                tokens, until = float(self.burst), 0.0
            elif not until:
                tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if not until and tokens >= 1:
                tokens, seconds = tokens - 1, 0
            else:
                until = until or now + self.retry_after
                seconds = max(1, math.ceil(until - now))
                self.refused += 1
            self._buckets[client] = (tokens, now, until)
            while len(self._buckets) > 10_000:  # bounded: the least recent clients go
                self._buckets.popitem(last=False)
            return seconds

    async def __call__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        seconds = self.wait(client_address(scope), time.monotonic())
        if not seconds:
            await app(scope, receive, send)
            return
        reply = replies.problem(
            429,
            "Too Many Requests",
            f"rate limit of {self.rate:g} requests/s (bursts of {self.burst}) exceeded",
            headers={"Retry-After": str(seconds)},
        )
        await layers.send_reply(reply, send)


LEDGER_BLIP = replies.api_error(
    502,
    "BILLING_LEDGER_UNAVAILABLE",
    "billing ledger unavailable, retry shortly",
    retryable=True,
    retry_after_ms=50,
)


class LedgerBlips:
    """Every ``every``-th usage answer a client (address) would get as 200 is 502
    ``BILLING_LEDGER_UNAVAILABLE`` (retryable, ``retry_after_ms`` 50) instead; never on a
    connection whose last answer was such a 502, so the immediate retry succeeds."""

    def __init__(self, every: int = 40) -> None:
        self.every = every
        self._lock = threading.Lock()
        self._counts: dict[str, itertools.count[int]] = {}
        self._just_failed: OrderedDict[tuple[Any, ...], None] = OrderedDict()
        self.failed = 0

    def fails(self, scope: Scope) -> bool:
        connection = tuple(scope.get("client") or ())
        with self._lock:
            counter = self._counts.setdefault(client_address(scope), itertools.count(1))
            due = next(counter) % self.every == 0
            if connection in self._just_failed:  # this is the retry: it goes through
                del self._just_failed[connection]
                return False
            if not due:
                return False
            self._just_failed[connection] = None
            while len(self._just_failed) > 10_000:
                self._just_failed.popitem(last=False)
            self.failed += 1
            return True

    async def __call__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] != USAGE_PATH:
            await app(scope, receive, send)
            return
        start, body = await layers.answer(app, scope, receive)
        if start.get("status") == 200 and self.fails(scope):
            await layers.send_reply(LEDGER_BLIP, send)
            return
        await send(start)
        await send(layers.body_message(body, False))
