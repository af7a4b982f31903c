"""Variants in HTTP's semantics (RFC 9110, RFC 9111): what a correct server may do with the
request fields and methods that the spec does not mention. Entity tags and conditional
requests, content negotiation, caching directives, size limits, HEAD and OPTIONS, methods it
does not know, byte ranges, strict field values. ASGI acts for ``wire.layer``; each changes the
mock's correct answer only where its reading allows, and leaves every other answer alone.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable

from starlette.datastructures import Headers as RequestHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conformance.mock import _layers as layers
from conformance.mock import _replies as replies
from conformance.mock._app import USAGE_PATH
from conformance.mock._variants.wire import Headers, header, without

KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
ALLOW_WITH_OPTIONS = b"GET, HEAD, OPTIONS"


def usage_read(scope: Scope) -> bool:
    """GET or HEAD on /v1/usage: the requests whose answer is the usage representation."""
    return scope["path"] == USAGE_PATH and scope["method"] in ("GET", "HEAD")


def request_fields(scope: Scope) -> RequestHeaders:
    return RequestHeaders(scope=scope)


def _start(status: int, headers: Headers) -> Message:
    return {"type": "http.response.start", "status": status, "headers": headers}


async def _send(start: Message, body: bytes, send: Send) -> None:
    await send(start)
    await send(layers.body_message(body, False))


async def _send_reply(reply: replies.Reply, send: Send, *extra: tuple[bytes, bytes]) -> None:
    headers = [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
    headers += [
        *extra,
        (b"content-type", reply.media_type.encode()),
        (b"content-length", b"%d" % len(reply.body)),
    ]
    await _send(_start(reply.status, headers), reply.body, send)


Change = Callable[[Scope, Message, bytes, Send], Awaitable[None]]


def on_usage_answer(change: Change) -> layers.Act:
    """For GET/HEAD /v1/usage: the mock's whole answer (status 200 or not) to ``change(scope,
    start, body, send)``, which sends what it decides; other requests pass through."""

    async def act(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        if not usage_read(scope):
            await app(scope, receive, send)
            return
        start, body = await layers.answer(app, scope, receive)
        await change(scope, start, body, send)

    return act


# --- entity tags and conditional requests (RFC 9110 8.8.3, 13) ------------------------------

TAGS = re.compile(r'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')


def entity_tag(body: bytes, weak: bool) -> bytes:
    tag = b'"%s"' % hashlib.sha256(body).hexdigest()[:24].encode()
    return b"W/" + tag if weak else tag


def listed(value: str) -> list[tuple[bool, str]] | None:
    """An If-Match/If-None-Match value as (weak, opaque-tag) pairs, ``[]`` for ``*``; None when
    it is neither (such a field is ignored)."""
    if value.strip() == "*":
        return []
    found, position = [], 0
    text = value.strip()
    while position < len(text):
        match = TAGS.match(text, position)
        if match is None or match.end() == position:
            return None
        found.append((bool(match.group(1)), match.group(2)))
        position = match.end()
    return found or None


def matches(tag: bytes, value: str, *, strong: bool) -> bool | None:
    """Whether condition ``value`` names ``tag`` (``*`` names any), by the strong or the weak
    comparison of RFC 9110 8.8.3.2; None for a value that is not a condition."""
    tags = listed(value)
    if tags is None:
        return None
    if not tags:
        return True
    weak_tag = tag.startswith(b"W/")
    opaque = tag.removeprefix(b"W/").decode()
    return any(
        candidate == opaque and not (strong and (weak or weak_tag)) for weak, candidate in tags
    )


PRECONDITION_FAILED = replies.problem(
    412, "Precondition Failed", "If-Match names no current representation of /v1/usage"
)
#: Header fields a 304 carries that the 200 would have (RFC 9110 15.4.5).
KEPT_ON_304 = (b"cache-control", b"content-location", b"date", b"etag", b"expires", b"vary")


def conditional(weak: bool) -> layers.Act:
    """ETags on usage 200s; If-Match that names no current tag: 412; If-None-Match that names
    the current one: 304 without content. Conditions on any other answer are ignored, so a
    request without a valid key still gets its 401 (RFC 9110 13.2.1)."""

    async def change(scope: Scope, start: Message, body: bytes, send: Send) -> None:
        if start["status"] != 200:
            await _send(start, body, send)
            return
        tag = entity_tag(body, weak)
        headers = [*start["headers"], (b"etag", tag)]
        fields = request_fields(scope)
        if "if-match" in fields and matches(tag, fields["if-match"], strong=True) is False:
            await _send_reply(PRECONDITION_FAILED, send)
            return
        if "if-none-match" in fields and matches(tag, fields["if-none-match"], strong=False):
            kept = [(n, v) for n, v in headers if n.lower() in KEPT_ON_304]
            await _send(_start(304, kept), b"", send)
            return
        await _send({**start, "headers": headers}, body, send)

    return on_usage_answer(change)


# --- content negotiation (RFC 9110 12.5.1) -------------------------------------------------

MEDIA_RANGE = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)/([!#$%&'*+.^_`|~0-9A-Za-z-]+)")


def json_quality(accept: str) -> float | None:
    """The quality the Accept value gives application/json: that of the most specific range
    matching it (0 when none does); None when no member is a media range (ignored)."""
    best: tuple[int, float] | None = None
    parsed = False
    for member in accept.split(","):
        media, *params = (part.strip() for part in member.split(";"))
        match = MEDIA_RANGE.fullmatch(media)
        if match is None:
            continue
        parsed = True
        kind, sub = match.group(1).lower(), match.group(2).lower()
        specificity = {("application", "json"): 2, ("application", "*"): 1, ("*", "*"): 0}.get(
            (kind, sub)
        )
        if specificity is None:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 1.0
        if best is None or specificity > best[0]:
            best = (specificity, q)
    if not parsed:
        return None
    return 0.0 if best is None else best[1]


NOT_ACCEPTABLE = replies.problem(
    406, "Not Acceptable", "/v1/usage is available as application/json only"
)


async def _negotiated(scope: Scope, start: Message, body: bytes, send: Send) -> None:
    accept = ", ".join(request_fields(scope).getlist("accept"))
    quality = json_quality(accept) if accept.strip() else None
    if start["status"] == 200 and quality is not None and quality <= 0:
        await _send_reply(NOT_ACCEPTABLE, send)
        return
    await _send(start, body, send)


negotiated = on_usage_answer(_negotiated)


# --- caching directives (RFC 9111 5.2) -----------------------------------------------------


def _vary(headers: Headers, names: bytes) -> Headers:
    old = header(headers, b"vary")
    return [*without(headers, b"vary"), (b"vary", names if old is None else old + b", " + names)]


def cache_directives(
    ok: bytes, vary: bytes, errors: bytes | None
) -> Callable[[Scope, int, Headers], Headers]:
    """``Cache-Control: ok`` and ``Vary: vary`` on usage 200s; ``Cache-Control: errors`` (when
    given) on every error answer."""

    def edit(scope: Scope, status: int, headers: Headers) -> Headers:
        headers = without(headers, b"cache-control")
        if status == 200 and usage_read(scope):
            return [*_vary(headers, vary), (b"cache-control", ok)]
        if status >= 400 and errors is not None:
            return [*headers, (b"cache-control", errors)]
        return headers

    return edit


def random_entity_tag(scope: Scope, status: int, headers: Headers) -> Headers:
    """A fresh strong ETag on each usage 200."""
    if status == 200 and usage_read(scope):
        return [*headers, (b"etag", b'"%s"' % secrets.token_hex(12).encode())]
    return headers


# --- cookies (RFC 6265) -----------------------------------------------------------------

STICKY_COOKIES = (
    b"DCSLB=node-a.4f2c; Path=/; Expires=Wed, 01 Jan 2031 00:00:00 GMT; HttpOnly",
    b"dcs_theme=light; Path=/; Max-Age=31536000; SameSite=Lax",
)


def sticky_cookies(scope: Scope, status: int, headers: Headers) -> Headers:
    """Two Set-Cookie field lines on every answer: a load balancer's and the console's."""
    return [*headers, *((b"set-cookie", cookie) for cookie in STICKY_COOKIES)]


# --- size limits (RFC 9110 15.5.15, RFC 6585 5) --------------------------------------------

TARGET_LIMIT = 2048
FIELD_LIMIT = 4096
SECTION_LIMIT = 8192
URI_TOO_LONG = replies.problem(
    414, "URI Too Long", f"request-targets are limited to {TARGET_LIMIT} bytes"
)
FIELDS_TOO_LARGE = replies.problem(
    431,
    "Request Header Fields Too Large",
    f"a header field is limited to {FIELD_LIMIT} bytes, the header section to {SECTION_LIMIT}",
)


async def size_limits(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """414 for a request-target over ``TARGET_LIMIT`` bytes; 431 for a field line over
    ``FIELD_LIMIT`` or a header section over ``SECTION_LIMIT``."""
    if len(layers.request_target(scope)) > TARGET_LIMIT:
        await _send_reply(URI_TOO_LONG, send)
        return
    lines = [len(name) + 2 + len(value) for name, value in scope["headers"]]
    if any(size > FIELD_LIMIT for size in lines) or sum(size + 2 for size in lines) > SECTION_LIMIT:
        await _send_reply(FIELDS_TOO_LARGE, send)
        return
    await app(scope, receive, send)


# --- HEAD and OPTIONS (RFC 9110 9.3.2, 9.3.7) ----------------------------------------------


async def head_without_length(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """HEAD answered with the GET's status and header fields but no Content-Length."""
    if scope["method"] != "HEAD":
        await app(scope, receive, send)
        return
    start, _ = await layers.answer(app, scope, receive)
    await _send({**start, "headers": without(start["headers"], b"content-length")}, b"", send)


def allow_options(scope: Scope, status: int, headers: Headers) -> Headers:
    """A 405's Allow lists OPTIONS too (the resource answers it)."""
    if status != 405:
        return headers
    return [*without(headers, b"allow"), (b"allow", ALLOW_WITH_OPTIONS)]


ALLOWED_REQUEST_FIELDS = ("authorization", "x-api-key", "x-dedalus-org-id")
EXPOSED = b"Retry-After"


def _cors_fields(scope: Scope) -> Headers:
    origin = request_fields(scope).get("origin")
    if origin is None:
        return []
    return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]


def _preflight_fields(scope: Scope) -> Headers:
    fields = request_fields(scope)
    if "access-control-request-method" not in fields or "origin" not in fields:
        return []
    return [
        (b"access-control-allow-methods", b"GET, HEAD"),
        (b"access-control-allow-headers", ", ".join(ALLOWED_REQUEST_FIELDS).encode()),
        (b"access-control-max-age", b"600"),
    ]


async def cors(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """OPTIONS /v1/usage: 204 with Allow, and with CORS fields for an Origin (a preflight gets
    the methods and request fields allowed); other answers on /v1/usage to a request with an
    Origin get Access-Control-Allow-Origin naming it and Vary: Origin."""
    if scope["path"] != USAGE_PATH:
        await app(scope, receive, send)
        return
    if scope["method"] == "OPTIONS":
        headers = [(b"allow", ALLOW_WITH_OPTIONS), *_cors_fields(scope), *_preflight_fields(scope)]
        await _send(_start(204, headers), b"", send)
        return
    extra = _cors_fields(scope)

    async def edited(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = allow_options(scope, message["status"], list(message.get("headers", [])))
            if extra:
                headers = [*_vary(headers, b"Origin"), extra[0]]
                headers.append((b"access-control-expose-headers", EXPOSED))
            message = {**message, "headers": headers}
        await send(message)

    await app(scope, receive, edited)


#: What Starlette's CORSMiddleware sends on every preflight, allowed or not (allow_origins the
#: console's, allow_methods GET, allow_headers the key's fields, allow_credentials).
STARLETTE_PREFLIGHT = [
    (b"access-control-allow-methods", b"GET"),
    (b"access-control-max-age", b"600"),
    (
        b"access-control-allow-headers",
        b"Accept, Accept-Language, Content-Language, Content-Type, authorization, x-api-key",
    ),
    (b"access-control-allow-credentials", b"true"),
    (b"vary", b"Origin"),
]
STARLETTE_ALLOWED = "https://console.dcs.example"


async def starlette_cors(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Starlette's CORSMiddleware, for the console's origin with credentials: a preflight
    gets its fields, and 200 with the origin allowed only when origin, method and request
    fields are all allowed, else 400 text/plain naming what is not; other requests with an
    Origin get Access-Control-Allow-Credentials, and the origin with Vary: Origin when it is
    the console."""
    fields = request_fields(scope)
    origin = fields.get("origin")
    if origin is None:
        await app(scope, receive, send)
        return
    if scope["method"] == "OPTIONS" and "access-control-request-method" in fields:
        headers = list(STARLETTE_PREFLIGHT)
        failures = []
        if origin == STARLETTE_ALLOWED:
            headers.append((b"access-control-allow-origin", origin.encode("latin-1")))
        else:
            failures.append("origin")
        if fields["access-control-request-method"] != "GET":
            failures.append("method")
        allowed = {"accept", "accept-language", "content-language", "content-type"}
        asked = fields.get("access-control-request-headers", "")
        names = {n.strip().lower() for n in asked.split(",") if n.strip()}
        if not names <= allowed | {"authorization", "x-api-key"}:
            failures.append("headers")
        body = b"Disallowed CORS " + ", ".join(failures).encode() if failures else b"OK"
        headers += [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"%d" % len(body)),
        ]
        await _send(_start(400 if failures else 200, headers), body, send)
        return
    extra = [(b"access-control-allow-credentials", b"true")]
    if origin == STARLETTE_ALLOWED:
        extra.append((b"access-control-allow-origin", origin.encode("latin-1")))

    async def edited(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if len(extra) > 1:
                headers = _vary(headers, b"Origin")
            message = {**message, "headers": [*headers, *extra]}
        await send(message)

    await app(scope, receive, edited)


async def options_200(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """OPTIONS /v1/usage: 200 with Allow and Content-Length: 0; 405s list OPTIONS."""
    if scope["path"] == USAGE_PATH and scope["method"] == "OPTIONS":
        headers = [(b"allow", ALLOW_WITH_OPTIONS), (b"content-length", b"0")]
        await _send(_start(200, headers), b"", send)
        return

    async def edited(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = allow_options(scope, message["status"], list(message.get("headers", [])))
            message = {**message, "headers": headers}
        await send(message)

    await app(scope, receive, edited)


# --- methods it does not know (RFC 9110 9.1, 15.6.2) ---------------------------------------

NOT_IMPLEMENTED = replies.problem(
    501, "Not Implemented", "the server does not implement this request method"
)


async def unknown_method_501(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["method"] in KNOWN_METHODS:
        await app(scope, receive, send)
        return
    await _send_reply(NOT_IMPLEMENTED, send)


# --- byte ranges (RFC 9110 14) -------------------------------------------------------------

BYTE_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")


UNSATISFIABLE = (0, -1)


def byte_range(value: str, length: int) -> tuple[int, int] | None:
    """The single byte range of ``value`` as (first, last), ``UNSATISFIABLE`` when it lies
    beyond ``length`` bytes; None for what the server ignores (another unit, several ranges,
    bad syntax)."""
    match = BYTE_RANGE.fullmatch(value)
    if match is None or not (match.group(1) or match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:  # a suffix: the last n bytes
        size = int(last)
        return (max(0, length - size), length - 1) if size and length else UNSATISFIABLE
    low = int(first)
    if last and int(last) < low:
        return None  # invalid: ignored (RFC 9110 14.1.1)
    high = min(int(last), length - 1) if last else length - 1
    return (low, high) if low < length else UNSATISFIABLE


RANGE_NOT_SATISFIABLE = replies.problem(
    416, "Range Not Satisfiable", "the range lies beyond the representation"
)


async def _ranged(scope: Scope, start: Message, body: bytes, send: Send) -> None:
    fields = request_fields(scope)
    if start["status"] != 200:
        await _send(start, body, send)
        return
    headers = [*start["headers"], (b"accept-ranges", b"bytes")]
    wanted = fields.get("range") if scope["method"] == "GET" else None
    chosen = None if wanted is None or "if-range" in fields else byte_range(wanted, len(body))
    if chosen is None:
        await _send({**start, "headers": headers}, body, send)
    elif chosen == UNSATISFIABLE:
        content_range = (b"content-range", b"bytes */%d" % len(body))
        await _send_reply(RANGE_NOT_SATISFIABLE, send, content_range)
    else:
        first, last = chosen
        part = body[first : last + 1]
        headers = without(headers, b"content-length")
        headers += [
            (b"content-range", b"bytes %d-%d/%d" % (first, last, len(body))),
            (b"content-length", b"%d" % len(part)),
        ]
        await _send(_start(206, headers), part, send)


ranges = on_usage_answer(_ranged)


# --- strict field values (RFC 9110 5.5, 10.1.1) --------------------------------------------

EXPECTATION_FAILED = replies.problem(
    417, "Expectation Failed", "the only expectation supported is 100-continue"
)
OPAQUE_OR_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f-\xff]")


async def strict_fields(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """400 (the spec's INVALID_REQUEST) for a field value with a byte that is not visible
    ASCII, space or tab; 417 for an expectation other than 100-continue."""
    if any(OPAQUE_OR_CONTROL.search(value) for _, value in scope["headers"]):
        await _send_reply(replies.INVALID_REQUEST, send)
        return
    expectations = request_fields(scope).getlist("expect")
    if any(value.strip().lower() != "100-continue" for value in expectations):
        await _send_reply(EXPECTATION_FAILED, send)
        return
    await app(scope, receive, send)
