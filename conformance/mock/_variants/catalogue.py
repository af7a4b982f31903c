"""A catalogue of variants: correct DCS servers that differ from the mock only where the
contract (the OpenAPI spec, HTTP as RFC 9110/9112 define it, JSON as RFC 8259 does) leaves
room. The suite must pass every one: they prove it raises no false alarms.

    app = variant_app(fixtures, ["chunked_bodies"])   # or apply_variant(create_app(), name)
    with serve(app) as server: ...                     # serve the app *returned*

A ``Variant`` says what differs and, in ``reading``, which standard or open point of the
contract allows it. ``python -m conformance.mock --variant NAME`` serves one;
``--list-variants`` prints the catalogue; ``python -m conformance.selftest`` runs the suite
against every variant (each must pass) beside the faults (each must be caught).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from starlette.types import ASGIApp

from conformance.mock import _layers as layers
from conformance.mock._layers import Apply, layered_app
from conformance.mock._model import Fixtures
from conformance.mock._state import Clock
from conformance.mock._variants import edge, http1, semantics, steps
from conformance.mock._variants import wire as http


@dataclass(frozen=True)
class Variant:
    """A correct server that differs from the mock, and the reading that allows it."""

    name: str
    description: str
    reading: str
    apply: Apply = field(repr=False, compare=False)


_VARIANTS = [
    Variant(
        "media_type_params",
        "every JSON answer says application/json; charset=utf-8 (application/problem+json; "
        "charset=utf-8)",
        "RFC 9110 8.3.1 makes parameters part of any Content-Type while the media type stays "
        "type/subtype, and RFC 8259 section 11 says a charset parameter on application/json "
        "has no effect on compliant recipients.",
        http.layer(http.on_start(http.charset_param)),
    ),
    Variant(
        "chunked_bodies",
        "every body to an HTTP/1.1 request is sent Transfer-Encoding: chunked in several "
        "chunks, without Content-Length (an answer to HTTP/1.0 keeps its Content-Length)",
        "RFC 9112 6.1 and 7.1 let an HTTP/1.1 server frame any response body as chunked instead "
        "of giving Content-Length, and every HTTP/1.1 recipient must be able to parse it; "
        "6.1 bars Transfer-Encoding from an answer to HTTP/1.0.",
        http.layer(http.chunked),
    ),
    Variant(
        "http10_close_delimited",
        "answers come as HTTP/1.0 with Connection: close and no Content-Length: the body ends "
        "when the server closes the connection",
        "RFC 9110 2.5 has a server answer in the highest version it conforms to, 1.0 for an "
        "HTTP/1.0 server or proxy, and RFC 9112 6.3 (rule 8) makes a response body without "
        "Content-Length or Transfer-Encoding end when the server closes the connection.",
        http.layer(http.http10, layers.WireProtocol),
    ),
    Variant(
        "json_reordered_pretty",
        "JSON members in reverse order, pretty-printed (two-space indentation, spaces after "
        "':' and ','), a newline at the end",
        "RFC 8259 section 4 makes an object an unordered collection of members and section 2 "
        "allows insignificant whitespace around every structural character; the schemas "
        "constrain values, not layout.",
        http.layer(http.rewritten(http.pretty_reordered)),
    ),
    Variant(
        "json_escaped_strings",
        'every character of every JSON string is a \\uXXXX escape ("\\u0070\\u0072\\u006F" '
        'for "pro"), upper-case hex',
        "RFC 8259 section 7 lets any character of a string be escaped as \\uXXXX, with hex "
        "digits in either case, without changing the string's value.",
        http.layer(http.rewritten(http.strings_escaped)),
    ),
    Variant(
        "standard_extra_headers",
        "every answer carries X-Request-Id (fresh each time), Cache-Control: no-store, "
        "Strict-Transport-Security, Vary, Server and Date; 401s challenge with "
        'WWW-Authenticate: Bearer realm="dcs" alone (no error code)',
        "The spec declares no response header fields, so others may come with any answer and "
        "recipients ignore those they do not know (RFC 9110 5.1), and RFC 9110 15.5.2 even "
        "requires a WWW-Authenticate challenge (11.6.1) on every 401.",
        http.layer(http.on_start(http.standard_headers)),
    ),
    Variant(
        "gateway_options_head",
        "a gateway in front answers OPTIONS on any path with 204, Allow and CORS fields, HEAD "
        "with the GET's header fields and no body, and its 405s say Allow: GET, HEAD, OPTIONS",
        "RFC 9110 9.3.7 lets a server describe any resource's communication options in a 2xx "
        "answer to OPTIONS, 9.3.2 defines HEAD as GET without the body, and 10.2.1 has Allow "
        "list the methods the resource supports, which then include OPTIONS; the spec "
        "documents GET and forbids no other method.",
        http.layer(http.gateway),
    ),
    Variant(
        "strict_period_policy",
        "400 (spec error shape, retryable false) for a real date that is not the 1st, a period "
        "after the current month, an undeclared query parameter, a repeated period_start",
        "The spec types period_start as a free string ('Billing period start (YYYY-MM-DD)') "
        "and documents 400 'Invalid request' without saying what is invalid, so which dates "
        "and parameters a server accepts beyond the month starts up to now is its policy.",
        steps.strict_period_policy(),
    ),
    Variant(
        "rate_limited",
        "a token bucket per client address (bursts of 200, 10/s): when empty, 429 "
        "application/problem+json with Retry-After: 1; the retry after it goes through",
        "RFC 6585 section 4 defines 429 Too Many Requests with an optional Retry-After (RFC "
        "9110 10.2.3), and the spec's default response covers a status it does not list as "
        "application/problem+json ErrorModel.",
        http.stateful(http.RateLimiter),
    ),
    Variant(
        "rare_retryable_502",
        "1 usage answer in 40 per client is 502 BILLING_LEDGER_UNAVAILABLE, retryable, "
        "retry_after_ms 50; the immediate retry succeeds",
        "The spec documents 502 'Billing ledger unavailable' in its error shape with "
        "retryable and retry_after_ms, so a correct server answers it when its ledger blips "
        "and a retry after retry_after_ms gets the usage.",
        http.stateful(http.LedgerBlips),
    ),
    Variant(
        "gzip_responses",
        "bodies are gzip-coded (Content-Encoding: gzip, Vary: Accept-Encoding) whenever the "
        "request's Accept-Encoding allows it",
        "RFC 9110 8.4 and 12.5.3 let a server apply a content coding the request's "
        "Accept-Encoding accepts, labelled with Content-Encoding; decoded, the representation "
        "is the same JSON.",
        http.layer(http.rewritten(http.gzipped)),
    ),
    Variant(
        "other_error_texts",
        "other message wording, details maps of strings on 400/401/403, and 405 problem "
        "documents with a documentation type URI and another detail",
        "The spec fixes error_code and retryable but not the wording of message, allows "
        "details (a map of strings) on every error status, and leaves ErrorModel's type, title "
        "and detail free.",
        steps.other_error_texts(),
    ),
    Variant(
        "connection_close_always",
        "every answer is HTTP/1.1 with Content-Length and Connection: close, and the server "
        "closes the connection after it",
        "RFC 9112 9.3 and 9.6 make persistent connections a default a server may end after any "
        "response by sending Connection: close.",
        http.layer(http.on_start(http.connection_close)),
    ),
    Variant(
        "early_hints_103",
        "a 103 Early Hints interim response precedes every final answer (HTTP/1.1 clients)",
        "RFC 9110 15.2 requires a client to parse one or more 1xx responses received before "
        "the final response even if it does not expect one, and RFC 8297 defines 103.",
        http.layer(http.early_hints, layers.WireProtocol),
    ),
    Variant(
        "title_case_headers",
        "header field names are sent as Content-Type, Content-Length, Allow (not lower case)",
        "RFC 9110 5.1 makes field names case-insensitive.",
        http.layer(http.on_start(http.title_case), layers.WireProtocol),
    ),
    Variant(
        "org_named_in_refusal",
        "403 AUTH_ORG_MISMATCH says 'this API key does not belong to organization <the id "
        "sent>', for an existing org's id and for one no org has alike",
        "The spec fixes the 403's error_code and retryable, not its message; naming the id the "
        "request itself sent tells the caller nothing it did not know.",
        steps.org_named_in_refusal(),
    ),
    Variant(
        "validation_before_auth",
        "the query is validated before the credentials: a bad period_start gets 400 even "
        "without a key",
        "Neither the spec nor RFC 9110 orders the checks of a request with several problems, "
        "and the spec documents both 400 and 401 for it, so either answer is correct.",
        steps.validation_first(),
    ),
    Variant(
        "conditional_304",
        "usage 200s carry a strong ETag; a GET or HEAD with a key whose If-None-Match names it "
        "gets 304 Not Modified without content, an If-Match that names no current tag 412; "
        "without a key, still 401",
        "RFC 9110 8.8.3 lets an origin server send an ETag and 13.1.2 with 15.4.5 has it answer "
        "a GET whose If-None-Match matches with 304 and no content, conditions being evaluated "
        "(13.2.1) only where the answer would otherwise be 2xx, never in place of a 401.",
        http.layer(semantics.conditional(weak=False)),
    ),
    Variant(
        "etag_weak",
        'usage 200s carry a weak ETag (W/"..."); If-None-Match naming it, weak or strong, or '
        "*, gets 304 without content; If-Match, compared strongly, never matches it: 412",
        "RFC 9110 8.8.1 and 8.8.3 allow weak entity tags, 13.1.2 compares If-None-Match with "
        "the weak comparison function and 13.1.1 If-Match with the strong one, which a weak "
        "tag never passes.",
        http.layer(semantics.conditional(weak=True)),
    ),
    Variant(
        "accept_406",
        "406 application/problem+json to a GET or HEAD with a key whose Accept gives "
        "application/json no quality (text/html, application/json;q=0); */*, application/*, "
        "no Accept or an unparseable one still get JSON",
        "RFC 9110 12.5.1 and 15.5.7 let a server answer 406 when the Accept field admits no "
        "available representation, its most specific matching range deciding the quality, "
        "and the spec's default response covers that status as problem+json.",
        http.layer(semantics.negotiated),
    ),
    Variant(
        "cache_control_private",
        "usage 200s say Cache-Control: private, max-age=60 and Vary: X-Api-Key, "
        "Authorization, X-Dedalus-Org-Id; every error says Cache-Control: no-store",
        "RFC 9111 5.2.2.7 lets an origin keep a response to the client's own cache (private) "
        "with a freshness lifetime (5.2.2.1 max-age), 4.1 has Vary name the request fields "
        "that select it, and 5.2.2.5 no-store forbids storing an answer at all.",
        http.layer(
            http.on_start(
                semantics.cache_directives(
                    b"private, max-age=60",
                    b"X-Api-Key, Authorization, X-Dedalus-Org-Id",
                    b"no-store",
                )
            )
        ),
    ),
    Variant(
        "cache_vary_on_key",
        "usage 200s say Cache-Control: max-age=300 (not private) with Vary: authorization, "
        "x-api-key, x-dedalus-org-id in lower case",
        "RFC 9111 3.5 bars a shared cache from reusing an answer to a request with "
        "Authorization unless the answer says public, s-maxage or must-revalidate, and 4.1 "
        "has any cache match the fields Vary names (x-api-key among them, compared "
        "case-insensitively) before reusing a stored answer.",
        http.layer(
            http.on_start(
                semantics.cache_directives(
                    b"max-age=300", b"authorization, x-api-key, x-dedalus-org-id", None
                )
            )
        ),
    ),
    Variant(
        "size_limits_414_431",
        "414 application/problem+json for a request-target over 2 KiB, 431 for a header "
        "field line over 4 KiB or a header section over 8 KiB, on any path",
        "RFC 9110 15.5.15 defines 414 for a request-target longer than the server is willing "
        "to interpret and RFC 6585 section 5 defines 431 for header fields too large, the "
        "limits being the server's, and the spec's default response covers both.",
        http.layer(semantics.size_limits),
    ),
    Variant(
        "head_refused_405",
        "HEAD /v1/usage is refused like any method but GET: 405 with Allow: GET (every 405 "
        "says Allow: GET)",
        "The spec declares only GET on /v1/usage and RFC 9110 15.5.6 has a resource refuse a "
        "method it does not support with 405 and an Allow of those it does (9.1 requires "
        "HEAD of general-purpose servers, not of an API route).",
        steps.head_refused(),
    ),
    Variant(
        "head_without_length",
        "HEAD gets the GET's status and header fields without Content-Length",
        "RFC 9110 9.3.2 lets a server leave out of a HEAD response the fields whose values "
        "are determined while generating the content, and 8.6 lets it send Content-Length "
        "there (the GET's) or not.",
        http.layer(semantics.head_without_length),
    ),
    Variant(
        "options_cors",
        "OPTIONS /v1/usage gets 204 with Allow: GET, HEAD, OPTIONS, and for an Origin "
        "Access-Control-Allow-Origin naming it (a preflight also the allowed methods and "
        "request fields); other answers to an Origin name it, Vary: Origin; 405s list OPTIONS",
        "RFC 9110 9.3.7 lets a server describe a resource's options in a 2xx answer to "
        "OPTIONS and 10.2.1 has Allow then list OPTIONS, and the Fetch standard's CORS "
        "protocol answers a preflight and an Origin with the Access-Control-* fields.",
        http.layer(semantics.cors),
    ),
    Variant(
        "cors_starlette",
        "Starlette's CORSMiddleware for the console's origin with credentials: a preflight "
        "from another origin, or asking for other fields, gets 400 text/plain with the "
        "Access-Control-Allow-Methods/-Headers fields and no Allow-Origin; other answers to "
        "an Origin carry Access-Control-Allow-Credentials: true",
        "The Fetch standard's CORS protocol leaves a refused preflight's status free (only a "
        "successful one must be ok, 3.3.3), and lets a server send the other Access-Control-* "
        "fields without Allow-Origin: the CORS check fails on the missing origin.",
        http.layer(semantics.starlette_cors),
    ),
    Variant(
        "cors_console_credentials",
        "every answer says Access-Control-Allow-Origin: https://console.dcs.example with "
        "Access-Control-Allow-Credentials: true and Vary: Origin, whatever the request's Origin",
        "The Fetch standard's CORS check lets a server allow one origin of its own with "
        "credentials (a named origin, never *): a browser on any other origin is refused.",
        http.layer(http.on_start(http.console_cors)),
    ),
    Variant(
        "options_200_allow",
        "OPTIONS /v1/usage gets 200 with Allow: GET, HEAD, OPTIONS and Content-Length: 0, no "
        "content; 405s list OPTIONS",
        "RFC 9110 9.3.7 describes a successful answer to OPTIONS as one that sends Allow and, "
        "without content, Content-Length: 0.",
        http.layer(semantics.options_200),
    ),
    Variant(
        "unknown_method_501",
        "a method HTTP does not define (QUERY, PROPFIND, get, any other token) gets 501 "
        "application/problem+json on any path; the methods HTTP defines are answered as before",
        "RFC 9110 9.1 says a server that does not recognise or implement a method should "
        "answer 501 (15.6.2), method names being case-sensitive tokens.",
        http.layer(semantics.unknown_method_501, layers.WireProtocol),
    ),
    Variant(
        "edge_html_refusals",
        "an HTTP layer in front of the API refuses requests outside it with its own HTML "
        "page and Server: edge/1.0: 405 (with Allow: GET, HEAD) to TRACE, CONNECT, OPTIONS "
        "and the writes, 501 to a method it does not know, 400 to a lower-case method, a "
        "field value with a control or non-ASCII byte, a one-line field repeated or a field "
        "line over 2 KiB, 431 to more than 100 fields, an empty 417 to Expect",
        "Our reading (readings.outside_the_api): the spec's schemas and media types describe "
        "the answers of its declared operations; a refusal of a request outside them (an "
        "undeclared method, beyond HTTP's common limits, malformed at HTTP's level) is judged "
        "by HTTP (RFC 9110 15.5.6 Allow on a 405; 15.6.2 501; RFC 6585 431; 10.1.1 417) and "
        "by safety, as stock reverse proxies and HTTP servers answer it.",
        http.layer(edge.own_refusals, layers.WireProtocol),
    ),
    Variant(
        "field_controls_replaced",
        "in a request's field lines, a bare CR, a bare LF or a NUL becomes SP, a folded line "
        "(obs-fold) joins its field with SP, and whitespace-preceded lines right after the "
        "request-line are dropped unread; the request is then answered as any other",
        "RFC 9110 5.5 lets a recipient replace CR, LF and NUL in a field value with SP instead "
        "of rejecting the message, RFC 9112 5.2 likewise replace obs-fold with SP, and RFC "
        "9112 2.2 consume whitespace-preceded lines after the start-line unread (HAProxy "
        "unfolds, nginx ends a field line at a bare LF).",
        http1.front("FieldsReplacedProtocol", http1.fields_replaced),
    ),
    Variant(
        "framing_conflict_answered_closed",
        "a request with Transfer-Encoding and Content-Length is answered as framed by "
        "Transfer-Encoding alone, with Connection: close, and the connection closed",
        "RFC 9112 6.1: a server may process such a request by Transfer-Encoding alone instead "
        "of rejecting it, provided it closes the connection after responding (HAProxy does).",
        http1.front("ConflictClosedProtocol", http1.conflict_closed),
    ),
    Variant(
        "garbage_dropped",
        "octets that are no HTTP request (a NUL in the request-line, a TLS handshake) get no "
        "answer: the server closes the connection",
        "RFC 9112 2.2 says a server should answer 400 and close; closing alone is a refusal too "
        "(our reading, checks.wire.request_line_garbage_refused), as servers do on a plain-HTTP "
        "port that receives TLS.",
        http1.front("GarbageDroppedProtocol", http1.garbage_dropped),
    ),
    Variant(
        "higher_minor_as_1_1",
        "a request in HTTP/1.9 (a minor version above any) is processed as HTTP/1.1, where "
        "the mock's parser refuses it with 400",
        "RFC 9110 6.2: a recipient should process a higher minor version as the highest it "
        "conforms to (nginx, HAProxy, Apache, Caddy and Go's net/http do); 400 is our reading "
        "for llhttp's refusal (readings.HIGHER_MINOR_REFUSALS).",
        http1.front("HigherMinorProtocol", http1.higher_minor_as_1_1),
    ),
    Variant(
        "auth_before_method",
        "the key is checked before the method: on /v1/usage any method without a valid key "
        "gets 401 (403 for another org's id), and only then an unsupported one 405",
        "Neither the spec nor RFC 9110 orders the checks of a request with several problems, "
        "and 401 is the spec's answer to a request without a valid key, so either refusal is "
        "correct.",
        steps.auth_first(),
    ),
    Variant(
        "byte_ranges",
        "usage 200s say Accept-Ranges: bytes; a GET with a key and one satisfiable byte "
        "Range gets 206 with Content-Range and those bytes, an unsatisfiable one 416 with "
        "Content-Range: bytes */length; several ranges or If-Range are ignored",
        "RFC 9110 14.2 lets a server serve a GET's byte range with 206 (15.3.7) or ignore the "
        "Range field, 15.5.17 answers an unsatisfiable one with 416, and 14.3 lets it "
        "advertise Accept-Ranges.",
        http.layer(semantics.ranges),
    ),
    Variant(
        "gzip_byte_ranges",
        "gzip_responses and byte_ranges together: a byte Range of a gzip-coded usage 200 is "
        "served from the coded body (206, Content-Encoding: gzip, those bytes of the gzip "
        "stream), as a proxy in front of a gzip-coding server serves it",
        "RFC 9110 14.1.2 counts byte ranges over the selected representation's data, which "
        "8.4.1 says is the content-coded form: a part of a gzip body is not gzip on its own.",
        lambda app: http.layer(semantics.ranges)(http.layer(http.rewritten(http.gzipped))(app)),
    ),
    Variant(
        "strict_header_values",
        "400 INVALID_REQUEST (the spec's error shape) for a header value with a byte that is "
        "not visible ASCII, space or tab; 417 application/problem+json for an Expect other "
        "than 100-continue",
        "RFC 9110 5.5 leaves field values with bytes outside ASCII (obs-text) to the "
        "recipient, which may refuse such a request as malformed with 400, and 10.1.1 lets a "
        "server answer 417 to an expectation other than 100-continue.",
        http.layer(semantics.strict_fields),
    ),
    Variant(
        "etag_per_response",
        "every usage 200 carries a fresh random strong ETag (the same content gets another "
        "tag each time); conditional requests are not evaluated",
        "RFC 9110 8.8.1 lets a strong validator change for reasons other than a change of "
        "the content (it must change when the content does), and 13.2.1 lets a server that "
        "does not evaluate a precondition ignore it.",
        http.layer(http.on_start(semantics.random_entity_tag)),
    ),
    Variant(
        "sticky_cookie",
        "every answer sets a load balancer's stickiness cookie (Set-Cookie: DCSLB=...; "
        "Path=/; Expires=...; HttpOnly) and one for the console (dcs_theme=light); cookies "
        "sent back change nothing and grant nothing",
        "RFC 6265 4.1 lets any answer set cookies; the spec's security schemes (a key in "
        "x-api-key or Authorization) are the only credentials it declares, so a cookie "
        "neither opens nor closes the resource.",
        http.layer(http.on_start(semantics.sticky_cookies)),
    ),
]

#: Every variant of the catalogue, by name, in catalogue order.
VARIANTS: dict[str, Variant] = {variant.name: variant for variant in _VARIANTS}


def get_variant(name: str) -> Variant:
    """The variant called ``name``; KeyError listing where to look otherwise."""
    if name in VARIANTS:
        return VARIANTS[name]
    raise KeyError(f"unknown variant {name!r}; see --list-variants")


def apply_variant(app: ASGIApp, name: str) -> ASGIApp:
    """Install variant ``name`` on a ``create_app`` app (or a varied one); serve the result."""
    return get_variant(name).apply(app)


def variant_app(
    fixtures: Fixtures | None = None, names: Iterable[str] = (), *, clock: Clock | None = None
) -> ASGIApp:
    """A mock app with variants ``names`` installed, in order (unknown names: KeyError first)."""
    return layered_app(fixtures, [get_variant(name).apply for name in names], clock=clock)


def variants_text() -> str:
    """The catalogue as text: per variant a line with name and description, and the reading
    indented on the next."""
    width = max(len(name) for name in VARIANTS)
    lines = []
    for v in VARIANTS.values():
        lines += [f"{v.name:<{width}}  {v.description}", f"{'':<{width}}  allowed: {v.reading}"]
    return "\n".join(lines) + "\n"
