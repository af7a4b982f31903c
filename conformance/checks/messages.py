"""Checks on what every HTTP message says besides its content: a Date, no content after a 304
and the 200's metadata on it, no Content-Length on a 204, a challenge on a 401, a connection
closed when asked, CORS fields as Fetch frames them (no credentialed CORS for any origin), no
internals in errors."""

from __future__ import annotations

import re

from conformance._contract import readings
from conformance._contract.spec import Contract, Operation
from conformance._core import trace
from conformance._core.errors import ContractWarning
from conformance._core.exchange import Exchange
from conformance.checks._invariant import Broken, invariant

#: What a stack trace, a server's source path or a database error looks like in an answer.
INTERNALS = (
    ("a Python traceback", re.compile(r"Traceback \(most recent call last\)")),
    ("a stack frame", re.compile(r"File \"[^\"\r\n]+\", line \d+")),
    ("a stack frame", re.compile(r"\bat [\w.$<>]+\([\w.-]+\.(?:java|kt|scala):\d+\)")),
    ("a goroutine dump", re.compile(r"\bgoroutine \d+ \[")),
    (
        "a server file path",
        re.compile(r"(?<![\w:/.-])(?:/[\w.-]+)+/[\w.-]+\.(?:py|rb|js|ts|go|java|php|cs|rs)\b"),
    ),
    ("a server file path", re.compile(r"\b(?:site-packages|node_modules|dist-packages)/")),
    ("an SQL statement", re.compile(r"\bSELECT\b[^\r\n]{0,300}?\bFROM\b")),
    ("an SQL statement", re.compile(r"\b(?:INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b")),
    (
        "a database error",
        re.compile(r"\b(?:psycopg2?|sqlite3|sqlalchemy|pymysql|asyncpg)\.[\w.]*(?:[Ee]rror|exc)"),
    ),
    ("a database error", re.compile(r"\bSQLSTATE\b|\bORA-\d{5}\b|\bjava\.sql\.")),
)


def _request_field(exchange: Exchange, name: str) -> str | None:
    """A field of the request as sent (names compared case-insensitively)."""
    return next((v for k, v in exchange.request_headers.items() if k.lower() == name), None)


@invariant
def date_present(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """ "An origin server with a clock ... MUST generate a Date header field in all 2xx
    (Successful), 3xx (Redirection), and 4xx (Client Error) responses" (RFC 9110 6.6.1; MAY
    for 1xx and 5xx). Not required of a refusal of a request outside the API, which HTTP's
    layer in front of the origin may give (`readings.outside_the_api`): HAProxy's parser
    refusals carry no Date, and no configuration adds one."""
    status = exchange.status or 0
    if exchange.error or not 200 <= status < 500:
        return
    if status >= 300 and readings.outside_the_api(operation.method, exchange):
        return
    if "date" not in exchange.headers:
        raise Broken(
            f"a {exchange.status} without a Date header field",
            expected="Date (RFC 9110 6.6.1)",
            actual="(none)",
            location="header Date",
        )


@invariant
def not_modified_has_no_content(
    contract: Contract, operation: Operation, exchange: Exchange
) -> None:
    """A 304 has no content: "A 304 response is terminated by the end of the header section;
    it cannot contain content or trailers" (RFC 9110 15.4.5; RFC 9112 6.3): bytes after it
    corrupt the next answer on the connection."""
    if exchange.status == 304 and exchange.body:
        raise Broken(
            f"a 304 followed by {len(exchange.body)} bytes of content",
            expected="nothing after the header section (RFC 9110 15.4.5)",
            actual=repr(exchange.body[:40]),
            location="$",
        )


#: The fields a 304 sends when the 200 would have sent them (RFC 9110 15.4.5).
KEPT_ON_304 = ("etag", "vary", "cache-control", "expires", "content-location")


@invariant
def not_modified_as_200(reference: Exchange, exchange: Exchange) -> None:
    """A 304 is the 200 it stands for, without content: "the server generating a 304 response
    MUST generate any of the following header fields that would have been sent in a 200 (OK)
    response to the same request: Content-Location, Date, ETag, and Vary; Cache-Control and
    Expires" (RFC 9110 15.4.5), and it "MUST NOT send Content-Length in such a response unless
    its field value equals the decimal number of octets that would have been sent in the
    content of a 200" (8.6). `reference` is a 200 to the same GET without the condition: the
    fields it carried are on the 304 (present; their values may have moved on), and a
    Content-Length on the 304 is the 200's (as framed, or its content decoded)."""
    if exchange.status != 304 or reference.status != 200 or reference.error:
        return
    missing = [n for n in KEPT_ON_304 if n in reference.headers and n not in exchange.headers]
    if missing:
        raise Broken(
            f"a 304 without the {', '.join(missing)} the 200 carried",
            expected="the 200's Content-Location, ETag, Vary, Cache-Control, Expires "
            "(RFC 9110 15.4.5)",
            actual=", ".join(f"{n}: (none)" for n in missing),
            location=f"header {missing[0]}",
            subject=exchange,
        )
    length = exchange.headers.get("content-length")
    if length is None:
        return
    lengths = {str(len(reference.body)), reference.headers.get("content-length", "").strip()}
    if length.strip() not in lengths:
        raise Broken(
            f"a 304 with Content-Length: {length}, where the 200 had {len(reference.body)} "
            "octets of content",
            expected="no Content-Length, or the 200's (RFC 9110 8.6)",
            actual=f"Content-Length: {length}",
            location="header Content-Length",
            subject=exchange,
        )


@invariant
def no_content_length_in_204(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """ "A server MUST NOT send a Content-Length header field in any response with a status
    code of 1xx (Informational) or 204 (No Content)" (RFC 9110 8.6): a 204 (a gateway's
    answer to a preflight, say) has none (1xx interim answers are not kept by the suite)."""
    length = exchange.headers.get("content-length")
    if exchange.status == 204 and length is not None:
        raise Broken(
            f"a 204 with Content-Length: {length}",
            expected="no Content-Length in a 204 (RFC 9110 8.6)",
            actual=f"Content-Length: {length}",
            location="header Content-Length",
        )


_BEARER = re.compile(r"(?i)(?:^|,)[ \t]*bearer(?:[ \t]|,|$)")


@invariant
def auth_challenge_sent(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """A 401 carries a challenge: "A server generating a 401 (Unauthorized) response MUST send
    a WWW-Authenticate header field containing at least one challenge applicable to the
    target resource" (RFC 9110 11.6.1, 15.5.2), with the `Bearer` scheme where the spec
    declares a bearer scheme (RFC 6750 3). A warning by our reading
    (`readings.CHALLENGE_MISSING`): the spec documents no such field."""
    if exchange.error or exchange.status != 401:
        return
    value = exchange.headers.get("www-authenticate")
    bearer = any(scheme.label == "bearer" for scheme in contract.auth_schemes)
    if value is None or not value.strip():
        note, message = "no_challenge", "a 401 without a WWW-Authenticate challenge"
    elif bearer and not _BEARER.search(value):
        note, message = "no_bearer_challenge", f"a 401 challenges {value!r}, not Bearer"
    else:
        return
    expected = "WWW-Authenticate with a Bearer challenge (RFC 9110 11.6.1, RFC 6750 3)"
    if readings.CHALLENGE_MISSING == "violation":
        raise Broken(message, expected=expected, actual=value or "(none)", location=_WWW_AUTH)
    trace.warn(ContractWarning.of(exchange, "auth_challenge_sent", note, _WWW_AUTH, message))


_WWW_AUTH = "header WWW-Authenticate"


@invariant
def connection_close_honoured(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """A request that says `Connection: close` ends its connection: "A server that receives a
    'close' connection option MUST initiate closure of the connection ... after it sends the
    final response" (RFC 9112 9.6), so its answer neither says `keep-alive` nor leaves the
    connection open."""
    if exchange.error:
        return
    if exchange.left_open:  # only a request that asked for the close is watched for it
        raise Broken(
            f"a request with Connection: close answered {exchange.status}, and the "
            "connection left open after it",
            expected="the server closes the connection after its answer (RFC 9112 9.6)",
            actual="still open after the answer",
            location="header Connection",
        )
    asked = _request_field(exchange, "connection") or ""
    if "close" not in asked.lower().replace(" ", "").split(","):
        return
    said = exchange.headers.get("connection", "")
    tokens = [token.strip().lower() for token in said.split(",")]
    if "keep-alive" in tokens and "close" not in tokens:
        raise Broken(
            f"a request with Connection: close answered {exchange.status} with Connection: {said}",
            expected="Connection: close, or none, and the connection closed (RFC 9112 9.6)",
            actual=f"Connection: {said}",
            location="header Connection",
        )


@invariant
def cors_credentials_not_any_origin(
    contract: Contract, operation: Operation, exchange: Exchange
) -> None:
    """A credentialed CORS answer never opens to any origin: `*` in
    Access-Control-Allow-Origin is invalid with `Access-Control-Allow-Credentials: true`
    (Fetch, CORS check), and echoing whatever Origin a request carries (the suite's are made
    up, `null` among them) with credentials lets every site read the caller's usage with
    the caller's credentials (OWASP API8:2023, CORS misconfiguration)."""
    origin = _request_field(exchange, "origin")
    allowed = exchange.headers.get("access-control-allow-origin", "").strip()
    credentials = exchange.headers.get("access-control-allow-credentials", "").strip().lower()
    if exchange.error or credentials != "true" or not allowed:
        return
    if allowed == "*" or (origin is not None and allowed == origin.strip()):
        what = "any origin (*)" if allowed == "*" else f"the request's Origin {allowed}"
        raise Broken(
            f"a {exchange.status} allows {what} with Access-Control-Allow-Credentials: true",
            expected="credentials only for the server's own origins, never * or an echo",
            actual=f"Access-Control-Allow-Origin: {allowed}; Access-Control-Allow-Credentials: "
            "true",
            location="header Access-Control-Allow-Origin",
        )


#: A serialized origin (Fetch's origin-or-null, besides `null`): scheme "://" host [":" port],
#: nothing after it (no path, no trailing slash), one origin only.
SERIALIZED_ORIGIN = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]*://(?:\[[0-9A-Fa-f:.]+\]|[^\s/?#,:\[\]]+)(?::\d+)?"
)
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: The Access-Control-* response fields whose value is a list of tokens (Fetch 3.3.4: #method,
#: #field-name).
CORS_LISTS = (
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-expose-headers",
)


def _tokens(value: str) -> list[str]:
    """The non-empty members of a comma-separated list (empty members tolerated, RFC 9110 5.6.1)."""
    return [member.strip() for member in value.split(",") if member.strip()]


@invariant
def cors_allow_origin_one_value(
    contract: Contract, operation: Operation, exchange: Exchange
) -> None:
    """Access-Control-Allow-Origin is one value: `*`, `null` or one serialized origin, scheme
    "://" host and port, nothing after them (Fetch 3.3.4: `origin-or-null / wildcard`). A list
    of origins, a repeated field or a trailing slash never matches the browser's serialized
    Origin, so the answer is not shared (Fetch's CORS check compares them byte for byte).
    Which origin it names is the server's choice: a fixed origin of its own is allowed."""
    if exchange.error or "access-control-allow-origin" not in exchange.headers:
        return
    value = exchange.headers["access-control-allow-origin"].strip(" \t")
    if value in ("*", "null") or SERIALIZED_ORIGIN.fullmatch(value):
        return
    raise Broken(
        f"a {exchange.status} says Access-Control-Allow-Origin: {value[:120]}",
        expected="one value: *, null or one serialized origin (Fetch 3.3.4)",
        actual=value[:120],
        location="header Access-Control-Allow-Origin",
    )


@invariant
def cors_fields_well_formed(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """The other Access-Control-* response fields follow Fetch's ABNF (3.3.4):
    Access-Control-Allow-Credentials is exactly `true` (case-sensitive: a browser takes `True`
    or `1` for no), Access-Control-Max-Age is delta-seconds, and Allow-Methods, Allow-Headers
    and Expose-Headers are comma-separated lists of tokens (`*` among them)."""
    if exchange.error:
        return
    headers = exchange.headers
    found: tuple[str, str, str] | None = None
    credentials = headers.get("access-control-allow-credentials")
    if credentials is not None and credentials.strip(" \t") != "true":
        found = ("Access-Control-Allow-Credentials", credentials, "exactly true (case-sensitive)")
    age = headers.get("access-control-max-age")
    if found is None and age is not None and not age.strip(" \t").isdigit():
        found = ("Access-Control-Max-Age", age, "delta-seconds: digits only")
    for name in CORS_LISTS:
        value = headers.get(name)
        if found is None and value is not None and not all(map(TOKEN.fullmatch, _tokens(value))):
            found = (name.title(), value, "a comma-separated list of tokens")
    if found is not None:
        name, value, expected = found
        raise Broken(
            f"a {exchange.status} says {name}: {value[:120]}",
            expected=f"{expected} (Fetch 3.3.4)",
            actual=value[:120],
            location=f"header {name}",
        )


@invariant
def cors_echo_varies_on_origin(
    contract: Contract, operation: Operation, exchange: Exchange
) -> None:
    """An answer whose Access-Control-Allow-Origin names the request's own Origin (not `*`,
    not a fixed origin) depends on Origin, and says so with `Vary: Origin` (or `Vary: *`):
    otherwise a cache hands the answer shared with one origin to a request from another
    (Fetch, CORS protocol and HTTP caches; RFC 9110 12.5.5)."""
    origin = _request_field(exchange, "origin")
    allowed = exchange.headers.get("access-control-allow-origin", "").strip(" \t")
    if exchange.error or origin is None or allowed in ("", "*") or allowed != origin.strip():
        return
    vary = [member.lower() for member in _tokens(exchange.headers.get("vary", ""))]
    if "origin" not in vary and "*" not in vary:
        raise Broken(
            f"a {exchange.status} names the request's Origin in Access-Control-Allow-Origin "
            "without Vary: Origin",
            expected="Vary: Origin (Fetch, CORS protocol and HTTP caches)",
            actual=f"Vary: {exchange.headers.get('vary', '(none)')}",
            location="header Vary",
        )


@invariant
def preflight_answer_ok(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """A CORS-preflight answer that grants what the preflight asked (its origin, `*` or the
    request's Origin; its method and request fields, listed or `*`) has an ok status,
    200-299: "A successful HTTP response to a CORS-preflight request ... is restricted to an
    ok status" (Fetch 3.3.3), and a browser fails a preflight whatever it grants otherwise.
    A preflight answer that grants less (a refusal, as Starlette's 400 is) is not judged."""
    origin = _request_field(exchange, "origin")
    method = _request_field(exchange, "access-control-request-method")
    if exchange.error or exchange.method != "OPTIONS" or origin is None or method is None:
        return
    headers = exchange.headers
    if headers.get("access-control-allow-origin", "").strip(" \t") not in ("*", origin.strip()):
        return
    methods = _tokens(headers.get("access-control-allow-methods", ""))
    fields = {m.lower() for m in _tokens(headers.get("access-control-allow-headers", ""))}
    asked_fields = _request_field(exchange, "access-control-request-headers") or ""
    asked = {m.lower() for m in _tokens(asked_fields)}
    if method.strip() not in methods and "*" not in methods:
        return
    if not (asked <= fields or "*" in fields):
        return
    if not 200 <= (exchange.status or 0) < 300:
        raise Broken(
            f"a preflight granted (its origin, method and fields) with status {exchange.status}",
            expected="an ok status, 200-299 (Fetch 3.3.3)",
            actual=str(exchange.status),
            location="status",
        )


@invariant
def errors_reveal_no_internals(
    contract: Contract, operation: Operation, exchange: Exchange
) -> None:
    """No answer carries a stack trace, a server's source file path or SQL, in its body or
    its header fields: verbose errors expose the implementation (OWASP API8:2023, security
    misconfiguration: "Error messages include stack traces, or expose other sensitive
    information")."""
    places = [("body", exchange.body[:65536].decode("latin-1"))]
    places += [(f"header {name}", value) for name, value in exchange.headers.items()]
    for where, text in places:
        for what, pattern in INTERNALS:
            found = pattern.search(text)
            if found:
                raise Broken(
                    f"a {exchange.status} shows {what} in its {where}",
                    expected="no traceback, source path or SQL in any answer",
                    actual=exchange.masker.text(found.group(0))[:120],
                    location="$" if where == "body" else where,
                )
