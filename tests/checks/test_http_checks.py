"""The checks of issue 16 on hand-made exchanges: each passes on what a correct server may
answer (the variants' answers among them) and fails, under its own name, on a broken one."""

from __future__ import annotations

import gzip
import json

import pytest

from conformance._contract import http as rfc
from conformance._contract import readings
from conformance._core.errors import ContractViolation
from conformance._core.exchange import Exchange, Masker
from conformance._run.load import load_contract
from conformance.checks import http, space, validate_response
from conformance.checks.usage import usage_fields

CONTRACT = load_contract()
USAGE = CONTRACT.operation("/v1/usage", "get")
FIELDS = usage_fields(CONTRACT, USAGE)
KEY = "dcs_secret_key_0123"
BODY = {
    "plan_slug": "pro",
    "billed_awake_seconds": 3571200,
    "billed_cpu_millicore_seconds": 6160320000,
    "billed_memory_mib_seconds": 25598361600,
    "provisioned_storage_gib": 50,
    "included_storage_gib": 100,
    "billed_logical_storage_mib_seconds": 170046259200,
}
RAW = json.dumps(BODY, separators=(",", ":")).encode()
URL = "http://127.0.0.1:9/v1/usage?period_start=2025-01-01"
PROBLEM_405 = b'{"type":"about:blank","title":"Method Not Allowed","status":405}'
PROBLEM_406 = b'{"type":"about:blank","title":"Not Acceptable","status":406}'
PROBLEM = "application/problem+json"
STALLED = "no complete response within the 1 s deadline"
PAST = "Sun, 06 Nov 1994 08:49:37 GMT"
FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"
FIRST_TEN = {"content-range": f"bytes 0-9/{len(RAW)}"}
AUTH_REQUIRED = b'{"error_code":"AUTH_REQUIRED","message":"m","retryable":false}'


def ex(
    status: int | None = 200,
    body: bytes = RAW,
    *,
    method: str = "GET",
    media: str | None = "application/json",
    headers: dict[str, str] | None = None,
    request: dict[str, str] | None = None,
    url: str = URL,
    **kw,
) -> Exchange:
    fields = {"content-type": media} if media else {}
    fields["date"] = PAST
    return Exchange(
        method=method,
        url=url,
        request_headers={"x-api-key": KEY} if request is None else request,
        status=status,
        headers={**fields, **(headers or {})},
        body=body,
        elapsed=0.001,
        masker=Masker([KEY]),
        **kw,
    )


def fails(check, *args) -> ContractViolation:
    with pytest.raises(ContractViolation) as info:
        check(*args)
    assert info.value.check == check.__name__
    return info.value


PLAIN = ex()
NO_KEY: dict[str, str] = {}


# --- no_usage_without_valid_key -------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        ex(401, AUTH_REQUIRED, request=NO_KEY),
        ex(405, PROBLEM_405, method="POST", media="application/problem+json", request=NO_KEY),
        ex(501, b"", method="FOO", media=None, request=NO_KEY),
        ex(400, b'{"error_code":"INVALID_REQUEST"}', method="FOO", request=NO_KEY),
        ex(204, b"", method="OPTIONS", media=None, request=NO_KEY,
           headers={"access-control-allow-origin": "*", "allow": "GET, HEAD, OPTIONS"}),
        ex(401, b"", method="HEAD", request=NO_KEY),
        ex(404, b"<html>no</html>", method="PROPFIND", media="text/html", request=NO_KEY),
    ],
    ids=["401", "405", "501", "400-unknown", "cors-preflight", "head-401", "404"],
)  # fmt: skip
def test_keyless_refusals_pass(answer):
    http.no_usage_without_valid_key(FIELDS, PLAIN, answer)
    http.options_reveals_nothing(FIELDS, PLAIN, answer)


@pytest.mark.parametrize(
    "answer, where",
    [
        (ex(200, method="POST", request=NO_KEY), "status"),
        (ex(200, b"", method="HEAD", headers={"content-length": "238"}, request=NO_KEY), "status"),
        (ex(200, RAW, method="OPTIONS", request=NO_KEY), "body"),
        (ex(204, b"", method="OPTIONS", request=NO_KEY, headers={"x-billed-awake-seconds": "1"}),
         "header"),
        (ex(405, RAW, method="PUT", request=NO_KEY), "body"),
        (ex(401, b'{"total": 3571200}', request=NO_KEY), "body"),
        (ex(500, b"", method="FOO", request=NO_KEY), "status"),
        (ex(501, b"", method="GET", request=NO_KEY), "status"),
        (ex(304, b"", request=NO_KEY | {"If-None-Match": "*"}), "status"),
    ],
    ids=["post-200", "head-200", "options-body", "options-header", "405-with-body",
         "a-figure", "500", "501-to-get", "304-without-key"],
)  # fmt: skip
def test_keyless_usage_fails(answer, where):
    violation = fails(http.no_usage_without_valid_key, FIELDS, PLAIN, answer)
    assert violation.location.startswith(where)


def test_trace_must_not_echo_a_credential():
    echo = f"TRACE /v1/usage HTTP/1.1\r\nx-api-key: {KEY}\r\n\r\n".encode()
    answer = ex(200, echo, method="TRACE", media="message/http")
    violation = fails(http.options_reveals_nothing, FIELDS, PLAIN, answer)
    assert KEY not in violation.actual
    wrong = "dcs_conformance_wrong_key_0000"
    echoed = ex(200, wrong.encode(), method="TRACE", media=None, request={"x-api-key": wrong})
    fails(http.options_reveals_nothing, FIELDS, PLAIN, echoed)
    cleaned = ex(200, b"TRACE /v1/usage HTTP/1.1\r\n\r\n", method="TRACE", media="message/http")
    http.options_reveals_nothing(FIELDS, PLAIN, cleaned)


# --- head_matches_get -----------------------------------------------------------------------

GET = ex(headers={"content-length": str(len(RAW))})


@pytest.mark.parametrize(
    "head",
    [
        ex(200, b"", method="HEAD", headers={"content-length": str(len(RAW))}),
        ex(200, b"", method="HEAD"),  # Content-Length left out (RFC 9110 9.3.2 MAY omit)
        ex(200, b"", method="HEAD", media=None),
        ex(405, b"", method="HEAD", headers={"allow": "GET"}, media="application/problem+json"),
    ],
    ids=["same", "no-length", "no-type", "gateway-405"],
)
def test_head_like_get_passes(head):
    http.head_matches_get(GET, head)


@pytest.mark.parametrize(
    "head, where",
    [
        (ex(200, RAW, method="HEAD"), "$"),
        (ex(204, b"", method="HEAD", media=None), "status"),
        (ex(200, b"", method="HEAD", headers={"content-length": "0"}), "header Content-Length"),
        (ex(200, b"", method="HEAD", media="text/html"), "header Content-Type"),
        (ex(405, b"", method="HEAD", headers={"allow": "GET, HEAD"}), "header Allow"),
        (ex(500, b"", method="HEAD"), "status"),
        (ex(None, b"", method="HEAD", error=STALLED), "status"),
    ],
    ids=["body", "204", "length-0", "html", "405-allows-head", "500", "hang"],
)  # fmt: skip
def test_head_unlike_get_fails(head, where):
    assert fails(http.head_matches_get, GET, head).location == where


def test_head_length_is_compared_with_what_get_sent():
    packed = gzip.compress(RAW)
    coded = ex(headers={"content-encoding": "gzip", "content-length": str(len(packed))})
    http.head_matches_get(
        coded, ex(200, b"", method="HEAD", headers={"content-length": str(len(packed))})
    )
    chunked = ex(headers={"content-encoding": "gzip"})  # no length to compare with
    http.head_matches_get(chunked, ex(200, b"", method="HEAD", headers={"content-length": "5"}))


# --- credentialed_answer_not_shared_cacheable ----------------------------------------------


@pytest.mark.parametrize(
    "request_headers, response_headers",
    [
        ({"x-api-key": KEY}, {}),
        ({"x-api-key": KEY}, {"cache-control": "no-store"}),
        ({"x-api-key": KEY}, {"cache-control": "private, max-age=60"}),
        ({"x-api-key": KEY}, {"cache-control": "max-age=60", "vary": "Accept-Encoding, X-API-Key"}),
        ({"x-api-key": KEY}, {"cache-control": "no-cache, max-age=600"}),
        ({"x-api-key": KEY}, {"cache-control": "max-age=0, must-revalidate"}),
        ({"x-api-key": KEY}, {"etag": '"a"', "last-modified": "Sun, 06 Nov 1994 08:49:37 GMT"}),
        ({"x-api-key": KEY}, {"expires": "0"}),
        ({"Authorization": f"Bearer {KEY}"}, {"cache-control": "max-age=60"}),
        ({"Authorization": f"Bearer {KEY}"}, {"cache-control": "public", "vary": "authorization"}),
        ({}, {"cache-control": "public, max-age=60"}),  # no credentials: not this check's
    ],
)  # fmt: skip
def test_answers_no_shared_cache_reuses_pass(request_headers, response_headers):
    answer = ex(request=request_headers, headers=response_headers)
    http.credentialed_answer_not_shared_cacheable(CONTRACT, USAGE, answer)


@pytest.mark.parametrize(
    "request_headers, response_headers",
    [
        ({"x-api-key": KEY}, {"cache-control": "public, max-age=300"}),
        ({"Authorization": f"Bearer {KEY}"}, {"cache-control": "public"}),
        ({"Authorization": f"Bearer {KEY}"}, {"cache-control": "s-maxage=600"}),
        ({"Authorization": f"Bearer {KEY}"}, {"cache-control": "max-age=60, must-revalidate"}),
        ({"x-api-key": KEY}, {"cache-control": "max-age=60"}),
        ({"x-api-key": KEY}, {"cache-control": "max-age=60", "vary": "Authorization"}),
        ({"x-api-key": KEY}, {"cache-control": 'private="set-cookie", max-age=60'}),
        ({"x-api-key": KEY}, {"expires": "Fri, 01 Jan 2100 00:00:00 GMT"}),
        ({"x-api-key": "wrong"}, {"cache-control": "public, max-age=60"}),
        ({"x-api-key": KEY}, {"cache-control": "private", "cdn-cache-control": "max-age=600"}),
        ({"Authorization": f"Bearer {KEY}"}, {"surrogate-control": "public, max-age=60"}),
    ],
)
def test_answers_a_shared_cache_may_hand_out_fail(request_headers, response_headers):
    answer = ex(request=request_headers, headers=response_headers)
    fails(http.credentialed_answer_not_shared_cacheable, CONTRACT, USAGE, answer)


def test_the_cache_check_runs_on_every_response():
    answer = ex(headers={"cache-control": "public, max-age=60"})
    found = validate_response(CONTRACT, USAGE, answer, [KEY])
    assert [v.check for v in found] == ["credentialed_answer_not_shared_cacheable"]


# --- standard_headers_harmless ----------------------------------------------------------------


def variant(status: int = 200, body: bytes = RAW, request: dict[str, str] | None = None, **kw):
    return ex(status, body, request={"x-api-key": KEY, **(request or {})}, **kw)


@pytest.mark.parametrize(
    "answer, malformed",
    [
        (variant(request={"Accept": "application/*"}), False),
        (variant(406, PROBLEM_406, request={"Accept": "text/html"}, media=PROBLEM), False),
        (variant(304, b"", request={"If-None-Match": "*"}, media=None), False),
        (variant(304, b"", request={"If-Modified-Since": FUTURE}, media=None), False),
        (variant(412, b"", request={"If-Match": '"nope"'}), False),
        (variant(206, RAW[0:10], request={"Range": "bytes=0-9"}, headers=FIRST_TEN), False),
        (variant(416, b"", request={"Range": "bytes=100000-"}), False),
        (variant(400, b"{}", request={"If-Modified-Since": "yesterday"}), True),
        (variant(400, b"{}", request={"User-Agent": "caf\udce9"}), False),
        (variant(431, b"", request={"User-Agent": "x" * 8000}), False),
        (variant(417, b"", request={"Expect": "dcs"}), False),
        (variant(400, b"{}", request={"User-Agent": "a", "user-agent": "b"}), False),
        (variant(308, b"", request={"X-Forwarded-Proto": "http"},
                 headers={"location": "https://x/v1/usage"}), False),
        (variant(200, b"\x0b\x02", request={"Accept-Encoding": "br"}, coded="br"), False),
    ],
    ids=["same", "406", "304-star", "304-since", "412", "206", "416", "400-malformed",
         "400-obs-text", "431", "417", "400-repeated", "redirect", "br"],
)  # fmt: skip
def test_documented_answers_to_header_fields_pass(answer, malformed):
    space.standard_headers_harmless(malformed, PLAIN, answer)


@pytest.mark.parametrize(
    "answer",
    [
        variant(500, b"", request={"Accept": "text/html"}),
        variant(None, b"", request={"Expect": "100-continue"}, error=STALLED),
        variant(406, b"", request={"Accept": "*/*"}),
        variant(406, b"", request={"Accept": "application/json, text/plain"}),
        variant(304, b"", request={"If-None-Match": '"other"'}, media=None),
        variant(304, b"", request={"If-Modified-Since": PAST}, media=None),
        variant(304, b"", request={"If-Modified-Since": "yesterday"}, media=None),
        variant(412, b"", request={"If-Match": "*"}),
        variant(416, b"", request={"Range": "items=0-1"}),
        variant(206, RAW[0:9], request={"Range": "bytes=0-9"}, headers=FIRST_TEN),
        variant(206, RAW[0:10], request={"Range": "bytes=0-9"}),
        variant(400, b"{}", request={"Accept-Language": "fr"}),
        variant(401, AUTH_REQUIRED, request={"Cookie": "a=1"}),
        variant(200, RAW.replace(b"3571200", b"0"), request={"X-Forwarded-For": "10.0.0.1"}),
        variant(431, b"", request={"User-Agent": "x" * 100}),
    ],
    ids=["500", "hang", "406-any", "406-list", "304-other-tag", "304-old-date", "304-bad-date",
         "412-star", "416-unknown-unit", "206-short", "206-no-range", "400-valid", "401",
         "other-body", "431-small"],
)  # fmt: skip
def test_other_answers_to_header_fields_fail(answer):
    fails(space.standard_headers_harmless, False, PLAIN, answer)


def test_a_206_of_several_ranges_is_read_part_by_part():
    parts = (
        b"--B\r\nContent-Type: application/json\r\nContent-Range: bytes 0-0/%d\r\n\r\n{\r\n"
        b"--B\r\nContent-Range: bytes 5-9/%d\r\n\r\n%s\r\n--B--\r\n"
    ) % (len(RAW), len(RAW), RAW[5:10])
    media = "multipart/byteranges; boundary=B"
    good = variant(206, parts, request={"Range": "bytes=0-0, 5-9"}, media=media)
    space.standard_headers_harmless(False, PLAIN, good)
    bad = variant(
        206, parts.replace(RAW[5:10], b"xxxxx"), request={"Range": "bytes=0-0, 5-9"}, media=media
    )
    fails(space.standard_headers_harmless, False, PLAIN, bad)


# --- request_target_harmless and equivalent_requests_same_answer ------------------------------


def target(query: str, status: int = 200, body: bytes = RAW, **kw) -> Exchange:
    return ex(status, body, url=f"http://127.0.0.1:9/v1/usage?{query}", **kw)


def test_request_targets():
    space.request_target_harmless(PLAIN, target("&period_start=2025-01-01&"))
    space.request_target_harmless(PLAIN, target("period_start=2025-01-01&x=%zz", 400, b"{}"))
    space.request_target_harmless(PLAIN, target("x=" + "y" * 2000, 414, b""))
    space.request_target_harmless(
        PLAIN, target("period_start=2025-01-01&&", 301, b"", headers={"location": "/v1/usage"})
    )
    fails(space.request_target_harmless, PLAIN, target("period_start=2025-01-01&x=1", 500, b""))
    fails(
        space.request_target_harmless,
        PLAIN,
        target("x=1&period_start=2025-01-01", 200, RAW.replace(b"3571200", b"1")),
    )
    fails(space.request_target_harmless, PLAIN, target("x=" + "y" * 100, 414, b""))
    fails(space.request_target_harmless, PLAIN, target("x=1", 404, b""))


def test_equivalent_requests():
    pretty = json.dumps(dict(reversed(list(BODY.items()))), indent=2).encode()
    space.equivalent_requests_same_answer("why", PLAIN, ex(body=pretty))
    v = fails(
        space.equivalent_requests_same_answer,
        "org: why",
        PLAIN,
        ex(body=RAW.replace(b"3571200", b"0")),
    )
    assert v.location == "$.billed_awake_seconds" and v.message.startswith("org: why")
    fails(space.equivalent_requests_same_answer, "why", PLAIN, ex(404, b""))
    fails(
        space.equivalent_requests_same_answer, "why", PLAIN, ex(None, b"", error="broken response")
    )
    refused = ex(401, AUTH_REQUIRED)
    space.equivalent_requests_same_answer(
        "why", refused, ex(401, AUTH_REQUIRED.replace(b'"m"', b'"other"'))
    )


# --- the RFC helpers the readings rest on -----------------------------------------------------


@pytest.mark.parametrize(
    "accept, excluded",
    [("*/*", False), ("application/*", False), ("application/json; charset=utf-8", False),
     ("text/html", True), ("application/json;q=0, */*", True), ("*/*;q=0, application/json", False),
     ("text/*, */*;q=0", True), ("garbage", None), ("application/json;q=2", None)],
)  # fmt: skip
def test_accept(accept, excluded):
    assert rfc.accept_excludes(accept, "application/json") is excluded


@pytest.mark.parametrize(
    "value, pairs",
    [("", []), ("a=1; Path=/", ["a=1"]),
     ("a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT; HttpOnly, b=2; Secure", ["a=1", "b=2"]),
     ("=nameless, c=; Max-Age=0", ["c="]),
     ("LB=node-a.4f2c, theme=light", ["LB=node-a.4f2c", "theme=light"])],
)  # fmt: skip
def test_set_cookies_of_combined_field_lines(value, pairs):
    assert rfc.set_cookies(value) == pairs


def test_conditionals_and_ranges():
    assert rfc.etag_listed('"x", W/"a"', '"a"', weak=True)
    assert not rfc.etag_listed('"x", W/"a"', '"a"', weak=False)
    assert rfc.etag_listed("*", None, weak=False)
    assert not rfc.etag_listed('"a"', None, weak=True)
    assert rfc.byte_ranges("bytes=0-10, -5, 7-") == [(0, 10), (None, 5), (7, None)]
    assert rfc.byte_ranges("bytes=9-1") is None and rfc.byte_ranges("items=0-1") is None
    assert rfc.content_range("bytes 0-9/238") == (0, 9, 238)
    assert rfc.http_date("Sunday, 06-Nov-94 08:49:37 GMT") == rfc.http_date(
        "Sun Nov  6 08:49:37 1994"
    )
    assert rfc.cache_directives('private="a, b", max-age=60') == {
        "private": "a, b",
        "max-age": "60",
    }


def test_readings_of_the_request_space():
    assert readings.keyless_status_allowed("OPTIONS", 204)
    assert not readings.keyless_status_allowed("HEAD", 200)
    assert readings.keyless_status_allowed("QUERY", 501)
    assert not readings.keyless_status_allowed("GET", 501)
    assert readings.shared_reuse("x-api-key", {}) is None
    assert readings.target_refusal(414, readings.LONG_TARGET + 1, None)
    assert not readings.target_refusal(414, readings.LONG_TARGET, None)


def test_a_coding_the_request_did_not_accept_fails():
    packed = variant(request={"Accept-Encoding": "identity"}, headers={"content-encoding": "gzip"})
    fails(space.standard_headers_harmless, False, PLAIN, packed)
    fails(space.equivalent_requests_same_answer, "identity", PLAIN, packed)
    refused = variant(
        request={"Accept-Encoding": "gzip;q=0, deflate"}, headers={"content-encoding": "gzip"}
    )
    fails(space.standard_headers_harmless, False, PLAIN, refused)
    asked = variant(
        request={"Accept-Encoding": "br, gzip;q=0.5"}, headers={"content-encoding": "gzip"}
    )
    space.standard_headers_harmless(False, PLAIN, asked)
    default = ex(headers={"content-encoding": "gzip"})  # the suite's own gzip, deflate
    space.equivalent_requests_same_answer("why", PLAIN, default)


def test_ranges_are_judged_against_the_representation():
    tag = ex(headers={"etag": '"v1"'})
    good = variant(
        206, RAW[0:10], request={"Range": "bytes=0-9", "If-Range": '"v1"'}, headers=FIRST_TEN
    )
    space.standard_headers_harmless(False, tag, good)
    stale = variant(
        206, RAW[0:10], request={"Range": "bytes=0-9", "If-Range": '"v0"'}, headers=FIRST_TEN
    )
    fails(space.standard_headers_harmless, False, tag, stale)
    fails(
        space.standard_headers_harmless,
        False,
        PLAIN,
        variant(416, b"", request={"Range": "bytes=0-"}),
    )
    space.standard_headers_harmless(
        False, PLAIN, variant(416, b"", request={"Range": "bytes=0-1,3-4,6-7"})
    )
    space.standard_headers_harmless(False, PLAIN, variant(416, b"", request={"Range": "bytes=-0"}))


def test_a_header_field_smuggled_through_the_query_fails():
    query = "period_start=2025-01-01&x=%0D%0AX-Dcs-Injected:%201"
    injected = target(query, 302, b"", headers={"location": "/x", "x-dcs-injected": "1"})
    fails(space.request_target_harmless, PLAIN, injected)


TAG = {"etag": '"usage-2025-01"'}
#: another org's usage for the same month (an org with no machine running)
ZEROED = json.dumps({**BODY, **dict.fromkeys(list(BODY)[1:4], 0)}).encode()
PRETTY = json.dumps(dict(reversed(BODY.items())), indent=2).encode()


@pytest.mark.parametrize(
    "answer, tag",
    [(ex(headers=TAG), TAG["etag"]), (ex(headers={"etag": 'W/"a"'}), None),
     (ex(), None), (ex(304, b"", media=None, headers=TAG), None),
     (ex(headers=TAG, method="HEAD", body=b""), None),
     (ex(headers=TAG, error=STALLED), None), (ex(headers=TAG, coded="br"), None)],
)  # fmt: skip
def test_only_complete_200s_to_gets_with_strong_tags_are_compared(answer, tag):
    assert http.strong_tag(answer) == tag


@pytest.mark.parametrize("body", [RAW, PRETTY])  # the same content, in any JSON spelling
def test_one_strong_tag_one_content_passes(body):
    http.strong_etag_names_one_content(ex(headers=TAG), ex(body=body, headers=TAG))


def test_one_strong_tag_two_contents_fails():
    with pytest.raises(ContractViolation) as caught:
        http.strong_etag_names_one_content(ex(headers=TAG), ex(body=ZEROED, headers=TAG))
    assert caught.value.check == "strong_etag_names_one_content"
    assert caught.value.location == "header ETag"


def test_validate_response_compares_with_the_answer_of_the_same_tag():
    first, other = ex(headers=TAG), ex(body=ZEROED, headers=TAG)
    found = validate_response(CONTRACT, USAGE, other, [KEY], same_tag=first)
    assert [v.check for v in found] == ["strong_etag_names_one_content"]
    assert validate_response(CONTRACT, USAGE, other, [KEY]) == []


def test_options_ignores_conditions():
    def options(status):
        return Exchange("OPTIONS", "http://127.0.0.1:9/v1/usage", {}, status, {}, b"", 0.001)

    http.options_ignores_conditions(options(405), options(405))
    http.options_ignores_conditions(options(412), options(412))  # refused either way
    with pytest.raises(ContractViolation, match="412 where without it"):
        http.options_ignores_conditions(options(204), options(412))
