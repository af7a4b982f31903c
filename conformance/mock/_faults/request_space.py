"""The faults of the whole request space: what a backend, a framework, a gateway or a cache in
front gets wrong when the request is not the plain ``GET /v1/usage`` with a key.

Seven families: other methods reaching the usage handler without a key; what a server takes
for a key besides the spec's schemes (a session cookie, a rewritten path); HEAD answered unlike
GET; credentialed answers marked for shared caches; header fields any client may send that
crash, hang or refuse the request (and conditionals answered wrongly); request-targets of other
shapes; equivalent requests answered differently. Their acts are in ``request_wire.py``.
"""

from __future__ import annotations

from conformance.mock._faults import request_wire as rw
from conformance.mock._faults.fault import Fault, family
from conformance.mock._faults.wire import default_org, everything
from conformance.mock._http.protocol import MockHttpToolsProtocol
from conformance.mock._layers import WireLayer, streamed, wire

KEYLESS = "no_usage_without_valid_key"
HEAD = ("head_matches_get",)
CACHE = ("credentialed_answer_not_shared_cacheable",)
HEADERS = "standard_headers_harmless"
TARGET = "request_target_harmless"
SAME = "equivalent_requests_same_answer"

FAULTS: list[Fault] = [
    *family(
        "methods without a key",
        Fault(
            "head_before_auth",
            "HEAD is answered by the router's automatic HEAD handler, in front of the auth "
            "middleware: 200 with the default org's header fields, without a key",
            (KEYLESS,),
            wire(rw.on_usage("HEAD"), rw.as_get_default_org),
        ),
        Fault(
            "write_methods_unauthenticated",
            "POST, PUT and PATCH are routed to the GET handler without the auth middleware "
            "(which guards GET): the default org's usage, with or without a key",
            (KEYLESS, "undeclared_method_refused"),
            wire(rw.on_usage("POST", "PUT", "PATCH"), rw.as_get_default_org),
        ),
        Fault(
            "options_usage_body",
            "the auth middleware lets OPTIONS through for CORS preflights and the handler "
            "answers it like GET: 200 with the default org's usage",
            (KEYLESS, "options_reveals_nothing"),
            wire(rw.on_usage("OPTIONS"), rw.as_get_default_org),
        ),
        Fault(
            "unknown_methods_fall_through",
            "methods HTTP does not define (QUERY, PROPFIND, any other token) skip both the "
            "405 and the auth middleware and reach the GET handler: the default org's usage",
            (KEYLESS, "options_reveals_nothing"),
            wire(rw.unknown_method, rw.as_get_default_org),
        ),
        Fault(
            "method_override_before_auth",
            "X-HTTP-Method-Override (or X-HTTP-Method, X-Method-Override): GET turns a POST "
            "into a GET after the auth middleware, which only guards GET: keyless usage",
            (KEYLESS,),
            wire(rw.overridden_to_get, rw.as_get_default_org),
        ),
        Fault(
            "trace_echoes_request",
            "TRACE is answered 200 message/http with the request echoed, every header field "
            "included, credentials too",
            ("options_reveals_nothing", "key_never_echoed", KEYLESS),
            wire(rw.on_usage("TRACE"), rw.trace_echo),
        ),
    ),
    *family(
        "keys the spec does not declare",
        Fault(
            "rewrite_header_skips_auth",
            "the auth middleware reads the path from X-Original-URL or X-Rewrite-URL when "
            "present (as behind a rewriting proxy): one naming a path outside /v1/ is taken "
            "for a public path, and the usage is served without a key",
            (KEYLESS,),
            wire(rw.rewritten_outside_api, rw.as_get_default_org),
        ),
        Fault(
            "v2_usage_unguarded",
            "/v2/usage, a newer version being rolled out, is mounted without the auth "
            "middleware: the first org's usage, with or without a key",
            ("sibling_path_gives_no_usage",),
            wire(rw.sibling_path, default_org),
        ),
        Fault(
            "lockout_fails_open",
            "a lockout after 8 wrong keys from one client address in 30 s whose blocked branch "
            "calls the next handler: the first org's usage for the 8th wrong key and on",
            ("wrong_key_burst_refused",),
            lambda app: WireLayer(app, rw.on_usage("GET", "HEAD"), rw.LockoutFailsOpen()),
        ),
        Fault(
            "from_stands_for_key",
            "the auth middleware lets a request that names its user in From (an operator's "
            "mailbox) through without a key: the default org's usage (RFC 9110 10.1.2)",
            (KEYLESS,),
            wire(rw.reads_with("from", lambda value: "@" in value), rw.as_get_default_org),
        ),
        Fault(
            "session_cookie_stands_for_key",
            "a usage 200 to a keyed request sets a session cookie (dcs_session), and a later "
            "request that carries it without a key is served as the key's org",
            (KEYLESS,),
            lambda app: WireLayer(app, rw.on_usage(), rw.SessionCookies()),
        ),
    ),
    *family(
        "HEAD",
        Fault(
            "head_with_body",
            "HEAD gets the GET's head and then its body on the connection (a HEAD response "
            "ends with its header section)",
            HEAD,
            wire(rw.on_usage("HEAD"), rw.head_then_body),
        ),
        Fault(
            "head_204",
            "HEAD where GET is 200 gets 204 No Content, without Content-Type",
            HEAD,
            wire(rw.on_usage("HEAD"), rw.head_no_content),
        ),
        Fault(
            "head_length_zero",
            "HEAD gets the GET's status and Content-Type but Content-Length: 0 (RFC 9110 8.6: "
            "only the GET's length may be sent)",
            HEAD,
            wire(rw.on_usage("HEAD"), rw.head_length_zero),
        ),
    ),
    *family(
        "caching",
        Fault(
            "cache_public",
            "usage answers say Cache-Control: public, max-age=300: any shared cache may keep "
            "and serve them, credentials or not",
            CACHE,
            wire(rw.on_usage(), rw.cache_control("public, max-age=300")),
        ),
        Fault(
            "cache_s_maxage",
            "a CDN directive left on usage answers: Cache-Control: s-maxage=600 (RFC 9111 "
            "3.5: shared caches may then store even answers to Authorization)",
            CACHE,
            wire(rw.on_usage(), rw.cache_control("s-maxage=600")),
        ),
        Fault(
            "cache_max_age_without_vary",
            "usage answers say Cache-Control: max-age=60 without private or Vary: a shared "
            "cache that does not know x-api-key as a credential serves them to anyone",
            CACHE,
            wire(rw.on_usage(), rw.cache_control("max-age=60")),
        ),
        Fault(
            "cache_expires_future",
            "usage answers carry Expires an hour ahead (no Cache-Control): explicitly "
            "storable by shared caches",
            CACHE,
            wire(rw.on_usage(), rw.expires_in(3600)),
        ),
    ),
    *family(
        "request header fields",
        Fault(
            "negotiation_500",
            "content negotiation looks every Accept range (and Accept-Language tag) up in a "
            "table of exact strings: text/html, garbage, a q parameter (*/*;q=0.8), a tag "
            "other than en or en-US raise, 500",
            (HEADERS,),
            wire(rw.reads_where(rw.negotiation_fails), rw.crash),
        ),
        Fault(
            "accept_not_literal_json_406",
            "406 unless Accept is exactly application/json or absent: */*, application/* "
            "and lists that include JSON are refused",
            (HEADERS, "valid_key_accepted"),
            wire(rw.reads_with("accept", rw.accept_not_literal_json), rw.not_acceptable),
        ),
        Fault(
            "accept_encoding_500",
            "the compression middleware picks br or zstd when Accept-Encoding allows it, "
            "without the library installed: 500",
            (HEADERS,),
            wire(rw.reads_with("accept-encoding", rw.exotic_coding), rw.crash),
        ),
        Fault(
            "conditional_malformed_500",
            "If-Modified-Since/If-Unmodified-Since that is no IMF-fixdate, or If-None-Match/"
            "If-Match that is no list of quoted entity tags, raises: 500 (RFC 9110 13.1.3: "
            "ignore an invalid date)",
            (HEADERS,),
            wire(rw.reads_where(rw.conditional_malformed), rw.crash),
        ),
        Fault(
            "range_off_by_one",
            "Range: bytes=a-b on a 200 gets 206 with Content-Range bytes a-b/length but the "
            "bytes body[a:b], one short",
            (HEADERS,),
            wire(rw.reads_with("range", lambda value: True), rw.range_off_by_one),
        ),
        Fault(
            "cookie_500",
            "the session middleware parses every Cookie: a pair without '=', a quote or a "
            "byte that is not ASCII raises, 500",
            (HEADERS,),
            wire(rw.reads_with("cookie", rw.cookie_unparseable), rw.crash),
        ),
        Fault(
            "forwarded_for_500",
            "the rate limiter keys clients by the first X-Forwarded-For address (or "
            "Forwarded for=) as IPv4: an IPv6 address, 'unknown' or junk raises, 500",
            (HEADERS,),
            wire(rw.reads_where(rw.forwarded_not_ipv4), rw.crash),
        ),
        Fault(
            "access_log_500",
            "the access log stores header values in an ASCII varchar(512): a value over 512 "
            "bytes (a long User-Agent) or with a byte that is not ASCII raises, 500",
            (HEADERS, "malformed_credentials_refused"),
            wire(rw.reads_where(rw.unloggable_field), rw.crash),
        ),
        Fault(
            "repeated_field_500",
            "header fields are loaded into a map that refuses a second line of the same name "
            "(two Accept lines, two X-Request-Id): 500",
            (HEADERS,),
            wire(rw.reads_where(rw.repeated_field), rw.crash),
        ),
        Fault(
            "content_type_on_get_500",
            "the body parser runs on any request with a Content-Type: on a GET it decodes an "
            "empty body and raises, 500",
            (HEADERS,),
            wire(rw.reads_with("content-type", lambda value: True), rw.crash),
        ),
        Fault(
            "list_syntax_strict_400",
            "Accept, Accept-Encoding and If-None-Match are split by a strict list parser that "
            "refuses empty elements, whitespace before a comma and quoted-pairs: 400 (RFC 9110 "
            "5.6.1.2 has a recipient skip empty elements)",
            (HEADERS,),
            wire(rw.reads_where(rw.list_syntax_strict), rw.invalid_request),
        ),
        Fault(
            "content_location_selects_period",
            "a request's Content-Location is read as the resource asked for: its query's "
            "period_start replaces the target's (RFC 9110 8.7: transitory context only)",
            (HEADERS,),
            wire(
                rw.reads_with("content-location", lambda value: "?" in value),
                rw.period_from_content_location,
            ),
        ),
        Fault(
            "expect_continue_hang",
            "Expect: 100-continue on a GET: the server waits for a body that never comes, "
            "without sending 100 Continue, until the client gives up",
            (HEADERS, "complete_response"),
            wire(rw.reads_with("expect", rw.expects_continue), rw.wait_for_body(30.0)),
        ),
        Fault(
            "not_modified_unconditional",
            "ETags on 200s, compared with If-None-Match or, without one, with the ETag last "
            "sent on the connection: a repeated request on a reused connection gets 304",
            (HEADERS, SAME, "closed_period_stable", "same_answer"),
            wire(rw.on_usage("GET", "HEAD"), rw.not_modified_on_repeat),
        ),
        Fault(
            "etag_of_the_period",
            "strong ETags on usage 200s computed from the query (the period) alone, not from "
            "the answer: every org's answer for a month, and the open month's as its figures "
            "grow, carry one tag; If-None-Match naming it gets 304",
            ("strong_etag_names_one_content",),
            wire(rw.on_usage("GET", "HEAD"), rw.tag_of_the_period),
        ),
        Fault(
            "not_modified_without_key",
            "the conditional middleware sits in front of the auth middleware: If-None-Match "
            "of * or of any ETag issued gets 304 without a key",
            (KEYLESS, "missing_key_is_auth_required"),
            lambda app: WireLayer(app, rw.on_usage("GET", "HEAD"), rw.ConditionalBeforeAuth()),
        ),
    ),
    *family(
        "request targets",
        Fault(
            "repeated_param_500",
            "a repeated query parameter reaches the handler as a list where it expects a "
            "string: 500",
            (TARGET,),
            wire(rw.reads_where(rw.repeated_parameter), rw.crash),
        ),
        Fault(
            "period_only_first_param",
            "the handler reads period_start only as the query's first parameter: after "
            "another one it is unseen and the current month is served",
            (TARGET, SAME),
            wire(rw.on_usage("GET", "HEAD"), rw.period_only_first),
        ),
        Fault(
            "encoded_unreserved_differs",
            "period_start=YYYY-MM-DD is matched in the raw query before decoding: "
            "period%5Fstart is unseen (the current month), %2D or %32 in the date is 400",
            (TARGET, SAME),
            wire(rw.on_usage("GET", "HEAD"), rw.period_matched_raw),
        ),
        Fault(
            "empty_pair_500",
            "the query is split into name=value pairs by unpacking: '&&', a leading or "
            "trailing '&', or a pair without '=' raises, 500",
            (TARGET,),
            wire(rw.reads_where(rw.empty_or_bare_pair), rw.crash),
        ),
        Fault(
            "foreign_authority_500",
            "the router looks an absolute-form target's authority up in its table of host "
            "names: an empty host, a userinfo or another name raises, 500 (RFC 9110 4.2, 7.4: "
            "refuse it)",
            ("foreign_authority_not_misserved",),
            wire(rw.foreign_authority, rw.crash),
        ),
        Fault(
            "absolute_form_500",
            "an absolute-form request-target (GET http://host/v1/usage) crashes the router, "
            "which indexes the target's path segments: 500",
            (TARGET,),
            wire(rw.absolute_form, rw.crash),
        ),
        Fault(
            "long_query_500",
            "a query string over 1 KiB overflows the handler's fixed buffer: 500",
            (TARGET,),
            wire(rw.reads_where(rw.long_query), rw.crash),
        ),
    ),
    *family(
        "equivalent requests",
        Fault(
            "own_org_header_zeroed",
            "with X-Dedalus-Org-Id naming the key's own org, usage comes from the org-scoped "
            "query, which matches no rows: every billed counter 0",
            (SAME,),
            wire(rw.reads_where(rw.names_an_org), rw.usage_edited(rw.zero_billed)),
        ),
        Fault(
            "http10_legacy_backend",
            "HTTP/1.0 requests are routed to the legacy pool, which reports memory in "
            "MiB-hours (billed_memory_mib_seconds / 3600)",
            (SAME,),
            wire(rw.reads_where(rw.http10), rw.usage_edited(rw.memory_in_mib_hours)),
        ),
        Fault(
            "fresh_connection_stale_replica",
            "the first request on each connection is read from a replica that missed the "
            "last backfill: every billed counter a tenth lower",
            (SAME, "closed_period_stable", "same_answer"),
            wire(rw.on_usage("GET", "HEAD"), rw.stale_first_request),
        ),
        Fault(
            "unknown_field_canary_pool",
            "a routing rule meant for X-Canary: 1 sends any request with a header field the "
            "edge does not know to the canary pool, which reports CPU in core-seconds",
            (SAME,),
            wire(rw.reads_where(rw.unrouted_field), rw.usage_edited(rw.cpu_in_core_seconds)),
        ),
    ),
    *family(
        "message framing",
        Fault(
            "chunked_to_http10",
            "every answer is streamed without Content-Length, and the server frames it "
            "Transfer-Encoding: chunked even for an HTTP/1.0 request (uvicorn's httptools "
            "protocol does)",
            ("framing_fits_the_request",),
            wire(everything, streamed, MockHttpToolsProtocol),
        ),
        Fault(
            "content_length_beside_chunked",
            "answers to GET /v1/usage keep their Content-Length and are also sent "
            "Transfer-Encoding: chunked (a proxy that re-chunks without removing the length)",
            ("framing_fits_the_request", "complete_response"),
            wire(rw.on_usage("GET"), rw.rechunked, MockHttpToolsProtocol),
        ),
    ),
]
