"""Our readings of the contract where it leaves room, each written once, here.

Our own checks and the way schemathesis's checks are judged (`_generated`) both read them, so
the two can never contradict each other. The one reading that is schema, `period_start` is
an RFC 3339 full-date, is `specs/overlay.yaml`, applied to every spec on load. The README's
"Readings" table lists them all; `conformance/mock/_variants/catalogue.py` has a correct server that
relies on the other side of each.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from conformance._contract import http, lint_notes
from conformance._core.exchange import Exchange

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: Before the Unix epoch a period may be refused (400): epoch-based storage cannot hold it.
EPOCH = dt.date(1970, 1, 1)

#: The methods HTTP defines (RFC 9110 9.3, and PATCH, RFC 5789): a server knows them.
HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)

#: Undeclared methods a server, or a gateway in front of it, may answer and list in `Allow`:
#: HEAD is GET without the body (RFC 9110 9.3.2), OPTIONS describes what the resource
#: supports, CORS preflights included (9.3.7).
MAY_ANSWER = frozenset({"HEAD", "OPTIONS"})

#: An undeclared query parameter is ignored (200) or refused (400): the spec is silent.
UNKNOWN_PARAMETER = (200, 400)

#: `billed_memory_mib_seconds` is "requested memory MiB multiplied by running allocation
#: seconds": a machine's allocation runs while it is awake and requests at least 1 MiB, so
#: each of the period's `billed_awake_seconds` brings at least this many MiB-seconds.
MIN_MEMORY_MIB_PER_AWAKE_SECOND = 1

#: `period_start=` with an empty value is refused as malformed (400) or read as absent,
#: which is the default period (200, "Defaults to first of current month").
EMPTY_PERIOD = (200, 400)

#: A repeated `period_start` is refused (400) or one of its values is used (200): the spec
#: declares one value (`explode: false`) and does not say what a second one means.
REPEATED_PERIOD = (200, 400)


#: A credential that is no Dedalus key as the spec describes one (`Bearer` with no token or
#: no space, another scheme, a token with spaces in it): 401, either of the spec's codes.
MALFORMED_CREDENTIAL = (401,)
#: A key with bytes that are not ASCII: 401, or 400 from a server that refuses such a header
#: value as a malformed request (RFC 9110 5.5 leaves obs-text to the recipient).
NON_ASCII_CREDENTIAL = (400, 401)
#: A key thousands of characters long: 401, or a refusal of the oversized header (431,
#: RFC 6585; or 400, as many servers answer).
OVERSIZED_CREDENTIAL = (400, 401, 431)
#: `Bearer` followed by several spaces, then the key: RFC 6750 allows 1*SP, so the key may be
#: accepted (200) or the value refused (401). Not probed as malformed.
#: A valid key in a place the spec does not declare (query string, cookie, another header)
#: authenticates nothing: 401 `AUTH_REQUIRED`; a query parameter may be refused first as an
#: undeclared one (400).
KEY_IN_QUERY = (400, 401)
#: A path spelled differently from the declared one (trailing slash, doubled slashes, dot
#: segments, percent-encoded letters, other case) may be a 404, a redirect, a 4xx, or the
#: same contract behind the same authentication; never a 2xx without credentials, never 5xx.
PATH_VARIANT_WITHOUT_KEY = range(300, 500)
#: What each wrong key of a short burst may get: a refusal (401, or a WAF's 403), or a limit
#: (429 as RFC 6585 has it, or 503 as nginx's limit_req answers by default); never a 2xx.
BURST_REFUSALS = (401, 403, 429, 503)
#: How many wrong keys a burst sends: enough to trip a lockout that counts a handful, far
#: too few to load a live target.
BURST_SIZE = 12


def org_refusals(own: str | None, other: str) -> tuple[int, ...]:
    """How an `X-Dedalus-Org-Id` naming another org is refused: 403 `AUTH_ORG_MISMATCH`; an
    id that is not shaped like an org id (the own one's shape: a UUID, or a prefix such as
    `org_`) may also be refused as malformed (400)."""
    return (403,) if own is not None and _shape(own) == _shape(other) else (400, 403)


def same_org_id(own: str, other: str) -> bool:
    """Whether `other` names the own org: equal, or, for UUIDs, equal in any letter case
    (RFC 9562 3: "case insensitive on input")."""
    return other == own or (_shape(own) == "uuid" and other.lower() == own.lower())


def _shape(org_id: str) -> str:
    if UUID.fullmatch(org_id):
        return "uuid"
    prefix = org_id.split("_", 1)[0] if "_" in org_id else ""
    return f"prefix:{prefix}:{'lower' if org_id == org_id.lower() else 'mixed'}"


def refusals(method: str) -> tuple[int, ...]:
    """How a method the spec does not declare for a path is refused: 405 (RFC 9110 15.5.6),
    or 501 for a method HTTP does not define, such as QUERY (15.6.2: "the appropriate
    response when the server does not recognize the request method")."""
    return (405,) if method.upper() in HTTP_METHODS else (405, 501)


def period_statuses(day: dt.date, today: dt.date) -> tuple[int, ...]:
    """How a real date as `period_start` is answered. The first of a month from the Unix
    epoch up to the current month is a "billing period start": 200. Another day, a month
    that has not started, or one before 1970 is policy: a server may answer it (200) or
    refuse what is no billing period (400). Never a 5xx, whatever the date."""
    billing_month = day.day == 1 and EPOCH <= day <= today.replace(day=1)
    return (200,) if billing_month else (200, 400)


# --- HTTP semantics beyond the spec's parameters ------------------------------------------

#: The methods sent to the usage path without a valid key: every method HTTP defines that a
#: read-only suite may send (RFC 9110 9.3, PATCH in RFC 5789; CONNECT's request-target is an
#: authority, not a path), QUERY (safe, with content), a WebDAV method (PROPFIND, RFC 4918),
#: a token no one defines, and GET in lower case, another method (names are case-sensitive,
#: RFC 9110 9.1) that a case-insensitive router may still take for GET. A method the spec
#: declares as a write is never sent.
PROBED_METHODS = (
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "QUERY", "PROPFIND",
    "FOO", "get",
)  # fmt: skip
#: The fields with which frameworks let a POST stand for another method.
METHOD_OVERRIDES = ("X-HTTP-Method-Override", "X-Method-Override", "X-HTTP-Method")


def keyless_status_allowed(method: str, status: int) -> bool:
    """How a request without a valid key may be answered, whatever its method and fields: a
    3xx or a 4xx (401; or a 405, 404 or 400 that refuses the method or the request before
    its credentials are read), but not 304, which confirms a stored answer (RFC 9110
    13.2.1: preconditions are ignored where the answer without them would not be a 2xx);
    501 for a method the server does not implement (15.6.2), not GET or HEAD, which every
    general-purpose server supports (9.1); and for OPTIONS a 2xx too, a gateway's answer to
    a CORS preflight, which carries no credentials (9.3.7, Fetch). Never usage data."""
    if 300 <= status < 500:
        return status != 304
    if status == 501:
        return method not in ("GET", "HEAD")
    return method == "OPTIONS" and 200 <= status < 300


#: A 401 without a `WWW-Authenticate` challenge, or without a `Bearer` one where the spec
#: declares a bearer scheme, breaks a MUST of RFC 9110 11.6.1/15.5.2 and RFC 6750 3, yet is
#: reported as a warning, not a violation: the spec documents no response header field, and
#: a server written from it (as the mock was) sends none; the caller's next step is still
#: clear from the spec's own error codes.
CHALLENGE_MISSING = "warning"


#: HEAD, which the spec does not declare, is answered as GET would be without content
#: (RFC 9110 9.3.2), or refused with 405 by a gateway that passes GET only (its Allow then
#: does not list HEAD).
HEAD_REFUSED = (405,)


def shared_reuse(credential: str, response: Mapping[str, str]) -> str | None:
    """Why a shared cache may store an answer to a request whose credentials went in the
    field `credential` and serve it to another caller without asking the origin, or None.

    RFC 9111 3.5: an answer to a request with `Authorization` is reused by a shared cache
    only where `public`, `s-maxage` or `must-revalidate` allow it. Any other field, such as
    `x-api-key`, is no credential to a cache, so such an answer is stored like any other (3)
    unless it says otherwise. Nothing is reused when the answer says `no-store` or
    (unqualified) `private` (5.2.2.5, 5.2.2.7), nothing without asking the origin when it
    says (unqualified) `no-cache` (5.2.2.4), and nothing for another caller when its Vary
    names the credential's field or is `*` (4.1). `public` lets a cache reuse even a stale
    answer (4.2.4); `s-maxage` makes it fresh for shared caches (5.2.2.10). The same holds
    of the fields CDNs read instead of Cache-Control (CDN-Cache-Control, RFC 9213;
    Surrogate-Control).

    Our reading where RFC 9111 leaves room: an answer with no explicit expiration time
    (max-age, s-maxage, Expires) that is not `public` is not taken as storable for reuse,
    although 4.2.2 lets a cache assign it a heuristic freshness (in practice from
    Last-Modified): a server cannot be faulted for what a cache guesses. `private,
    max-age=60` is allowed: only the caller's own cache keeps it."""
    if http.varies_on(response, credential):
        return None
    for name in TARGETED_CACHE_FIELDS:
        value = http.field(response, name)
        if value is None and name == "cache-control":
            value = ""  # Expires alone still makes it fresh
        reason = _shared_reuse(credential, response, value) if value is not None else None
        if reason:
            return reason if name == "cache-control" else f"{name}: {value}: {reason}"
    return None


#: Fields that tell caches how to store an answer: Cache-Control for every cache, and the
#: fields that CDNs read instead of it (RFC 9213 CDN-Cache-Control; Surrogate-Control).
TARGETED_CACHE_FIELDS = ("cache-control", "cdn-cache-control", "surrogate-control")


def _shared_reuse(credential: str, response: Mapping[str, str], value: str) -> str | None:
    directives = http.cache_directives(value)
    for name in ("no-store", "private", "no-cache"):
        if name in directives and directives[name] is None:
            return None
    if "public" in directives:
        return "Cache-Control: public lets a shared cache store it and serve it to anyone"
    shared = http.delta_seconds(directives.get("s-maxage"))
    if shared:
        return f"s-maxage={shared} makes it fresh for shared caches"
    fresh = http.explicit_freshness({**response, "cache-control": value})
    if credential.lower() == "authorization":
        if "must-revalidate" in directives and fresh:
            return f"must-revalidate and {fresh} s of freshness let a shared cache reuse it"
        return None
    if fresh:
        return (
            f"it is fresh for {fresh} s, and {credential} is no credential to a cache: "
            f"it needs private, no-store or no-cache, or Vary: {credential}"
        )
    return None


#: Sizes up to which a request must be served. Beyond them a server may refuse it on size:
#: 414 for a long request-target (RFC 9110 15.5.15), 431 for large header fields (RFC 6585
#: 5), 413 or 400 (RFC 9110 5.4: "an appropriate 4xx"). RFC 9110 4.1 recommends handling
#: URIs of 8000 octets; these are lower, so that no common server's limit is taken for a
#: fault, and the suite sends values on both sides of them.
LONG_TARGET = 1024
LONG_FIELD_LINE = 1024
LARGE_HEADER_SECTION = 4096
SIZE_REFUSALS = (400, 413, 414, 431)
#: A redirect (with a Location) is a documented answer to a request-target of an unusual
#: shape (to its canonical form) or to forwarding fields (to the server's canonical
#: origin); so is 421 Misdirected Request to the latter (RFC 9110 15.5.20).
REDIRECTS = (301, 302, 303, 307, 308)
#: Fields a proxy adds to say where a request came from and how (RFC 7239, and the
#: X-Forwarded-* family that predates it).
FORWARDING_FIELDS = frozenset(
    {"forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto",
     "x-forwarded-port", "x-real-ip", "via"}
)  # fmt: skip
#: Fields that may appear at most once (a second line makes the request malformed to a
#: strict server: 400 allowed).
SINGLETON_FIELDS = frozenset(
    {"content-length", "content-type", "if-modified-since", "if-unmodified-since",
     "if-range", "range", "user-agent", "referer", "origin", "host", "authorization",
     "x-api-key", "expect", "dnt", "upgrade"}
)  # fmt: skip


#: More header fields than this in one request is beyond what HTTP servers commonly take
#: (Python's http.server refuses a 101st field with 431; RFC 9110 5.4 sets no number).
MANY_FIELDS = 100
#: Fields whose presence on a GET without content is already malformed at HTTP's level, or
#: asks for what HTTP's layer may answer itself: framing (RFC 9112 6.1-6.3), Expect (RFC 9110
#: 10.1.1: a 417 is the answer to an expectation the server will not meet) and Range (14: a
#: layer in front may serve parts, or refuse a range with its own 416, as Apache httpd does).
HTTP_LAYER_FIELDS = frozenset({"content-length", "transfer-encoding", "expect", "range"})
#: Fields a reverse proxy or an HTTP server may hold to one line, refusing a second with 400
#: (nginx does so for the conditionals, Host and the framing fields), although some of them
#: are lists that RFC 9110 5.3 lets a sender split.
ONE_LINE_FIELDS = SINGLETON_FIELDS | {
    "if-match",
    "if-none-match",
    "content-range",
    "transfer-encoding",
}


#: What a request in HTTP/1.x with x above 1 may get besides its answer as HTTP/1.1 (RFC 9110
#: 6.2 says it SHOULD be processed as 1.1): our reading, 400, as llhttp (Node's http,
#: uvicorn's httptools, the mock) answers every version but 1.0 and 1.1, and 505 (15.6.6).
HIGHER_MINOR_REFUSALS = frozenset({400, 505})


def outside_the_api(declared_method: str, exchange: Exchange) -> str | None:
    """Why the request of `exchange` lies outside what the spec's operations describe, or
    None: a method the operation does not declare (names are case-sensitive, RFC 9110 9.1),
    a request beyond HTTP's common limits (`LONG_TARGET`, `LONG_FIELD_LINE`,
    `LARGE_HEADER_SECTION`, `MANY_FIELDS`), or one malformed at HTTP's level (a field
    value with a control byte or a byte that is not ASCII, RFC 9110 5.5; a one-line field
    repeated; framing fields or Expect on a request without content; a request written
    malformed on the raw wire on purpose: `Exchange.flaw`; a version other than 1.0 and 1.1).

    Our reading: the spec's schemas and media types describe the answers of its declared
    operations (OpenAPI 3.1 4.8.16: "the expected responses of an operation"). A refusal
    (3xx-5xx) of a request outside them may come from the HTTP layer that stands in front of
    any API, a reverse proxy's or the server's own, with its own body (an HTML page, or
    nothing): it is judged by HTTP and by safety (no usage, no credential, no 5xx, no hang,
    no broken framing, and the MUSTs that apply, such as Allow on a 405: RFC 9110 15.5.6),
    not by the API's error schema and media type."""
    method = exchange.method
    if exchange.flaw:
        return f"a request malformed at HTTP/1.1's level ({exchange.flaw})"
    if exchange.http_version not in ("1.0", "1.1"):
        return f"HTTP/{exchange.http_version}, a version HTTP's layer may refuse"
    if method != declared_method.upper():
        return f"{method} is not the method the spec declares ({declared_method.upper()})"
    request = exchange.request_headers
    if len(urlsplit(exchange.url).query) + len(urlsplit(exchange.url).path) > LONG_TARGET:
        return "a request-target beyond HTTP's common limits"
    if len(request) > MANY_FIELDS or _oversized(request):
        return "header fields beyond HTTP's common limits"
    names = {name.lower() for name in request}
    if not all(_plain_field_value(value) for value in request.values()):
        return "a field value with a control byte or a byte that is not ASCII"
    if any(http.field_lines(request, name) > 1 for name in names & ONE_LINE_FIELDS):
        return "a one-line field repeated"
    if names & HTTP_LAYER_FIELDS:
        return "framing fields, Expect or Range, which HTTP's layer may answer itself"
    return None


def _plain_field_value(value: str) -> bool:
    """Visible ASCII, spaces and tabs only (RFC 9110 5.5, without obs-text)."""
    return all(char == "\t" or " " <= char <= "~" for char in value)


@dataclass(frozen=True)
class Representation:
    """What the plain valid request's answer says of the representation, for judging
    conditional requests: its ETag and Last-Modified, else when its period ended (the
    figures of a closed month last changed when it closed)."""

    etag: str | None
    last_modified: dt.datetime | None
    period_end: dt.datetime | None
    length: int | None = None  # of its content as sent (None: unknown, or in a coding)

    def changed_after(self, moment: dt.datetime) -> bool | None:
        """Whether it was last modified after `moment` (None: unknown)."""
        if self.last_modified is not None:
            return self.last_modified > moment
        if self.period_end is not None and moment < self.period_end:
            return True
        return None


def header_refusal(
    status: int, request: Mapping[str, str], known: Representation, *, malformed: bool
) -> str | None:
    """Why `status` is an answer HTTP names for what this request's header fields ask, or
    None when no field of it calls for that status. `malformed`: a value of it is known to
    be malformed (the caller generated it so).

    304 only to a condition met (If-None-Match naming the current ETag or `*`; else a valid
    If-Modified-Since not before the last change: RFC 9110 13.1.2, 13.1.3); 412 only to one
    failed (If-Match, If-Unmodified-Since: 13.1.1, 13.1.4); 406 only to an Accept that
    excludes JSON, an Accept-Charset that excludes UTF-8 or an Accept-Encoding that excludes
    identity (12.5, 15.5.7; a malformed Accept too); 206 only to a bytes Range whose If-Range,
    if any, names the current representation (a range unit it does not know must be
    ignored: 14.2; 13.1.5), 416 only to one that cannot be served (15.5.17); 417 only to an
    Expect (10.1.1; a 100-continue on a request without content is the client's error too);
    415 only to a Content-Type (15.5.16); 400 to a malformed value, a byte that is not
    ASCII, a repeated single field, content fields or Expect on a GET (9.3.1), or an
    oversized request; 413 and 431 to an oversized one; a redirect or 421 to forwarding
    fields (our reading)."""
    names = {name.lower() for name in request}
    value = functools.partial(http.field, request)
    if status == 304:
        inm, ims = value("if-none-match"), value("if-modified-since")
        if inm is not None:
            return (
                "If-None-Match names the current representation"
                if http.etag_listed(inm, known.etag, weak=True)
                else None
            )
        since = http.http_date(ims or "")
        if since is not None and known.changed_after(since) is not True:
            return "If-Modified-Since is not before the representation's last change"
        return None
    if status == 412:
        if_match, ius = value("if-match"), value("if-unmodified-since")
        if if_match is not None:
            listed = http.etag_listed(if_match, known.etag, weak=False)
            return None if listed else "If-Match names no current representation"
        since = http.http_date(ius or "")
        if since is not None and known.changed_after(since) is not False:
            return "If-Unmodified-Since may be before the representation's last change"
        return None
    if status == 406:
        return _not_acceptable(request)
    if status in (206, 416):
        given = value("range")
        if given is None or http.range_unit(given) != "bytes":
            return None
        if status == 206:
            return None if _if_range_fails(value("if-range"), known) else "a bytes Range"
        return "a bytes Range that cannot be served" if _unservable(given, known) else None
    if status == 417:
        return "an Expect field" if "expect" in names else None
    if status == 415:
        return "a Content-Type on a request without content" if "content-type" in names else None
    if status in (421, *REDIRECTS):
        return "forwarding fields" if names & FORWARDING_FIELDS else None
    if status in SIZE_REFUSALS and _oversized(request):
        return "oversized header fields"
    if status == 400:
        return _malformed(request, names, malformed)
    return None


def _if_range_fails(if_range: str | None, known: Representation) -> bool:
    """Whether an If-Range makes the server ignore the Range (RFC 9110 13.1.5: unless its
    entity-tag strongly matches the current one, or its date is the Last-Modified, the
    whole representation is sent with 200)."""
    if if_range is None:
        return False
    if if_range.strip().startswith(('"', "W/")):
        return not http.etag_listed(if_range, known.etag, weak=False)
    moment = http.http_date(if_range)
    return moment is None or known.last_modified is None or moment != known.last_modified


def _unservable(given: str, known: Representation) -> bool:
    """Whether a bytes Range may be refused with 416: none of its ranges overlaps the
    representation (RFC 9110 15.5.17), or it is malformed or more than two ranges (which
    14.2 lets a server reject), or the length is unknown."""
    ranges = http.byte_ranges(given)
    if ranges is None or len(ranges) > 2 or known.length is None:
        return True
    return all(
        (first is None and last == 0) or (first is not None and first >= known.length)
        for first, last in ranges
    )


def _not_acceptable(request: Mapping[str, str]) -> str | None:
    accept = http.field(request, "accept")
    if accept is not None and http.accept_excludes(accept, "application/json") is not False:
        return "an Accept that excludes application/json (or is malformed)"
    charset = http.field(request, "accept-charset")
    if charset is not None and http.accept_list_excludes(charset, "utf-8", default_ok=False):
        return "an Accept-Charset that excludes UTF-8"
    coding = http.field(request, "accept-encoding")
    if coding is not None and http.accept_list_excludes(coding, "identity", default_ok=True):
        return "an Accept-Encoding that excludes identity"
    return None


def _oversized(request: Mapping[str, str]) -> bool:
    lines = [len(name) + 2 + len(value.encode("utf-8", "surrogateescape"))
             for name, value in request.items()]  # fmt: skip
    return any(line > LONG_FIELD_LINE for line in lines) or sum(lines) > LARGE_HEADER_SECTION


def _malformed(request: Mapping[str, str], names: set[str], malformed: bool) -> str | None:
    if malformed:
        return "a malformed value"
    if not all(value.isascii() for value in request.values()):
        return "bytes that are not ASCII"
    if any(http.field_lines(request, name) > 1 for name in names & ONE_LINE_FIELDS):
        return "a field that may appear once, twice"
    if names & {"content-type", "content-length", "transfer-encoding", "expect"}:
        return "content fields on a request without content"
    return None


def authority_refusal(status: int, location: str | None) -> str | None:
    """Why `status` refuses an absolute-form request-target whose authority the server cannot
    serve (an empty host or userinfo: RFC 9110 4.2.1, 4.2.4; another authority or scheme:
    7.4, 15.5.20), or None: any 4xx (400, 421, 404), or a redirect with a Location.

    Our reading: the MUST to refuse it is not enforced: the plain answer passes too, as Go's
    net/http and uvicorn route such a request by its path and serve it (RFC 9112 3.2.2 has
    an origin server take the target's host, which neither checks)."""
    if 400 <= status < 500:
        return "a refusal of the target's authority"
    if status in REDIRECTS and location:
        return "a redirect"
    return None


def target_refusal(status: int, target_length: int, location: str | None) -> str | None:
    """Why `status` is a documented answer to a request-target of an unusual shape, or None:
    400 (the query refused as malformed), 414 past `LONG_TARGET`, a redirect with a
    Location (to the canonical form)."""
    if status == 400:
        return "the query refused as malformed"
    if status in SIZE_REFUSALS and target_length > LONG_TARGET:
        return "an oversized request-target"
    if status in REDIRECTS and location:
        return "a redirect to the canonical form"
    return None


# --- httplint's notes ------------------------------------------------------------------------

#: Per httplint note class: violation, warning or off, with the reason (`lint_notes`).
LINT_NOTES = lint_notes.LINT_NOTES


#: Note classes judged otherwise on some fields (httplint's subject, `field-<name>`): an
#: invalid `Expires`, "especially the value 0", is one RFC 9111 5.3 has every cache read as
#: already expired, a well-known departure that CDNs and frameworks send: a warning.
LINT_FIELD_VERDICTS = {("BAD_DATE_SYNTAX", "field-expires"): lint_notes.WARNING}


def lint_verdict(note: str, subject: str = "") -> str:
    """How an httplint note is judged: `violation`, `warning` or `off`; a note class the table
    does not know (a newer httplint) is a warning until it is reviewed."""
    field = subject.split()[0] if subject else ""
    if (note, field) in LINT_FIELD_VERDICTS:
        return LINT_FIELD_VERDICTS[(note, field)]
    return LINT_NOTES.get(note, (lint_notes.WARNING, ""))[0]
