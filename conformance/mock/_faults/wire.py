"""Faults on the wire: which requests a wire layer (``_layers.wire(hit, act)``) selects, and
the acts that misbehave on them: resets, truncation, dribbles, hangs, huge or HTML bodies,
state kept per connection, header names matched case-sensitively, answers cached by URL.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import socket
import struct
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, timedelta
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, unquote

import anyio
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conformance.mock import _replies as replies
from conformance.mock._app import USAGE_PATH, mock_state
from conformance.mock._faults.steps import sent_key
from conformance.mock._http.protocol import MockHttpToolsProtocol
from conformance.mock._layers import (
    CONNECTION,
    TRANSPORT,
    Act,
    Apply,
    Hit,
    WireProtocol,
    answer,
    base_app,
    body_message,
    passthrough,
    send_reply,
    until_disconnect,
    wire,
)
from conformance.mock._model import Org
from conformance.mock._periods import parse_period_start, utc_now
from conformance.mock._query import MalformedQuery, query_values
from conformance.mock._replies import ApiError, Reply


def lowercase_header_names(*names: str) -> Apply:
    """Headers ``names`` are only seen when sent in lower case (served by ``serve``)."""
    protocol = type(
        "LowercaseOnlyProtocol",
        (WireProtocol,),
        {"lowercase_only": frozenset(name.encode() for name in names)},
    )
    return wire(lambda scope: False, passthrough, protocol)


# --- which requests --------------------------------------------------------------------


def _period(scope: Scope) -> list[str] | None:
    """The ``period_start`` values of the request (None: the query is not decodable)."""
    try:
        return query_values(scope.get("query_string", b""), "period_start")
    except MalformedQuery:
        return None


def has_period_start(scope: Scope) -> bool:
    return bool(_period(scope))


def _period_date(scope: Scope) -> date | None:
    values = _period(scope)
    return parse_period_start(values[0]) if values and len(values) == 1 else None


def mid_month(scope: Scope) -> bool:
    """A real date that is not the first of a month."""
    start = _period_date(scope)
    return start is not None and start.day != 1


def older_than_a_year(scope: Scope) -> bool:
    start = _period_date(scope)
    return start is not None and start < utc_now().date() - timedelta(days=366)


def unparseable_period(scope: Scope) -> bool:
    values = _period(scope)
    return values is None or (bool(values) and _period_date(scope) is None)


def unknown_param(scope: Scope) -> bool:
    query = scope.get("query_string", b"").decode("latin-1")
    return any(name != "period_start" for name, _ in parse_qsl(query, keep_blank_values=True))


def usage_get(scope: Scope) -> bool:
    """GET /v1/usage, the declared operation."""
    return scope["path"] == USAGE_PATH and scope["method"] == "GET"


def everything(scope: Scope) -> bool:
    return True


# --- the path as sent, and the routers that read it loosely ----------------------------


def raw_path(scope: Scope) -> str:
    """The path as the client spelled it (no query): percent-escapes and dot segments kept."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else scope["path"]


def normalised(path: str) -> str:
    """``path`` with runs of slashes collapsed and ``.``/``..`` segments resolved (a trailing
    slash kept), as a lenient router normalises it before matching."""
    out: list[str] = []
    for segment in re.sub("/+", "/", path).split("/"):
        if segment == "..":
            out = out[:-1]
        elif segment not in ("", "."):
            out.append(segment)
    return "/" + "/".join(out) + ("/" if path.endswith("/") and out else "")


def spelled(loose: Callable[[str], bool]) -> Hit:
    """Another spelling of /v1/usage than the exact one that ``loose(raw path)`` accepts."""
    return lambda scope: raw_path(scope) != USAGE_PATH and loose(raw_path(scope))


trailing_slash = spelled(lambda path: path == USAGE_PATH + "/")
other_case = spelled(lambda path: path.lower() == USAGE_PATH)
percent_encoded = spelled(lambda path: unquote(path) == USAGE_PATH)
dot_segments = spelled(lambda path: normalised(path) == USAGE_PATH)


def doubled_slash(scope: Scope) -> bool:
    return "//" in raw_path(scope)


# --- credentials in the request -------------------------------------------------------


def request_headers(scope: Scope) -> Headers:
    return Headers(scope=scope)


def without_credentials(scope: Scope) -> bool:
    """No key where the spec puts one (neither ``x-api-key`` nor ``Authorization``)."""
    headers = request_headers(scope)
    return "x-api-key" not in headers and "authorization" not in headers


def with_header(scope: Scope, name: bytes, value: bytes) -> Scope:
    """A copy of ``scope`` with one more request header."""
    return {**scope, "headers": [*scope.get("headers", []), (name, value)]}


# --- what happens ----------------------------------------------------------------------


async def _half_then(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> Any:
    """Send the real answer's head and half its body; return the connection's transport."""
    start, body = await answer(app, scope, receive)
    await send(start)
    await send(body_message(body[: len(body) // 2], True))
    await anyio.sleep(0.05)
    transport = scope.get("extensions", {}).get(TRANSPORT)
    if transport is None:  # not served through WireProtocol: the best we can do is hang up
        raise ConnectionResetError("fault: connection lost mid-response")
    return transport


async def reset_mid_body(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """The real answer's head and half its body, then a TCP reset (RST, not FIN)."""
    transport = await _half_then(scope, receive, send, app)
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def close_mid_body(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """The real answer's head and half its body, then an orderly close (FIN): truncated."""
    (await _half_then(scope, receive, send, app)).close()


def dribble(interval: float) -> Act:
    """The real answer, its body one byte every ``interval`` seconds (until the client goes)."""

    async def act(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        start, body = await answer(app, scope, receive)
        await send(start)
        async with anyio.create_task_group() as group:

            async def stop_when_gone() -> None:
                await until_disconnect(receive)
                group.cancel_scope.cancel()

            group.start_soon(stop_when_gone)
            for i in range(len(body)):
                await send(body_message(body[i : i + 1], i + 1 < len(body)))
                await anyio.sleep(interval)
            group.cancel_scope.cancel()

    return act


def hang(limit: float) -> Act:
    """Nothing until the client gives up (or ``limit`` seconds), then the real answer."""

    async def act(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        with anyio.move_on_after(limit):
            await until_disconnect(receive)
        await app(scope, receive, send)  # after a disconnect, uvicorn drops what is sent

    return act


DUMP_LINE = b"DEBUG ledger dump: row=000000 org=? bucket=? awake=? cpu=? mem=? storage=?\n"


def huge_body(size: int, chunk: int = 1 << 20) -> Act:
    """A 200 ``text/plain`` debug dump of ``size`` bytes, streamed without Content-Length."""
    block = (DUMP_LINE * (chunk // len(DUMP_LINE) + 1))[:chunk]

    async def act(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        start = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
        await send(start)
        sent = 0
        while sent < size:
            piece = block[: min(chunk, size - sent)]
            sent += len(piece)
            await send(body_message(piece, sent < size))

    return act


def html_page(status: int, title: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> Act:
    """A web framework's default HTML error page."""
    page = (
        f"<!DOCTYPE html><html><head><title>{status} {title}</title></head>"
        f"<body><h1>{title}</h1><hr><p>nginx</p></body></html>"
    ).encode()

    async def act(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(page)).encode()),
                    *headers,
                ],
            }
        )
        await send(body_message(page, False))

    return act


async def html_refusals(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """The API's own refusals of a plain request (a missing key, a malformed period) come as
    a proxy's HTML page: an error page put in front of every 4xx, not only of HTTP's own."""
    start, body = await answer(app, scope, receive)
    status = start["status"]
    if 400 <= status < 500 and scope["method"] == "GET":
        await html_page(status, "Request refused")(app, scope, receive, send)
        return
    await send(start)
    await send(body_message(body, False))


def reply(answer: Reply) -> Act:
    """``answer`` instead of the mock's (a crash: the 500 the framework renders)."""

    async def act(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        await send_reply(answer, send)

    return act


async def answer_as(org: Org, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """The mock's answer as if the request had authenticated as ``org`` (whatever its
    credentials): its current pipeline, with the authentication step skipped."""
    state = mock_state(base_app(app))  # type: ignore[arg-type]
    pipeline = dataclasses.replace(state.pipeline, authenticate=lambda headers, fixtures: org)
    response = pipeline.handle(Request(scope, receive), state)
    await response(scope, receive, send)


async def default_org(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Served unauthenticated: the handler, given no org by the auth middleware, falls back
    to the first org of its table (the mock's fixtures)."""
    orgs = mock_state(base_app(app)).fixtures.orgs  # type: ignore[arg-type]
    await answer_as(next(iter(orgs.values())), app, scope, receive, send)


def key_from_query(*names: str) -> Act:
    """A middleware that copies the first of query parameters ``names`` into ``x-api-key``
    when the request carries no credential header."""

    async def act(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            found = [v for n in names for v in query_values(scope.get("query_string", b""), n)]
        except MalformedQuery:
            found = []
        if found and without_credentials(scope):
            scope = with_header(scope, b"x-api-key", found[0].encode("latin-1", "replace"))
        await app(scope, receive, send)

    return act


Memo = dict[str, Any]


def per_connection(choose: Callable[[Memo, Org | None], Org | None]) -> Act:
    """An act for a server that remembers orgs per connection: ``choose(memo, org)``, given
    the connection's memo and the org the request's credentials authenticate (None where
    they do not), names the org to serve the request as, or None for the mock's answer."""

    async def act(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        memo = scope.get("extensions", {}).get(CONNECTION)
        if memo is None:  # in process, or not served through WireProtocol: no connection
            await app(scope, receive, send)
            return
        state = mock_state(base_app(app))  # type: ignore[arg-type]
        try:
            org = state.pipeline.authenticate(request_headers(scope), state.fixtures)
        except ApiError:
            org = None
        served_as = choose(memo, org)
        if served_as is None:
            await app(scope, receive, send)
        else:
            await answer_as(served_as, app, scope, receive, send)

    return act


STICKY_ORG = "authenticated org"


def _sticky_org(memo: Memo, org: Org | None) -> Org | None:
    """The connection keeps the org of its first authenticated request; a later request on
    it whose credentials do not authenticate is served as that org."""
    if org is not None:
        memo.setdefault(STICKY_ORG, org)
        return None
    return memo.get(STICKY_ORG)


sticky_auth = per_connection(_sticky_org)

LAST_ORG = "org of the previous request"


def _previous_org(memo: Memo, org: Org | None) -> Org | None:
    """The handler answers for the org the connection authenticated last, which the auth
    middleware records only once the answer is sent: a request whose key belongs to another
    org than the previous request's on the same connection gets the previous org's usage."""
    if org is None:
        return None
    previous = memo.get(LAST_ORG)
    memo[LAST_ORG] = org
    return previous if previous is not None and previous.id != org.id else None


previous_request_org = per_connection(_previous_org)


class CurrentOrg:
    """A server that keeps the org its auth middleware found in one variable for every
    request, and reads it back once the org's ledger is at hand: a request whose org is not
    the previous request's waits ``pause`` seconds for it (a cache miss), and requests of two
    orgs in flight at the same time are answered for whichever was authenticated last."""

    def __init__(self, pause: float = 0.03) -> None:
        self.pause = pause
        self.current: Org | None = None

    async def __call__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        state = mock_state(base_app(app))  # type: ignore[arg-type]
        try:
            org = state.pipeline.authenticate(request_headers(scope), state.fixtures)
        except ApiError:
            org = None
        if org is None or scope["method"] != "GET":
            await app(scope, receive, send)
            return
        switched = self.current is None or self.current.id != org.id
        self.current = org
        if switched:
            await anyio.sleep(self.pause)
        served = self.current
        if served.id == org.id:
            await app(scope, receive, send)
        else:
            await answer_as(served, app, scope, receive, send)


class UrlCache:
    """A response cache in front of the app, keyed by method and URL only: a 200 is kept for
    ``ttl`` seconds and served to every request for that URL (at most ``size`` entries)."""

    def __init__(self, ttl: float = 60.0, size: int = 1024) -> None:
        self.ttl, self.size = ttl, size
        self._entries: OrderedDict[tuple[Any, ...], tuple[float, Message, bytes]] = OrderedDict()

    async def __call__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "GET":
            await app(scope, receive, send)
            return
        key = (scope["method"], raw_path(scope), scope.get("query_string", b""))
        now = time.monotonic()
        cached = self._entries.get(key)
        if cached is not None and now - cached[0] < self.ttl:
            start, body = cached[1], cached[2]
        else:
            start, body = await answer(app, scope, receive)
            if start.get("status") == 200:
                self._entries[key] = (now, start, body)
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        await send(start)
        await send(body_message(body, False))


def with_response_headers(extra: Callable[[Scope], list[tuple[bytes, bytes]]]) -> Act:
    """The mock's answer with ``extra(scope)`` added to its header fields."""

    async def act(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        added = extra(scope)

        async def edited(message: Message) -> None:
            if message["type"] == "http.response.start" and added:
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        await app(scope, receive, edited)

    return act


def without_response_header(name: bytes) -> Act:
    """The mock's answer without its ``name`` header field (lower case)."""

    async def act(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        async def edited(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(n, v) for n, v in message.get("headers", []) if n.lower() != name]
                message = {**message, "headers": kept}
            await send(message)

        await app(scope, receive, edited)

    return act


def debug_auth(scope: Scope) -> list[tuple[bytes, bytes]]:
    """``X-Debug-Auth``: the presented key, base64-encoded (none when no key was sent)."""
    key = sent_key(request_headers(scope))
    return [(b"x-debug-auth", base64.b64encode(key.encode()))] if key else []


def gzip_label(scope: Scope) -> list[tuple[bytes, bytes]]:
    return [(b"content-encoding", b"gzip")]


async def request_line_in_errors(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Every 4xx ``message`` in the spec's error shape ends with the request line as
    received, query string included."""
    start, body = await answer(app, scope, receive)
    headers = list(start.get("headers", []))
    media = dict(headers).get(b"content-type", b"").split(b";")[0].strip()
    if 400 <= start.get("status", 0) < 500 and media == replies.JSON.encode():
        document = json.loads(body)
        query = scope.get("query_string", b"").decode("latin-1")
        target = raw_path(scope) + (f"?{query}" if query else "")
        document["message"] = f"{document['message']} ({scope['method']} {target})"
        body = replies.dumps(document)
        headers = [(n, v) for n, v in headers if n.lower() != b"content-length"]
        headers.append((b"content-length", b"%d" % len(body)))
        start = {**start, "headers": headers}
    await send(start)
    await send(body_message(body, False))


# --- HTTP messages: Date, 304s, Connection: close, CORS, errors ----------------------------


class DatelessProtocol(MockHttpToolsProtocol):
    """The mock's protocol without the Date header field uvicorn adds to every answer."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None:
            cycle.default_headers = [(n, v) for n, v in cycle.default_headers if n != b"date"]


def asks_close(scope: Scope) -> bool:
    """An HTTP/1.1 request whose Connection field has the ``close`` option."""
    tokens = request_headers(scope).get("connection", "").lower().replace(" ", "").split(",")
    return scope.get("http_version") == "1.1" and "close" in tokens


class KeepAliveProtocol(MockHttpToolsProtocol):
    """The mock's protocol that keeps every HTTP/1.1 connection open, ``close`` or not."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope.get("http_version") == "1.1":
            cycle.keep_alive = True


def keep_alive(scope: Scope) -> list[tuple[bytes, bytes]]:
    return [(b"connection", b"keep-alive")]


def reflected_origin(scope: Scope) -> list[tuple[bytes, bytes]]:
    """CORS fields that allow the request's Origin, whatever it is, with credentials."""
    origin = request_headers(scope).get("origin")
    if origin is None:
        return []
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-credentials", b"true"),
        (b"vary", b"Origin"),
    ]


#: The origins an operator listed for the console, written in one field as in the config file.
CONSOLE_ORIGINS = b"https://console.dcs.example https://admin.dcs.example"


def origin_list(scope: Scope) -> list[tuple[bytes, bytes]]:
    """Access-Control-Allow-Origin listing every allowed origin, on answers to an Origin."""
    if "origin" not in request_headers(scope):
        return []
    return [(b"access-control-allow-origin", CONSOLE_ORIGINS), (b"vary", b"Origin")]


def credentials_capitalised(scope: Scope) -> list[tuple[bytes, bytes]]:
    """CORS with credentials for the console, its flag written as a boolean's repr (`True`)."""
    if "origin" not in request_headers(scope):
        return []
    return [
        (b"access-control-allow-origin", b"https://console.dcs.example"),
        (b"access-control-allow-credentials", b"True"),
        (b"vary", b"Origin"),
    ]


def origin_echo_without_vary(scope: Scope) -> list[tuple[bytes, bytes]]:
    """Access-Control-Allow-Origin naming the request's Origin, without credentials and
    without Vary: Origin."""
    origin = request_headers(scope).get("origin")
    return [] if origin is None else [(b"access-control-allow-origin", origin.encode("latin-1"))]


def preflight_grant(scope: Scope) -> list[tuple[bytes, bytes]]:
    """Every CORS field a preflight asks for, granted (added to whatever status the app
    gives, as a proxy's `add_header ... always` does)."""
    headers = request_headers(scope)
    if "origin" not in headers or "access-control-request-method" not in headers:
        return []
    return [
        (b"access-control-allow-origin", b"*"),
        (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
        (b"access-control-allow-headers", b"*"),
        (b"access-control-max-age", b"600"),
    ]


def etag_of(body: bytes) -> bytes:
    return b'"%s"' % hashlib.sha256(body).hexdigest()[:20].encode()


async def not_modified_with_content(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> None:
    """Strong ETags on usage 200s; an If-None-Match naming the tag (or ``*``) gets 304, with
    the 200's Content-Length and content written after it (a handler that only swaps the
    status)."""
    start, body = await answer(app, scope, receive)
    if start.get("status") != 200:
        await send(start)
        await send(body_message(body, False))
        return
    headers, matched = _tagged(scope, start, body)
    await send({**start, "status": 304 if matched else 200, "headers": headers})
    await send(body_message(b"" if scope["method"] == "HEAD" else body, False))


def _tagged(scope: Scope, start: Message, body: bytes) -> tuple[list[tuple[bytes, bytes]], bool]:
    """A usage 200's fields with a strong ETag of its body, and whether the request's
    If-None-Match names that tag (or ``*``)."""
    tag = etag_of(body)
    asked = request_headers(scope).get("if-none-match", "")
    tags = {t.strip().removeprefix("W/").encode() for t in asked.split(",") if t.strip()}
    return [*start.get("headers", []), (b"etag", tag)], bool(tags & {tag, b"*"})


def not_modified(kept: tuple[bytes, ...], length: bytes | None = None) -> Act:
    """Strong ETags on usage 200s; an If-None-Match naming the tag (or ``*``) gets a 304
    without content that keeps only the 200's fields named in ``kept`` (and Date), with
    ``Content-Length: <length>`` if given (a handler that builds a fresh empty 304)."""

    async def act(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        start, body = await answer(app, scope, receive)
        if start.get("status") != 200:
            await send(start)
            await send(body_message(body, False))
            return
        headers, matched = _tagged(scope, start, body)
        if not matched:
            await send({**start, "headers": headers})
            await send(body_message(b"" if scope["method"] == "HEAD" else body, False))
            return
        headers = [(n, v) for n, v in headers if n.lower() in kept]
        if length is not None:
            headers.append((b"content-length", length))
        await send({**start, "status": 304, "headers": headers})
        await send(body_message(b"", False))

    return act


def conditional_options(scope: Scope) -> bool:
    """An OPTIONS request with an If-Match field."""
    return scope["method"] == "OPTIONS" and "if-match" in request_headers(scope)


async def precondition_failed(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """412: the request's If-Match names no representation the server has."""
    await send_reply(
        replies.problem(412, "Precondition Failed", "If-Match names no current representation"),
        send,
    )


EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nlink: </v1/usage>; rel=preconnect\r\n\r\n"


async def early_hints_to_all(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """A ``103 Early Hints`` before every final answer, to HTTP/1.0 clients too."""
    transport = scope.get("extensions", {}).get(TRANSPORT)
    if transport is not None:
        transport.write(EARLY_HINTS)
    await app(scope, receive, send)


#: The query parameters a handler left from the admin console reads to choose the org.
ORG_SELECTORS = ("org_id",)


def org_selected(scope: Scope) -> bool:
    query = scope.get("query_string", b"").decode("latin-1")
    return any(name in ORG_SELECTORS for name, _ in parse_qsl(query, keep_blank_values=True))


async def org_from_query(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """A request with a valid key and ``?org_id=`` naming an org is answered for that org
    (the key's own org checked only against ``X-Dedalus-Org-Id``)."""
    state = mock_state(base_app(app))  # type: ignore[arg-type]
    try:
        org = state.pipeline.authenticate(request_headers(scope), state.fixtures)
    except ApiError:
        org = None
    query = scope.get("query_string", b"").decode("latin-1")
    named = [v for n, v in parse_qsl(query, keep_blank_values=True) if n in ORG_SELECTORS]
    chosen = state.fixtures.orgs.get(named[0]) if named else None
    if org is None or chosen is None:
        await app(scope, receive, send)
    else:
        await answer_as(chosen, app, scope, receive, send)


class NegativeHintBlips:
    """The ledger blips: every ``every``-th usage request that would get a 200 gets 502
    ``BILLING_LEDGER_UNAVAILABLE`` with ``retry_after_ms: -1`` ("retry at once"); the next
    one goes through."""

    def __init__(self, every: int = 10) -> None:
        self.every = every
        self.count = 0
        self.reply = replies.api_error(
            502,
            "BILLING_LEDGER_UNAVAILABLE",
            "billing ledger unavailable",
            retryable=True,
            retry_after_ms=-1,
        )

    async def __call__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        start, body = await answer(app, scope, receive)
        if start.get("status") == 200 and scope["path"] == USAGE_PATH:
            self.count += 1
            if self.count % self.every == 0:
                await send_reply(self.reply, send)
                return
        await send(start)
        await send(body_message(body, False))


# --- the message as HTTP frames it (dates, validators) --------------------------------------


class _Dateless:
    """A server's state whose default header fields leave `Date` out (the answer has its own)."""

    def __init__(self, state: Any) -> None:
        self._state = state

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state, name)

    @property
    def default_headers(self) -> list[tuple[bytes, bytes]]:
        return [(n, v) for n, v in self._state.default_headers if n.lower() != b"date"]


class OwnDateProtocol(WireProtocol):
    """The wire protocol without the server's own `Date`: the app sends the one it makes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.server_state = _Dateless(self.server_state)  # type: ignore[assignment]


def rfc850_date(scope: Scope) -> list[tuple[bytes, bytes]]:
    """`Date` in the obsolete RFC 850 form (`Sunday, 06-Dec-26 10:00:00 GMT`)."""
    return [(b"date", time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime()).encode())]


def modified_tomorrow() -> list[tuple[bytes, bytes]]:
    """`Last-Modified` a day after now, so after the answer's own `Date`."""
    return [(b"last-modified", formatdate(time.time() + 86400, usegmt=True).encode())]


async def weak_etag_lower_case(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """A 200 tagged `w/"<digest of its body>"`: a weak indicator in lower case, no entity-tag."""
    start, body = await answer(app, scope, receive)
    if start.get("status") == 200:
        tag = b'w/"%s"' % hashlib.sha256(body).hexdigest()[:16].encode()
        start = {**start, "headers": [*start.get("headers", []), (b"etag", tag)]}
    await send(start)
    await send(body_message(body, False))
