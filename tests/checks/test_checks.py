"""Each check passes on a conforming exchange and fails, under its own name, on a broken one."""

import base64
import json

import pytest

from conformance._core import trace
from conformance._core.errors import ContractViolation
from conformance._core.exchange import Exchange, Masker
from conformance._report.text import format_violation
from conformance._run.load import load_contract
from conformance.checks import CATALOGUE, auth, messages, requests, usage, validate_response
from conformance.checks.usage import billed_fields

CONTRACT = load_contract()
USAGE = CONTRACT.operation("/v1/usage", "get")
FIELDS = billed_fields(CONTRACT, USAGE)
GOOD_USAGE = {
    "plan_slug": "pro",
    "billed_awake_seconds": 3600,
    "billed_cpu_millicore_seconds": 7200,
    "billed_memory_mib_seconds": 4096,
    "provisioned_storage_gib": 20,
    "included_storage_gib": 100,
    "billed_logical_storage_mib_seconds": 123,
}


def exchange(status=200, body=None, *, media="application/json", raw=None, method="GET", **kw):
    content = raw if raw is not None else json.dumps(GOOD_USAGE if body is None else body).encode()
    headers = {"content-type": media} if media else {}
    headers["date"] = "Sun, 06 Nov 1994 08:49:37 GMT"
    headers.update(kw.pop("headers", {}))
    headers = {name: value for name, value in headers.items() if value is not None}
    request = {"x-api-key": "dcs_secret_key", **kw.pop("request_headers", {})}
    return Exchange(
        method=method,
        url="http://127.0.0.1:9/v1/usage",
        request_headers=request,
        status=status,
        headers=headers,
        body=content,
        elapsed=0.001,
        masker=Masker(["dcs_secret_key"]),
        **kw,
    )


def usage_ex(body, **kw):
    return exchange(200, body, **kw)


def error(status, code, retryable=False, media="application/json", **extra):
    return exchange(
        status, {"error_code": code, "message": "m", "retryable": retryable, **extra}, media=media
    )


DUPLICATE_NAMES = (
    b'{"plan_slug":"pro","billed_awake_seconds":0,"billed_cpu_millicore_seconds":0,'
    b'"billed_memory_mib_seconds":0,"provisioned_storage_gib":0,"included_storage_gib":1,'
    b'"billed_logical_storage_mib_seconds":0,"billed_awake_seconds":3600}'
)


TRACEBACK = (
    'Traceback (most recent call last):\n  File "/srv/dcs/handlers.py", line 88, in get\n'
    "psycopg2.errors.InvalidDatetimeFormat: invalid input syntax for type date"
)


def REFLECTED(origin):
    return {"access-control-allow-origin": origin, "access-control-allow-credentials": "true"}


PROBLEM = "application/problem+json"
PREFLIGHT = {
    "Origin": "https://a.example",
    "Access-Control-Request-Method": "GET",
    "Access-Control-Request-Headers": "x-api-key",
}
GRANT = {"access-control-allow-methods": "GET, HEAD", "access-control-allow-headers": "X-Api-Key"}


def test_cors_and_problem_checks_leave_room():
    """What the Fetch and RFC 9457 checks let pass: a fixed origin of the server's own, `null`,
    a port; a preflight refused (Starlette's 400 grants less than asked); a localized title;
    the newer and older status phrases; a problem with a type of its own."""
    passing = [
        exchange(headers={"access-control-allow-origin": "https://console.dcs.example:8443"}),
        exchange(headers={"access-control-allow-origin": "null", "vary": "Origin"}),
        exchange(
            request_headers={"Origin": "https://a.example"},
            headers={"access-control-allow-origin": "https://a.example", "vary": "Accept, origin"},
        ),
        exchange(
            headers={"access-control-allow-credentials": "true", "access-control-max-age": "600"}
        ),
        exchange(
            400,
            {"title": "Bad Request"},
            media=PROBLEM,
            method="OPTIONS",
            request_headers=PREFLIGHT,
            headers={"access-control-allow-origin": "*", "access-control-allow-methods": "POST"},
        ),
        exchange(
            204,
            raw=b"",
            media=None,
            method="OPTIONS",
            request_headers=PREFLIGHT,
            headers={**GRANT, "access-control-allow-origin": "https://a.example", "vary": "Origin"},
        ),
        exchange(
            404, {"title": "Introuvable"}, media=PROBLEM, request_headers={"Accept-Language": "fr"}
        ),
        exchange(413, {"title": "Payload Too Large"}, media=PROBLEM),
        exchange(422, {"title": "Unprocessable Content"}, media=PROBLEM),
        exchange(
            404, {"type": "https://dcs.example/errors/404", "title": "Gone away"}, media=PROBLEM
        ),
        exchange(404, {"type": "about:blank", "title": "not found"}, media=PROBLEM),
    ]
    for ex in passing:
        assert broken_checks(ex) == [], ex


def broken_checks(ex):
    return sorted({name for v in validate_response(CONTRACT, USAGE, ex) for name in v.checks})


def test_every_check_has_a_rule():
    assert all(invariant.rule for invariant in CATALOGUE.values())


@pytest.mark.parametrize(
    "ex",
    [
        exchange(),
        error(400, "INVALID_PERIOD_START", details={"parameter": "period_start"}),
        error(401, "AUTH_REQUIRED"),
        error(403, "AUTH_ORG_MISMATCH"),
        error(502, "BILLING_LEDGER_UNAVAILABLE", retryable=True, retry_after_ms=1000),
        exchange(
            405, {"title": "Method Not Allowed", "status": 405}, media="application/problem+json"
        ),
        exchange(200, raw=b"", method="HEAD"),
    ],
)
def test_conforming_responses_pass(ex):
    assert broken_checks(ex) == []


@pytest.mark.parametrize(
    "ex, check",
    [
        (exchange(status=None, raw=b"", error="connection reset"), "complete_response"),
        (
            exchange(raw=b'{"plan_slug": "pro"', error="broken response: peer closed"),
            "complete_response",
        ),
        (exchange(media="text/plain"), "content_type_documented"),
        (exchange(404, {"title": "x"}, media="application/json"), "content_type_documented"),
        (exchange(raw=b'{"plan_slug": "pro",'), "body_matches_schema"),
        (exchange(raw=b"\xff\xfe"), "body_matches_schema"),
        (exchange(raw=b"<html>oops</html>"), "body_matches_schema"),
        (usage_ex({**GOOD_USAGE, "extra": 1}), "body_matches_schema"),
        (
            usage_ex({k: v for k, v in GOOD_USAGE.items() if k != "plan_slug"}),
            "body_matches_schema",
        ),
        (usage_ex({**GOOD_USAGE, "billed_awake_seconds": "12"}), "body_matches_schema"),
        (usage_ex({**GOOD_USAGE, "billed_awake_seconds": None}), "body_matches_schema"),
        (usage_ex({**GOOD_USAGE, "billed_awake_seconds": 1.5}), "body_matches_schema"),
        (usage_ex({**GOOD_USAGE, "billed_awake_seconds": 2**63}), "body_matches_schema"),
        (usage_ex({**GOOD_USAGE, "billed_awake_seconds": -1}), "usage_counters_in_range"),
        (usage_ex({**GOOD_USAGE, "provisioned_storage_gib": 2.0}), "usage_counters_in_range"),
        (usage_ex({**GOOD_USAGE, "plan_slug": ""}), "plan_slug_non_empty"),
        (exchange(401, {"error_code": "AUTH_REQUIRED", "message": "m"}), "body_matches_schema"),
        (error(401, "AUTH_REQUIRED", extra_field="x"), "body_matches_schema"),
        (error(401, "AUTH_REQUIRED", details={"a": 1}), "body_matches_schema"),
        (error(401, "auth_required"), "error_code_format"),
        (error(401, "AUTH_INVALID", retryable=True), "auth_errors_not_retryable"),
        (error(403, "AUTH_ORG_MISMATCH", retryable=True), "auth_errors_not_retryable"),
        (
            exchange(405, {"title": "x", "bogus": 1}, media="application/problem+json"),
            "body_matches_schema",
        ),
        (exchange(raw=b"\xef\xbb\xbf" + json.dumps(GOOD_USAGE).encode()), "json_wire_format"),
        (exchange(raw=DUPLICATE_NAMES), "json_wire_format"),
        (exchange(raw=json.dumps(GOOD_USAGE).encode() + b"\n{}"), "json_wire_format"),
        (exchange(raw=json.dumps(GOOD_USAGE).encode() + b"x"), "json_wire_format"),
        (error(400, "INVALID_PERIOD_START", retryable=True), "request_errors_not_retryable"),
        (error(502, "X", retryable=True, retry_after_ms=-5), "retry_hint_non_negative"),
        (
            exchange(404, {"title": "Not Found", "status": 400}, media="application/problem+json"),
            "problem_status_matches",
        ),
        (exchange(headers={"date": None}), "date_present"),
        (exchange(404, {"title": "x"}, headers={"date": None}), "date_present"),
        (exchange(304, raw=b'{"a": 1}', media=None), "not_modified_has_no_content"),
        (exchange(left_open=True), "connection_close_honoured"),
        (
            exchange(request_headers={"Connection": "close"}, headers={"connection": "keep-alive"}),
            "connection_close_honoured",
        ),
        (
            exchange(request_headers={"Origin": "null"}, headers=REFLECTED("null")),
            "cors_credentials_not_any_origin",
        ),
        (exchange(headers=REFLECTED("*")), "cors_credentials_not_any_origin"),
        (
            exchange(
                headers={"access-control-allow-origin": "https://a.example https://b.example"}
            ),
            "cors_allow_origin_one_value",
        ),
        (
            exchange(headers={"access-control-allow-origin": "https://a.example/"}),
            "cors_allow_origin_one_value",
        ),
        (
            exchange(headers={"access-control-allow-origin": "https://a.example, *"}),
            "cors_allow_origin_one_value",
        ),
        (exchange(headers={"access-control-allow-credentials": "True"}), "cors_fields_well_formed"),
        (exchange(headers={"access-control-max-age": "10m"}), "cors_fields_well_formed"),
        (
            exchange(headers={"access-control-allow-methods": "GET HEAD"}),
            "cors_fields_well_formed",
        ),
        (
            exchange(
                request_headers={"Origin": "https://a.example"},
                headers={"access-control-allow-origin": "https://a.example"},
            ),
            "cors_echo_varies_on_origin",
        ),
        (
            exchange(
                405,
                {"title": "Method Not Allowed"},
                media="application/problem+json",
                method="OPTIONS",
                request_headers=PREFLIGHT,
                headers={**GRANT, "access-control-allow-origin": "*"},
            ),
            "preflight_answer_ok",
        ),
        (
            exchange(404, {"type": "about:blank", "title": "no such resource"}, media=PROBLEM),
            "about_blank_title_is_status_phrase",
        ),
        (
            exchange(405, {"title": "Not Allowed"}, media=PROBLEM),
            "about_blank_title_is_status_phrase",
        ),
        (error(400, "X", message=TRACEBACK), "errors_reveal_no_internals"),
        (error(500, "X", message="boom at /srv/app/handlers.py:88"), "errors_reveal_no_internals"),
        (
            error(400, "X", message="psycopg2.errors.UndefinedTable: relation missing"),
            "errors_reveal_no_internals",
        ),
        (
            error(500, "X", message="SELECT * FROM usage WHERE org = 1"),
            "errors_reveal_no_internals",
        ),
        (exchange(headers={"x-debug": 'File "/app/x.py", line 3'}), "errors_reveal_no_internals"),
        (usage_ex({**GOOD_USAGE, "billed_awake_seconds": 0}), "counters_consistent"),
        (usage_ex({**GOOD_USAGE, "billed_memory_mib_seconds": 3599}), "counters_consistent"),
        (usage_ex({**GOOD_USAGE, "billed_memory_mib_seconds": 0}), "counters_consistent"),
        (
            usage_ex({**GOOD_USAGE, "billed_awake_seconds": 0, "billed_cpu_millicore_seconds": 0}),
            "counters_consistent",
        ),
    ],
)
def test_broken_responses_fail_on_the_right_check(ex, check):
    assert check in broken_checks(ex)


@pytest.mark.parametrize(
    "ex",
    [
        exchange(raw=b"  \r\n" + json.dumps(GOOD_USAGE, indent=2).encode() + b"\n\n"),
        usage_ex({**{name: 0 for name in GOOD_USAGE if name != "plan_slug"}, "plan_slug": "p"}),
        exchange(media="application/json; charset=utf-8"),
        error(400, "INVALID_PERIOD_START", retry_after_ms=0),
        exchange(
            502,
            {"error_code": "BILLING_LEDGER_UNAVAILABLE", "message": "m", "retryable": True},
            headers={"date": None},
        ),
        exchange(304, raw=b"", media=None),
        exchange(request_headers={"Connection": "close"}, headers={"connection": "close"}),
        exchange(
            request_headers={"Origin": "https://app.example.com"},
            headers={"access-control-allow-origin": "https://app.example.com", "vary": "Origin"},
        ),
        exchange(
            request_headers={"Origin": "https://app.example.com"},
            headers=REFLECTED("https://console.dcs.example"),
        ),
        error(400, "X", message="/v1/usage takes period_start; see https://x.io/a/b.js"),
        error(400, "X", message="Select a period from this year"),
    ],
    ids=[
        "whitespace_around",
        "all_zero",
        "charset",
        "retry_after_zero",
        "dateless_502",
        "empty_304",
        "close_said",
        "origin_without_credentials",
        "own_origin_credentials",
        "url_not_a_path",
        "english_not_sql",
    ],
)
def test_responses_a_correct_server_may_give_pass(ex):
    assert broken_checks(ex) == []


def test_an_echoed_key_is_found_in_every_form():
    key = "dcs+live/0123456789abcdef"
    masker = Masker([key])
    encoded = base64.b64encode(key.encode()).decode()
    for echo in (key, "dcs%2Blive%2F0123456789abcdef", encoded, encoded.rstrip("=")):
        body = error(401, "AUTH_INVALID")
        body.body = body.body.replace(b'"m"', json.dumps(f"bad key {echo}").encode())
        found = validate_response(CONTRACT, USAGE, body, [key])
        assert [v.check for v in found] == ["key_never_echoed"], echo
        assert key not in format_violation(found[0]).replace(echo, "")
    in_header = exchange(headers={"x-debug": key})
    assert [v.check for v in validate_response(CONTRACT, USAGE, in_header, [key])] == [
        "key_never_echoed"
    ]
    assert validate_response(CONTRACT, USAGE, exchange(), [key]) == []
    assert validate_response(CONTRACT, USAGE, exchange(), ["short"]) == []  # not searched
    assert masker.text(key) == "***"


def violated(check, *args):
    with pytest.raises(ContractViolation) as info:
        check(*args)
    return info.value


def test_auth_checks():
    auth.missing_key_is_auth_required(error(401, "AUTH_REQUIRED"))
    assert violated(auth.missing_key_is_auth_required, error(401, "AUTH_INVALID")).check == (
        "missing_key_is_auth_required"
    )
    auth.wrong_key_is_auth_invalid(error(401, "AUTH_INVALID"))
    violated(auth.wrong_key_is_auth_invalid, error(401, "AUTH_REQUIRED"))
    violated(auth.wrong_key_is_auth_invalid, exchange())
    violated(auth.wrong_key_is_auth_invalid, error(403, "AUTH_INVALID"))
    auth.org_mismatch_forbidden(error(403, "AUTH_ORG_MISMATCH"))
    violated(auth.org_mismatch_forbidden, exchange())
    violated(auth.org_mismatch_forbidden, error(404 - 1, "AUTH_SCOPE_FORBIDDEN"))
    auth.valid_key_accepted(exchange())
    violated(auth.valid_key_accepted, error(401, "AUTH_INVALID"))
    limited = error(429, "RATE_LIMITED", retryable=True)
    auth.wrong_key_burst_refused([error(401, "AUTH_INVALID"), limited, error(503, "X")])
    violated(auth.wrong_key_burst_refused, [error(401, "AUTH_INVALID"), exchange()])
    violated(auth.wrong_key_burst_refused, [error(500, "INTERNAL")])


def test_same_answer():
    auth.same_answer(FIELDS, exchange(), exchange())
    violated(auth.same_answer, FIELDS, exchange(), error(401, "AUTH_INVALID"))
    other = usage_ex({**GOOD_USAGE, "billed_memory_mib_seconds": 1})
    assert (
        violated(auth.same_answer, FIELDS, exchange(), other).location
        == "$.billed_memory_mib_seconds"
    )


def test_period_checks():
    requests.malformed_period_rejected(error(400, "INVALID_PERIOD_START"))
    violated(requests.malformed_period_rejected, exchange())
    violated(requests.malformed_period_rejected, error(500, "INTERNAL", retryable=True))
    requests.valid_period_accepted(exchange())
    violated(requests.valid_period_accepted, error(400, "INVALID_PERIOD_START"))
    requests.period_start_any_valid_date(error(400, "INVALID_PERIOD_START"))
    violated(requests.period_start_any_valid_date, error(500, "INTERNAL"))


def test_empty_period_is_refused_or_the_default():
    more = usage_ex({**GOOD_USAGE, "billed_awake_seconds": 7200})
    refused = error(400, "INVALID_PERIOD_START")
    usage.empty_period_refused_or_default(FIELDS, exchange(), refused, more)
    usage.empty_period_refused_or_default(FIELDS, exchange(), exchange(), more)
    zero = usage_ex({**GOOD_USAGE, **{name: 0 for name in FIELDS}})
    violated(usage.empty_period_refused_or_default, FIELDS, exchange(), zero, more)
    violated(usage.empty_period_refused_or_default, FIELDS, exchange(), error(500, "X"), more)


def test_counter_relations():
    more = usage_ex({**GOOD_USAGE, "billed_awake_seconds": 7200})
    usage.open_period_monotonic(FIELDS, exchange(), more)
    violated(usage.open_period_monotonic, FIELDS, more, exchange())
    usage.closed_period_stable(FIELDS, exchange(), exchange())
    violated(usage.closed_period_stable, FIELDS, exchange(), more)
    zero = usage_ex({**GOOD_USAGE, **{name: 0 for name in FIELDS}})
    usage.future_period_unbilled(FIELDS, zero)
    usage.future_period_unbilled(FIELDS, error(400, "INVALID_PERIOD_START"))
    violated(usage.future_period_unbilled, FIELDS, exchange())
    usage.default_period_is_current_month(FIELDS, exchange(), exchange(), more)
    violated(usage.default_period_is_current_month, FIELDS, exchange(), zero, more)
    other_plan = usage_ex({**GOOD_USAGE, "plan_slug": "free"})
    violated(usage.default_period_is_current_month, FIELDS, exchange(), other_plan, exchange())


def test_request_checks():
    requests.unknown_params_harmless(exchange())
    requests.unknown_params_harmless(error(400, "INVALID_REQUEST"))
    violated(requests.unknown_params_harmless, error(500, "INTERNAL"))
    allowed = CONTRACT.allowed_methods("/v1/usage")
    violated(requests.undeclared_method_refused, allowed, exchange(method="POST"))
    fields = tuple(GOOD_USAGE)
    requests.sibling_path_gives_no_usage(fields, error(404, "NOT_FOUND"))
    requests.sibling_path_gives_no_usage(fields, exchange(200, {"plan_slug": "docs"}))
    violated(requests.sibling_path_gives_no_usage, fields, exchange())


def refusal(method: str, status: int = 405, allow: str | None = None):
    problem = {"title": "Method Not Allowed", "status": status}
    headers = {} if allow is None else {"allow": allow}
    return exchange(
        status, problem, media="application/problem+json", method=method, headers=headers
    )


@pytest.mark.parametrize(
    "method, status, allow",
    [
        ("POST", 405, "GET, HEAD"),
        ("DELETE", 405, "GET"),
        ("PUT", 405, "GET, HEAD, OPTIONS"),  # a gateway answering OPTIONS itself
        ("PATCH", 405, "get,head"),
        ("QUERY", 501, None),  # a method HTTP does not define: 501 Not Implemented
        ("QUERY", 405, "GET"),
    ],
)
def test_undeclared_method_refusals_a_correct_server_may_give(method, status, allow):
    allowed = CONTRACT.allowed_methods("/v1/usage")
    requests.undeclared_method_refused(allowed, refusal(method, status, allow))


@pytest.mark.parametrize(
    "method, status, allow",
    [
        ("POST", 405, None),  # RFC 9110: a 405 MUST carry Allow
        ("POST", 405, ""),
        ("POST", 405, "GET, HEAD, POST"),  # lists the very method it refused
        ("DELETE", 405, "GET, PUT"),  # claims an undeclared method
        ("DELETE", 405, "HEAD"),  # leaves out the declared GET
        ("POST", 501, None),  # POST is an HTTP method: 405, not 501
        ("PUT", 404, None),
    ],
)
def test_undeclared_method_refusals_that_break_the_contract(method, status, allow):
    allowed = CONTRACT.allowed_methods("/v1/usage")
    violated(requests.undeclared_method_refused, allowed, refusal(method, status, allow))


def test_credential_checks():
    for statuses in [(401,), (400, 401)]:
        auth.malformed_credentials_refused(statuses, error(401, "AUTH_INVALID"))
        auth.malformed_credentials_refused(statuses, error(401, "AUTH_REQUIRED"))
        violated(auth.malformed_credentials_refused, statuses, exchange())
        violated(auth.malformed_credentials_refused, statuses, error(500, "INTERNAL"))
        violated(auth.malformed_credentials_refused, statuses, error(401, "BAD_KEY"))
    auth.malformed_credentials_refused((400, 401), error(400, "INVALID_REQUEST"))
    auth.key_only_where_declared((401,), error(401, "AUTH_REQUIRED"))
    violated(auth.key_only_where_declared, (401,), error(401, "AUTH_INVALID"))
    violated(auth.key_only_where_declared, (400, 401), exchange())
    auth.foreign_org_refused((400, 403), error(400, "INVALID_ORG"))
    auth.foreign_org_refused((403,), error(403, "AUTH_ORG_MISMATCH"))
    violated(auth.foreign_org_refused, (403,), error(403, "AUTH_SCOPE_FORBIDDEN"))
    violated(auth.foreign_org_refused, (400, 403), exchange())


def test_no_credential_carry_over():
    answers = {
        "valid": exchange(),
        "missing": error(401, "AUTH_REQUIRED"),
        "wrong": error(401, "AUTH_INVALID"),
    }
    kinds = ["valid", "missing", "wrong", "valid"]
    auth.no_credential_carry_over(kinds, [answers[k] for k in kinds])
    cached = [answers["valid"], answers["valid"], answers["wrong"], answers["valid"]]
    found = violated(auth.no_credential_carry_over, kinds, cached)
    assert "request 2 (missing key, after valid)" in found.message


def test_path_and_period_relations():
    requests.path_variant_guarded(error(401, "AUTH_REQUIRED"))
    requests.path_variant_guarded(exchange(404, {"title": "x"}, media="text/html"))
    requests.path_variant_guarded(exchange(308, {}, media=""))
    violated(requests.path_variant_guarded, exchange())
    violated(requests.path_variant_guarded, error(500, "INTERNAL"))
    requests.path_variant_same_contract(exchange(), exchange())
    requests.path_variant_same_contract(exchange(), exchange(404, {"title": "x"}))
    other_org = usage_ex({**GOOD_USAGE, "billed_awake_seconds": 1})
    violated(requests.path_variant_same_contract, exchange(), other_org)
    violated(requests.path_variant_same_contract, exchange(), error(500, "INTERNAL"))
    usage.current_storage_same_for_every_period(exchange(), usage_ex(GOOD_USAGE))
    more = usage_ex({**GOOD_USAGE, "provisioned_storage_gib": 60})
    violated(usage.current_storage_same_for_every_period, exchange(), more)
    usage.plan_determines_included_storage(exchange(), usage_ex(GOOD_USAGE))
    other_plan = usage_ex({**GOOD_USAGE, "plan_slug": "free", "included_storage_gib": 1})
    usage.plan_determines_included_storage(exchange(), other_plan)
    same_plan = usage_ex({**GOOD_USAGE, "included_storage_gib": 1})
    violated(usage.plan_determines_included_storage, exchange(), same_plan)
    problem = {"type": "about:blank", "title": "Method Not Allowed", "status": 405}
    first = exchange(405, problem, media="application/problem+json")
    requests.problem_title_stable(first, exchange(405, problem, media="application/problem+json"))
    renamed = {**problem, "title": "Nope"}
    second = exchange(405, renamed, media="application/problem+json")
    violated(requests.problem_title_stable, first, second)


def test_violation_text_masks_the_key_and_shows_evidence():
    ex = usage_ex(
        {**GOOD_USAGE, "plan_slug": "dcs_secret_key"}, headers={"x-echo": "dcs_secret_key"}
    )
    ex.request_headers["Authorization"] = "Bearer dcs_secret_key"
    text = format_violation(violated(usage.future_period_unbilled, FIELDS, ex))
    assert "dcs_secret_key" not in text
    assert "[future_period_unbilled]" in text
    assert "curl" in text and "x-api-key: ***" in text and "Bearer ***" in text
    assert "dcs_secret_key" not in json.dumps(
        violated(usage.future_period_unbilled, FIELDS, ex).as_dict()
    )


HTML_PAGE = b"<html><body><h1>refused</h1></body></html>"


def edge_refusal(status, *, method="GET", request=None, raw=HTML_PAGE, headers=None):
    """An HTTP layer's own refusal (a proxy's or the server's page) of a request."""
    ex = exchange(status, raw=raw, media="text/html" if raw else "", method=method)
    ex.request_headers = {"x-api-key": "dcs_secret_key", **(request or {})}
    ex.headers.update({"server": "nginx/1.22.1", **(headers or {})})
    return ex


@pytest.mark.parametrize(
    "ex",
    [
        edge_refusal(405, method="TRACE", headers={"allow": "GET, HEAD"}),
        edge_refusal(501, method="FOO"),
        edge_refusal(400, method="get"),
        edge_refusal(431, request={f"X-Pad-{i}": "v" for i in range(101)}),
        edge_refusal(400, request={"X-Pad": "v" * 2000}),
        edge_refusal(400, request={"If-None-Match": "*", "if-none-match": '"a"'}),
        edge_refusal(400, request={"X-Dcs": "caf\u00e9"}),
        edge_refusal(417, request={"Expect": "100-continue"}, raw=b""),
    ],
    ids=["trace_405", "unknown_501", "lower_case_400", "many_fields_431", "long_line_400",
         "repeated_conditional_400", "non_ascii_400", "expect_417_empty"],
)  # fmt: skip
def test_http_layer_refusals_of_requests_outside_the_api_pass(ex):
    assert broken_checks(ex) == []


def test_http_layer_pages_for_requests_inside_the_api_fail_and_name_the_server():
    found = validate_response(CONTRACT, USAGE, edge_refusal(400))
    assert {"content_type_documented", "body_matches_schema"} <= {v.check for v in found}
    assert all("Server: nginx/1.22.1" in v.message for v in found)
    assert (
        "Server:" not in validate_response(CONTRACT, USAGE, exchange(media="text/plain"))[0].message
    )


def test_tenancy_checks():
    own, other = exchange(), usage_ex({**GOOD_USAGE, **{name: 0 for name in FIELDS}})
    auth.no_undeclared_org_selector(own, exchange())
    auth.no_undeclared_org_selector(own, error(400, "INVALID_QUERY"))
    auth.no_undeclared_org_selector(own, error(403, "AUTH_ORG_MISMATCH"))
    auth.no_undeclared_org_selector(error(401, "AUTH_INVALID"), other)  # no reference to judge
    assert violated(auth.no_undeclared_org_selector, own, other).check == (
        "no_undeclared_org_selector"
    )
    violated(auth.no_undeclared_org_selector, own, error(404, "X"))
    ids = ("org_globex", "org_globea")
    named = [
        exchange(
            403, {"error_code": "AUTH_ORG_MISMATCH", "message": f"no {org}", "retryable": False}
        )
        for org in ids
    ]
    auth.org_existence_not_revealed(*named, ids)
    same = error(403, "AUTH_ORG_MISMATCH")
    auth.org_existence_not_revealed(same, same, ids)
    told = error(403, "AUTH_ORG_MISMATCH", message="organization org_globea does not exist")
    violated(auth.org_existence_not_revealed, same, told, ids)
    violated(auth.org_existence_not_revealed, same, error(404, "ORG_NOT_FOUND"), ids)


def test_retried_answers_are_checked_for_their_hint():
    blip = error(502, "BILLING_LEDGER_UNAVAILABLE", retryable=True, retry_after_ms=-1)
    final = exchange(retried=(blip,))
    found = validate_response(CONTRACT, USAGE, final)
    assert [(v.check, v.exchanges[0] is blip) for v in found] == [("retry_hint_non_negative", True)]
    assert validate_response(CONTRACT, USAGE, exchange(retried=(error(429, "X"),))) == []


def test_no_date_is_allowed_only_on_http_layer_refusals():
    refusal = edge_refusal(400, request={f"X-Pad-{i}": "v" for i in range(101)})
    del refusal.headers["date"]
    assert broken_checks(refusal) == []
    plain = edge_refusal(400)
    del plain.headers["date"]
    assert "date_present" in broken_checks(plain)


# --- 204 and 304 framing, 401 challenges ---------------------------------------------------


def test_no_content_length_in_204():
    preflight = exchange(204, raw=b"", media=None, method="OPTIONS")
    assert "no_content_length_in_204" not in broken_checks(preflight)
    counted = exchange(204, raw=b"", media=None, method="OPTIONS", headers={"content-length": "0"})
    assert "no_content_length_in_204" in broken_checks(counted)


def test_not_modified_as_200():
    full = {"etag": '"a1"', "cache-control": "private, max-age=60", "vary": "Accept-Encoding"}
    reference = exchange(headers={**full, "content-length": "177"})
    length = str(len(reference.body))
    kept = dict(full)
    messages.not_modified_as_200(reference, exchange(304, raw=b"", media=None, headers=kept))
    for same in (length, "177"):  # the 200's, decoded or as framed
        with_length = {**kept, "content-length": same}
        messages.not_modified_as_200(
            reference, exchange(304, raw=b"", media=None, headers=with_length)
        )
    bare = violated(messages.not_modified_as_200, reference, exchange(304, raw=b"", media=None))
    assert bare.location == "header etag" and "cache-control" in bare.message
    zero = {**kept, "content-length": "0"}
    wrong = violated(
        messages.not_modified_as_200, reference, exchange(304, raw=b"", media=None, headers=zero)
    )
    assert wrong.location == "header Content-Length"
    messages.not_modified_as_200(reference, exchange(headers={}))  # a 200: nothing to compare


@pytest.mark.parametrize(
    ("value", "note"),
    [
        (None, "no_challenge"),
        ("", "no_challenge"),
        ('Basic realm="dcs"', "no_bearer_challenge"),
        ('Bearerish realm="x"', "no_bearer_challenge"),
        ('Bearer realm="dcs"', None),
        ('Basic realm="a", bearer realm="dcs", error="invalid_token"', None),
        ("Bearer", None),
    ],
)
def test_auth_challenge_sent_warns(value, note):
    record = trace.start()
    document = {"error_code": "AUTH_INVALID", "message": "m", "retryable": False}
    answer = exchange(401, document, headers={"www-authenticate": value})
    assert "auth_challenge_sent" not in broken_checks(answer)  # a warning, never a failure
    warned = [w.note for w in record.warnings if w.check == "auth_challenge_sent"]
    assert warned == ([note] if note else [])


@pytest.mark.parametrize(
    ("headers", "document", "where"),
    [
        ({"location": "https:///v1/usage"}, None, "header location"),
        ({"location": "http://:8080/v1/usage"}, None, "header location"),
        ({"content-location": "https://u:p@api.example/v1/usage"}, None, "header content-location"),
        ({"location": "//ops@api.example/v1/usage"}, None, "header location"),
        ({}, {"type": "https://@errors.example/x"}, "$.type"),
        ({}, {"instance": "https://svc:pw@usage.internal/e/1"}, "$.instance"),
        ({"location": "/v1/usage?period_start=2025-01-01"}, None, None),
        ({"location": "https://[::1]:8443/v1/usage"}, None, None),
        ({"location": "mailto:ops@example.com"}, None, None),
        ({}, {"type": "about:blank", "instance": "/errors/1"}, None),
    ],
)
def test_generated_uris_well_formed(headers, document, where):
    problem = {"title": "Not Found", "status": 404, **(document or {})}
    ex = exchange(404, problem, media="application/problem+json", headers=headers)
    found = [
        v for v in validate_response(CONTRACT, USAGE, ex) if v.check == "generated_uris_well_formed"
    ]
    assert [v.location for v in found] == ([where] if where else [])


def test_no_interim_to_http10():
    assert "no_interim_to_http10" in broken_checks(exchange(http_version="1.0", interim=(103,)))
    assert "no_interim_to_http10" not in broken_checks(exchange(interim=(103,)))
    assert "no_interim_to_http10" not in broken_checks(exchange(http_version="1.0"))
