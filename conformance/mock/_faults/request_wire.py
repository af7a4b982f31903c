"""Faults across the whole request space, on the wire (``_layers.wire(hit, act)``): methods
that reach the usage handler past the auth middleware, HEAD answered unlike GET, credentialed
answers marked for shared caches, header fields and request-targets that crash the server or
change its answer, conditionals answered wrongly, and equivalent requests (the own org named,
HTTP/1.0, a fresh connection, a header field the edge does not know) answered differently.

The hits read the request as the server got it (``_layers.request_target`` for the target as
sent); the acts call the correct mock for its answer and misbehave around it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conformance.mock import _replies as replies
from conformance.mock._app import USAGE_PATH
from conformance.mock._faults.steps import CRASH
from conformance.mock._faults.wire import default_org, request_headers, without_credentials
from conformance.mock._layers import (
    CONNECTION,
    TRANSPORT,
    Act,
    Hit,
    answer,
    body_message,
    request_target,
    send_reply,
    until_disconnect,
)

Fields = list[tuple[bytes, bytes]]
#: The methods HTTP defines (RFC 9110 9.3, PATCH in RFC 5789): the router knows these.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
OVERRIDE_HEADERS = ("x-http-method-override", "x-http-method", "x-method-override")
BILLED = (
    "billed_awake_seconds",
    "billed_cpu_millicore_seconds",
    "billed_memory_mib_seconds",
    "billed_logical_storage_mib_seconds",
)


# --- which requests ----------------------------------------------------------------------


def on_usage(*methods: str) -> Hit:
    """Requests for /v1/usage with one of ``methods`` (any method if none is named)."""
    wanted = frozenset(methods)
    return lambda scope: scope["path"] == USAGE_PATH and (not wanted or scope["method"] in wanted)


def unknown_method(scope: Scope) -> bool:
    """/v1/usage with a method HTTP does not define (QUERY, PROPFIND, any other token)."""
    return scope["path"] == USAGE_PATH and scope["method"] not in KNOWN_METHODS


def overridden_to_get(scope: Scope) -> bool:
    """A POST to /v1/usage whose method-override header names GET or HEAD."""
    if scope["path"] != USAGE_PATH or scope["method"] != "POST":
        return False
    headers = request_headers(scope)
    return any(
        headers.get(name, "").strip().upper() in ("GET", "HEAD") for name in OVERRIDE_HEADERS
    )


def reads_with(name: str, bad: Callable[[str], bool]) -> Hit:
    """GET or HEAD /v1/usage with a header field ``name`` one of whose values is ``bad``."""
    is_read = on_usage("GET", "HEAD")

    def hit(scope: Scope) -> bool:
        return is_read(scope) and any(bad(v) for v in request_headers(scope).getlist(name))

    return hit


def reads_where(bad: Callable[[Scope], bool]) -> Hit:
    """GET or HEAD /v1/usage for which ``bad(scope)`` holds."""
    is_read = on_usage("GET", "HEAD")
    return lambda scope: is_read(scope) and bad(scope)


def media_ranges(value: str) -> list[tuple[str, str]]:
    """An Accept-like value's members as (value, parameters), both stripped."""
    members = []
    for member in value.split(","):
        item, _, params = member.partition(";")
        if item.strip() or params.strip():
            members.append((item.strip().lower(), params.strip()))
    return members


NEGOTIABLE = frozenset({"application/json", "application/*", "*/*"})
LANGUAGES = frozenset({"en", "en-us"})


def negotiation_fails(scope: Scope) -> bool:
    """Accept with a media range the negotiation table lacks (text/html, garbage) or with
    parameters (``q=0.8``); Accept-Language with a tag other than en/en-US or with a q."""
    headers = request_headers(scope)
    for value in headers.getlist("accept"):
        if any(params or item not in NEGOTIABLE for item, params in media_ranges(value)):
            return True
    for value in headers.getlist("accept-language"):
        if any(params or item not in LANGUAGES for item, params in media_ranges(value)):
            return True
    return False


def accept_not_literal_json(value: str) -> bool:
    return value.strip() != replies.JSON


def exotic_coding(value: str) -> bool:
    """Accept-Encoding that allows br or zstd (q not 0)."""
    for coding, params in media_ranges(value):
        q = re.search(r"q\s*=\s*([0-9.]+)", params)
        if coding in ("br", "zstd") and not (q and _zero(q.group(1))):
            return True
    return False


def _zero(text: str) -> bool:
    try:
        return float(text) == 0
    except ValueError:
        return False


IMF_FIXDATE = "%a, %d %b %Y %H:%M:%S GMT"
ENTITY_TAGS = re.compile(r'\s*(\*|(W/)?"[^"]*"(\s*,\s*(W/)?"[^"]*")*)\s*')


def not_an_http_date(value: str) -> bool:
    try:
        time.strptime(value.strip(), IMF_FIXDATE)
    except ValueError:
        return True
    return False


def conditional_malformed(scope: Scope) -> bool:
    """A date conditional that is no IMF-fixdate, or an entity-tag conditional that is no
    ``*`` or list of quoted entity tags."""
    headers = request_headers(scope)
    dates = [v for n in ("if-modified-since", "if-unmodified-since") for v in headers.getlist(n)]
    tags = [v for n in ("if-none-match", "if-match") for v in headers.getlist(n)]
    return any(map(not_an_http_date, dates)) or any(not ENTITY_TAGS.fullmatch(t) for t in tags)


#: The list fields a strict parser reads (Accept, Accept-Encoding, If-None-Match).
LIST_FIELDS = ("accept", "accept-encoding", "if-none-match")


def list_syntax_strict(scope: Scope) -> bool:
    """A list field with an empty element, whitespace before a comma or a backslash (RFC
    9110 5.6.1.2 and 5.6.4 let a recipient take each): what a strict parser refuses."""
    values = [v for n in LIST_FIELDS for v in request_headers(scope).getlist(n)]
    return any(
        any(not m.strip() for m in v.split(",")) or re.search(r"[ \t],", v) or "\\" in v
        for v in values
    )


async def invalid_request(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    await send_reply(replies.INVALID_REQUEST, send)


def cookie_unparseable(value: str) -> bool:
    """A Cookie value with a pair that is not name=value of ASCII without quotes."""
    pairs = [pair.strip() for pair in value.split(";") if pair.strip()]
    return any("=" not in pair or not pair.isascii() or '"' in pair for pair in pairs)


def _ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def forwarded_not_ipv4(scope: Scope) -> bool:
    """X-Forwarded-For whose first address, or Forwarded whose first ``for=``, is no IPv4
    address (an IPv6 address, ``unknown``, an obfuscated identifier, junk)."""
    headers = request_headers(scope)
    for value in headers.getlist("x-forwarded-for"):
        if not _ipv4(value.split(",")[0].strip()):
            return True
    for value in headers.getlist("forwarded"):
        first = value.split(",")[0]
        for pair in first.split(";"):
            name, _, node = pair.strip().partition("=")
            if name.lower() == "for" and not _ipv4(node.strip().strip('"')):
                return True
    return False


def unloggable_field(scope: Scope) -> bool:
    """Any header value over 512 bytes or with a byte that is not ASCII."""
    return any(len(value) > 512 or not value.isascii() for _, value in scope["headers"])


def repeated_field(scope: Scope) -> bool:
    names = [name.lower() for name, _ in scope["headers"]]
    return len(names) != len(set(names))


def expects_continue(value: str) -> bool:
    return value.strip().lower() == "100-continue"


def query_pairs(scope: Scope) -> list[bytes]:
    query: bytes = scope.get("query_string", b"")
    return query.split(b"&") if query else []


def repeated_parameter(scope: Scope) -> bool:
    query = scope.get("query_string", b"").decode("latin-1")
    names = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
    return len(names) != len(set(names))


def empty_or_bare_pair(scope: Scope) -> bool:
    """``&&``, a leading or trailing ``&``, or a pair without ``=``."""
    return any(not pair or b"=" not in pair for pair in query_pairs(scope))


def absolute_form(scope: Scope) -> bool:
    target = request_target(scope)
    return not target.startswith(b"/") and target != b"*"


def foreign_authority(scope: Scope) -> bool:
    """An absolute-form target whose authority is empty, has a userinfo, or is not Host's."""
    target = request_target(scope)
    if not absolute_form(scope) or b"://" not in target:
        return False
    authority = target.split(b"://", 1)[1].split(b"/", 1)[0]
    host = request_headers(scope).get("host", "").encode("latin-1")
    return not authority or b"@" in authority or authority != host


def long_query(scope: Scope) -> bool:
    return len(scope.get("query_string", b"")) > 1024


def http10(scope: Scope) -> bool:
    return bool(scope.get("http_version") == "1.0")


def names_an_org(scope: Scope) -> bool:
    return "x-dedalus-org-id" in request_headers(scope)


#: Request header fields the edge's routing rules know; any other sends a request to the
#: canary pool (a rule meant for ``X-Canary: 1``).
ROUTED_FIELDS = frozenset(
    {
        "host", "user-agent", "accept", "accept-encoding", "accept-language", "accept-charset",
        "connection", "keep-alive", "content-length", "content-type", "transfer-encoding", "te",
        "upgrade", "authorization", "x-api-key", "x-dedalus-org-id", "cookie", "cache-control",
        "pragma", "if-none-match", "if-match", "if-modified-since", "if-unmodified-since",
        "if-range", "range", "expect", "origin", "referer", "x-forwarded-for",
        "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port", "forwarded", "via",
        "max-forwards", "dnt", "upgrade-insecure-requests", "priority",
    }
)  # fmt: skip


def unrouted_field(scope: Scope) -> bool:
    """A header field the routing rules do not know (``sec-*`` fetch metadata aside)."""
    names = {name.decode("latin-1").lower() for name, _ in scope["headers"]}
    return any(n not in ROUTED_FIELDS and not n.startswith("sec-") for n in names)


# --- what happens: answers without the auth middleware ------------------------------------


async def as_get_default_org(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """The GET handler's answer, as the table's first org, whatever the method and the
    credentials: the request reached the handler without the auth middleware."""
    await default_org(app, {**scope, "method": "GET"}, receive, send)


async def trace_echo(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """200 ``message/http``: the request line and every header field as received."""
    version = scope.get("http_version", "1.1")
    lines = [b"%s %s HTTP/%s" % (scope["method"].encode(), request_target(scope), version.encode())]
    lines += [name + b": " + value for name, value in scope["headers"]]
    body = b"\r\n".join(lines) + b"\r\n\r\n"
    await send(_start(200, [(b"content-type", b"message/http"), _length(body)]))
    await send(body_message(body, False))


#: Other versions and mounts of the usage path: a newer version deployed without the auth
#: middleware its routes should share.
UNGUARDED_SIBLING = "/v2/usage"


def sibling_path(scope: Scope) -> bool:
    """A GET or HEAD of the newer version's usage path."""
    return scope["path"] == UNGUARDED_SIBLING and scope["method"] in ("GET", "HEAD")


class LockoutFailsOpen:
    """A lockout after ``after`` wrong keys from one client address in ``window`` seconds,
    whose blocked branch calls the next handler instead of refusing: the handler, given no
    org, serves the first org of its table."""

    def __init__(self, after: int = 8, window: float = 30.0) -> None:
        self.after, self.window = after, window
        self.failures: dict[str, list[float]] = {}

    async def __call__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        client = str((scope.get("client") or ("",))[0])
        start, body = await answer(app, scope, receive)
        if start.get("status") == 401 and not without_credentials(scope):
            now = time.monotonic()
            recent = [t for t in self.failures.get(client, []) if now - t < self.window]
            self.failures[client] = [*recent, now][-self.after :]
            if len(recent) + 1 >= self.after:
                await default_org(app, scope, receive, send)
                return
        await send(start)
        await send(body_message(body, False))


#: Header fields that a rewriting proxy (IIS's URL Rewrite, nginx set by hand) sends with the
#: path it rewrote: a framework that trusts them from anyone routes or guards by them.
REWRITE_HEADERS = ("x-original-url", "x-rewrite-url")


def rewritten_outside_api(scope: Scope) -> bool:
    """A GET or HEAD of /v1/usage whose X-Original-URL or X-Rewrite-URL names a path outside
    ``/v1/``, which the auth middleware takes for a public one."""
    headers = request_headers(scope)
    return on_usage("GET", "HEAD")(scope) and any(
        not headers[name].startswith("/v1/") for name in REWRITE_HEADERS if name in headers
    )


SESSION_COOKIE = "dcs_session"
#: The request fields a session stands for: put back on a request that carries its cookie.
SESSION_FIELDS = (b"x-api-key", b"authorization", b"x-dedalus-org-id")


def cookie_value(header: str, name: str) -> str | None:
    """The value of cookie ``name`` in a Cookie field value, if any."""
    for pair in header.split(";"):
        key, sep, value = pair.strip().partition("=")
        if sep and key == name:
            return value
    return None


class SessionCookies:
    """A usage 200 to a keyed request sets a session cookie; a later request that carries it
    and no key is served as the keyed one was (its credential fields put back). At most
    ``size`` sessions are remembered."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.sessions: OrderedDict[str, list[tuple[bytes, bytes]]] = OrderedDict()

    async def __call__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        cookie = cookie_value(request_headers(scope).get("cookie", ""), SESSION_COOKIE)
        fields = self.sessions.get(cookie or "")
        if without_credentials(scope) and fields is not None:
            headers = [*scope["headers"], *fields]
            await app({**scope, "headers": headers}, receive, send)
            return
        start, body = await answer(app, scope, receive)
        if start.get("status") == 200 and not without_credentials(scope):
            token = secrets.token_hex(16)
            fields = [(n, v) for n, v in scope["headers"] if n.lower() in SESSION_FIELDS]
            self.sessions[token] = fields
            while len(self.sessions) > self.size:
                self.sessions.popitem(last=False)
            cookie = f"{SESSION_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Lax"
            start = {
                **start,
                "headers": [*start.get("headers", []), (b"set-cookie", cookie.encode())],
            }
        await send(start)
        await send(body_message(body, False))


# --- HEAD ---------------------------------------------------------------------------------


def _start(status: int, headers: Fields) -> Message:
    return {"type": "http.response.start", "status": status, "headers": headers}


def _length(body: bytes) -> tuple[bytes, bytes]:
    return b"content-length", b"%d" % len(body)


def _without(headers: Fields, *names: bytes) -> Fields:
    return [(n, v) for n, v in headers if n.lower() not in names]


async def head_then_body(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """HEAD answered with the GET's head, then its body written on the connection after it
    (the server forgot that a HEAD response ends with its header section)."""
    start, body = await answer(app, {**scope, "method": "GET"}, receive)
    await send(start)
    await send(body_message(b"", False))
    transport = scope.get("extensions", {}).get(TRANSPORT)
    if transport is not None:  # in process there is no connection to write to
        transport.write(body)


async def head_no_content(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """HEAD where GET would be 200: 204 without Content-Type or Content-Length."""
    start, _ = await answer(app, scope, receive)
    if start.get("status") == 200:
        start = _start(204, _without(start["headers"], b"content-type", b"content-length"))
    await send(start)
    await send(body_message(b"", False))


async def head_length_zero(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """HEAD answered with the GET's status and Content-Type but Content-Length: 0."""
    start, _ = await answer(app, scope, receive)
    start = {**start, "headers": [*_without(start["headers"], b"content-length"), _length(b"")]}
    await send(start)
    await send(body_message(b"", False))


# --- caching ------------------------------------------------------------------------------


def on_success(fields: Callable[[], Fields]) -> Act:
    """The mock's answer, with ``fields()`` added to its 200s."""

    async def act(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        async def edited(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                message = {**message, "headers": [*message.get("headers", []), *fields()]}
            await send(message)

        await app(scope, receive, edited)

    return act


def cache_control(value: str) -> Act:
    return on_success(lambda: [(b"cache-control", value.encode())])


def expires_in(seconds: int) -> Act:
    return on_success(
        lambda: [(b"expires", formatdate(time.time() + seconds, usegmt=True).encode())]
    )


# --- crashes, refusals and hangs on header fields -----------------------------------------


async def crash(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """The 500 the framework renders for an unhandled exception."""
    await send_reply(CRASH, send)


NOT_ACCEPTABLE = replies.problem(406, "Not Acceptable", "only application/json is served")


async def not_acceptable(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    await send_reply(NOT_ACCEPTABLE, send)


def wait_for_body(limit: float) -> Act:
    """``Expect: 100-continue`` honoured by waiting for the body (no 100 Continue is sent, and a
    GET has no body), until the client gives up or ``limit`` seconds pass."""

    async def act(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        with anyio.move_on_after(limit):
            await until_disconnect(receive)
        await app(scope, receive, send)  # after a disconnect, the server drops what is sent

    return act


BYTE_RANGE = re.compile(r"\s*bytes\s*=\s*(\d+)\s*-\s*(\d+)\s*")


async def range_off_by_one(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """``Range: bytes=a-b`` on a 200: 206 with ``Content-Range: bytes a-b/length`` but the
    bytes ``body[a:b]``, the last one missing (a slice's end is exclusive, a range's is not)."""
    start, body = await answer(app, scope, receive)
    match = BYTE_RANGE.fullmatch(request_headers(scope).get("range", ""))
    first, last = (int(match.group(1)), int(match.group(2))) if match else (0, -1)
    if start.get("status") != 200 or not first <= last < len(body):
        await send(start)
        await send(body_message(body, False))
        return
    part = body[first:last]
    headers = _without(start["headers"], b"content-length")
    headers += [(b"content-range", b"bytes %d-%d/%d" % (first, last, len(body))), _length(part)]
    await send(_start(206, headers))
    await send(body_message(part, False))


# --- conditionals -------------------------------------------------------------------------


def entity_tag(body: bytes) -> bytes:
    return b'"%s"' % hashlib.sha256(body).hexdigest()[:20].encode()


def listed_tags(value: str) -> set[bytes]:
    """The opaque tags of an If-None-Match value (weak and strong alike), ``*`` as itself."""
    return {tag.strip().removeprefix("W/").encode() for tag in value.split(",") if tag.strip()}


async def _unchanged(start: Message, body: bytes, send: Send) -> None:
    """The answer as the mock gave it."""
    await send(start)
    await send(body_message(body, False))


async def _not_modified(tag: bytes | None, send: Send) -> None:
    await send(_start(304, [(b"etag", tag)] if tag else []))
    await send(body_message(b"", False))


async def _tagged(start: Message, body: bytes, tag: bytes, send: Send) -> None:
    await send({**start, "headers": [*start.get("headers", []), (b"etag", tag)]})
    await send(body_message(body, False))


LAST_TAG = "entity tag sent last"


async def not_modified_on_repeat(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """ETags on 200s, and 304 where the ETag matches If-None-Match or, when the request has
    none, the ETag last sent on the same connection: a repeated request on a kept-alive
    connection gets 304 without having asked conditionally."""
    start, body = await answer(app, scope, receive)
    if start.get("status") != 200:
        await _unchanged(start, body, send)
        return
    tag = entity_tag(body)
    memo = scope.get("extensions", {}).get(CONNECTION, {})
    asked = request_headers(scope).get("if-none-match")
    previous = memo.get(LAST_TAG)
    memo[LAST_TAG] = tag
    seen = listed_tags(asked) if asked is not None else {previous}
    if tag in seen or b"*" in seen:
        await _not_modified(tag, send)
    else:
        await _tagged(start, body, tag, send)


async def tag_of_the_period(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Strong ETags on 200s computed from the request's query alone (its period), not from the
    answer; an If-None-Match that names the tag (or ``*``) gets 304."""
    start, body = await answer(app, scope, receive)
    if start.get("status") != 200:
        await _unchanged(start, body, send)
        return
    tag = entity_tag(scope.get("query_string", b""))
    asked = request_headers(scope).get("if-none-match")
    if asked is not None and listed_tags(asked) & {tag, b"*"}:
        await _not_modified(tag, send)
    else:
        await _tagged(start, body, tag, send)


class ConditionalBeforeAuth:
    """ETags on 200s, and a conditional middleware in front of the auth middleware: an
    If-None-Match of ``*`` or naming an ETag the server has issued (to anyone) gets 304 with
    or without credentials. At most ``size`` issued ETags are remembered."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.issued: OrderedDict[bytes, None] = OrderedDict()

    async def __call__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        asked = request_headers(scope).get("if-none-match")
        if asked is not None:
            matched = [t for t in listed_tags(asked) if t == b"*" or t in self.issued]
            if matched:
                await _not_modified(matched[0] if matched[0] != b"*" else None, send)
                return
        start, body = await answer(app, scope, receive)
        if start.get("status") != 200:
            await _unchanged(start, body, send)
            return
        tag = entity_tag(body)
        self.issued[tag] = None
        self.issued.move_to_end(tag)
        while len(self.issued) > self.size:
            self.issued.popitem(last=False)
        await _tagged(start, body, tag, send)


# --- request-targets ----------------------------------------------------------------------


def _with_query(scope: Scope, query: bytes) -> Scope:
    return {**scope, "query_string": query}


async def period_from_content_location(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> None:
    """The query of a request's Content-Location, when it has one, stands for the target's
    (RFC 9110 8.7: it is transitory context, never the request's meaning)."""
    location = request_headers(scope).get("content-location", "")
    _, sep, query = location.partition("?")
    await app(_with_query(scope, query.encode("latin-1")) if sep else scope, receive, send)


async def period_only_first(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """``period_start`` is read only as the query's first parameter: after another one it is
    not seen, and the default period is served."""
    pairs = query_pairs(scope)
    if pairs and _decoded_name(pairs[0]) != "period_start":
        kept = [p for p in pairs if _decoded_name(p) != "period_start"]
        scope = _with_query(scope, b"&".join(kept))
    await app(scope, receive, send)


def _decoded_name(pair: bytes) -> str:
    name = pair.partition(b"=")[0].replace(b"+", b" ")
    return unquote_to_bytes(name).decode("utf-8", "replace")


PERIOD_RAW = re.compile(rb"\d{4}-\d{2}-\d{2}")


async def period_matched_raw(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """The handler finds ``period_start=YYYY-MM-DD`` in the raw query before decoding it: a
    percent-encoded name (``period%5Fstart``) is not found (the default period), a
    percent-encoded digit or hyphen in the value is refused (400)."""
    kept = []
    for pair in query_pairs(scope):
        raw_name, _, raw_value = pair.partition(b"=")
        if raw_name != b"period_start" and _decoded_name(pair) == "period_start":
            continue  # not recognised: as if absent
        if raw_name == b"period_start" and not PERIOD_RAW.fullmatch(raw_value):
            await send_reply(replies.INVALID_PERIOD_START, send)
            return
        kept.append(pair)
    await app(_with_query(scope, b"&".join(kept)), receive, send)


# --- equivalent requests answered differently ---------------------------------------------


def usage_edited(edit: Callable[[Scope, dict[str, Any]], None]) -> Act:
    """The mock's answer; a 200's usage document through ``edit(scope, document)``."""

    async def act(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        start, body = await answer(app, scope, receive)
        if start.get("status") == 200 and body:
            document = json.loads(body)
            edit(scope, document)
            body = replies.dumps(document)
            headers = [*_without(start["headers"], b"content-length"), _length(body)]
            start = {**start, "headers": headers}
        await send(start)
        await send(body_message(body, False))

    return act


def zero_billed(scope: Scope, document: dict[str, Any]) -> None:
    document.update(dict.fromkeys(BILLED, 0))


def memory_in_mib_hours(scope: Scope, document: dict[str, Any]) -> None:
    document["billed_memory_mib_seconds"] //= 3600


def cpu_in_core_seconds(scope: Scope, document: dict[str, Any]) -> None:
    document["billed_cpu_millicore_seconds"] //= 1000


SERVED = "requests served"


def tenth_lower(scope: Scope, document: dict[str, Any]) -> None:
    document.update({f: document[f] * 9 // 10 for f in BILLED})


async def stale_first_request(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """A connection's first request is read from a replica that missed the last backfill
    (every billed counter a tenth lower); later ones on it from the primary."""
    memo = scope.get("extensions", {}).get(CONNECTION)
    first = memo is not None and not memo.get(SERVED)
    if memo is not None:
        memo[SERVED] = memo.get(SERVED, 0) + 1
    if first:
        await usage_edited(tenth_lower)(app, scope, receive, send)
    else:
        await app(scope, receive, send)


async def rechunked(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """The answer with its Content-Length and ``Transfer-Encoding: chunked`` besides: the
    server frames the body chunked and sends both fields."""

    async def both(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), (b"transfer-encoding", b"chunked")]
            message = {**message, "headers": headers}
        await send(message)

    await app(scope, receive, both)
