"""Each fault of the catalogue really breaks the mock as its description says (fast, in process;
wire-level faults over a real loopback socket with tight timeouts), and the CLI serves them."""

from __future__ import annotations

import base64
import contextlib
import email.utils
import http.client
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from conformance.checks import CATALOGUE, auth, ground_truth, requests
from conformance.checks import usage as usage_checks
from conformance.mock import FAULTS, KNOWN_LIMITS, create_app, faulty_app
from conformance.mock._faults.catalogue import apply_fault, catalogue_text, get_fault
from tests._in_process import AUTH, FX, KEY, NOW, ORG, TestClient, in_process_pair, usage
from tests._support import loopback, mock_cli, mock_cli_serving

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SCHEMATHESIS_CHECKS = {
    "st.not_a_server_error",
    "st.status_code_conformance",
    "st.content_type_conformance",
    "st.response_headers_conformance",
    "st.response_schema_conformance",
    "st.negative_data_rejection",
    "st.positive_data_acceptance",
    "st.missing_required_header",
    "st.unsupported_method",
}
LIMIT_NAMES = {limit.fault.name for limit in KNOWN_LIMITS}
CHECK_MODULES = (
    auth,
    ground_truth,
    requests,
    usage_checks,
)  # importing them registers their checks in CATALOGUE


def client(*faults: str) -> TestClient:
    return TestClient(faulty_app(FX, faults, clock=lambda: NOW))


GOOD = client()


def good(period: str | None = None) -> dict:
    return usage(GOOD, period).json()


# --- in process: one assertion per fault, on what the description promises -------------


def _missing(c: TestClient) -> None:
    assert "billed_memory_mib_seconds" not in usage(c).json()


def _extra(c: TestClient) -> None:
    assert usage(c).json().get("currency") == "usd"


def _as_string(c: TestClient) -> None:
    assert usage(c).json()["billed_awake_seconds"] == str(good()["billed_awake_seconds"])


def _null(c: TestClient) -> None:
    assert usage(c).json()["provisioned_storage_gib"] is None


def _float(c: TestClient) -> None:
    reply = usage(c)
    value = reply.json()["billed_cpu_millicore_seconds"]
    assert isinstance(value, float) and value == good()["billed_cpu_millicore_seconds"]


def _over(c: TestClient) -> None:
    assert usage(c).json()["billed_logical_storage_mib_seconds"] > 2**63 - 1


def _negative(c: TestClient) -> None:
    assert usage(c).json()["included_storage_gib"] == -1


def _slug(expected: object) -> Callable[[TestClient], None]:
    return lambda c: _equal(usage(c).json()["plan_slug"], expected)


def _equal(actual: object, expected: object) -> None:
    assert actual == expected, (actual, expected)


def _error(c: TestClient, **headers: str) -> httpx.Response:
    return c.get("/v1/usage", headers=headers)


def _no_retryable(c: TestClient) -> None:
    body = _error(c).json()
    assert body["error_code"] == "AUTH_REQUIRED" and "retryable" not in body


def _trace(c: TestClient) -> None:
    assert "trace_id" in _error(c).json()


def _retryable_string(c: TestClient) -> None:
    assert _error(c).json()["retryable"] == "false"


def _lowercase(c: TestClient) -> None:
    assert _error(c).json()["error_code"] == "auth_required"


def _details(c: TestClient) -> None:
    body = usage(c, "2025-02-30").json()
    assert body["details"] == {"parameter": "period_start", "position": 0}


def _auth_retryable(c: TestClient) -> None:
    assert _error(c).json()["retryable"] is True
    assert _error(c, **AUTH, **{"X-Dedalus-Org-Id": "org_globex"}).json()["retryable"] is True
    assert usage(c, "nope").json()["retryable"] is False  # 400 untouched


def _problem(c: TestClient) -> None:
    reply = _error(c)
    assert reply.status_code == 401
    assert reply.headers["content-type"] == "application/problem+json"


def _codes(missing: tuple[int, str], wrong: tuple[int, str]) -> Callable[[TestClient], None]:
    def check(c: TestClient) -> None:
        no_key = _error(c)
        bad_key = _error(c, **{"x-api-key": "dcs_not_a_key"})
        _equal((no_key.status_code, no_key.json()["error_code"]), missing)
        _equal((bad_key.status_code, bad_key.json()["error_code"]), wrong)

    return check


def _statuses(*cases: tuple[dict[str, str], int]) -> Callable[[TestClient], None]:
    def check(c: TestClient) -> None:
        _equal([_error(c, **headers).status_code for headers, _ in cases], [s for _, s in cases])

    return check


def _previous_month(c: TestClient) -> None:
    _equal(usage(c).json(), good("2026-10-01"))
    assert good("2026-10-01") != good()


def _rolled(c: TestClient) -> None:
    _equal(usage(c, "2025-02-30").json(), good("2025-03-02"))
    assert usage(c, "2025-13-01").json() == good("2026-01-01")


def _crash(period: str, fine: str) -> Callable[[TestClient], None]:
    def check(c: TestClient) -> None:
        crash, ok = usage(c, period), usage(c, fine)
        code = crash.json().get("error_code")
        _equal((crash.status_code, code, ok.status_code), (500, "INTERNAL", 200))

    return check


def _current_month_refused(c: TestClient) -> None:
    codes = [usage(c, p).status_code for p in ("2026-11-01", "2026-10-01", None)]
    _equal(codes, [400, 200, 200])


def _future(c: TestClient) -> None:
    assert good("2027-01-01")["billed_awake_seconds"] == 0
    assert usage(c, "2027-01-01").json()["billed_awake_seconds"] > 0


def _ignored(c: TestClient) -> None:
    _equal(usage(c, "2025-01-01").json(), good())
    assert usage(c, "yesterday").status_code == 200


def _decreasing(c: TestClient) -> None:
    first, second = (usage(c, "2026-11-01").json()["billed_awake_seconds"] for _ in range(2))
    assert second < first


def _jitter(c: TestClient) -> None:
    first, second = (usage(c, "2026-06-01").json() for _ in range(2))
    assert first != second and first["plan_slug"] == second["plan_slug"]
    assert usage(c, "2027-01-01").json()["billed_awake_seconds"] == 0  # zero stays zero


def _text_plain(c: TestClient) -> None:
    reply = usage(c)
    assert reply.headers["content-type"].startswith("text/plain")
    _equal(reply.json(), good())


def _html(c: TestClient) -> None:
    for reply in (c.get("/v1/usage"), c.get("/v1/usage?period_start=2025-13-01", headers=AUTH)):
        _equal(reply.status_code in (400, 401), True)
        assert reply.headers["content-type"].startswith("text/html")
    assert usage(c).status_code == 200


def _html_500(c: TestClient) -> None:
    reply = c.get("/v1/usage", params={"foo": "1"}, headers=AUTH)
    _equal(reply.status_code, 500)
    assert reply.headers["content-type"].startswith("text/html")
    assert usage(c).status_code == 200


def _post(c: TestClient) -> None:
    reply = c.post("/v1/usage", headers=AUTH)
    _equal((reply.status_code, reply.json()), (200, good()))
    assert c.put("/v1/usage", headers=AUTH).status_code == 405


def _no_allow(c: TestClient) -> None:
    reply = c.put("/v1/usage", headers=AUTH)
    assert reply.status_code == 405 and "allow" not in reply.headers


def _truncated(c: TestClient) -> None:
    reply = usage(c)
    assert 0 < len(reply.content) < len(usage(GOOD).content)
    _equal(reply.headers["content-length"], str(len(reply.content)))
    with pytest.raises(ValueError):
        json.loads(reply.content)


def _empty(c: TestClient) -> None:
    reply = usage(c)
    assert reply.status_code == 200 and reply.content == b""


def _latin1(c: TestClient) -> None:
    body = usage(c).content
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert json.loads(body.decode("latin-1"))["plan_slug"] == "pro-\u00e9t\u00e9"


def _open_hour(c: TestClient) -> None:
    now, closed = usage(c, "2026-11-01").json(), good("2026-11-01")
    assert now["billed_awake_seconds"] > closed["billed_awake_seconds"]  # half of 12:00-13:00
    _equal(usage(c, "2026-06-01").json(), good("2026-06-01"))


def _deleted(c: TestClient) -> None:
    assert usage(c).json()["provisioned_storage_gib"] > good()["provisioned_storage_gib"]


def _other_org(c: TestClient) -> None:
    body = usage(c, "2026-06-01").json()
    globex = usage(GOOD, "2026-06-01", **{"x-api-key": FX.orgs["org_globex"].api_keys[0]})
    _equal(body["billed_awake_seconds"], globex.json()["billed_awake_seconds"])
    _equal(body["plan_slug"], "pro")


# credentials, secrets, calendar, JSON on the wire, contract sentences


def _bearer(value: str | bytes) -> dict[str, str | bytes]:
    return {"Authorization": value}


def _key_in_query(c: TestClient) -> None:
    codes = [
        c.get("/v1/usage", params={name: KEY}).status_code
        for name in ("api_key", "access_token", "apikey")
    ]
    _equal(codes, [200, 200, 401])
    _equal(c.get("/v1/usage", params={"api_key": KEY}).json(), good())


def _cache(c: TestClient) -> None:
    keyless = _error(c, **{}).status_code  # nothing cached yet: refused
    assert usage(c, "2026-06-01").status_code == 200  # now cached, keyed by URL only
    replies = [usage(c, "2026-06-01", **h) for h in ({"x-api-key": "nope"}, {"Accept": "*/*"})]
    _equal([(r.status_code, r.json()) for r in replies], [(200, good("2026-06-01"))] * 2)
    _equal(keyless, 401)
    assert usage(c, "2026-05-01", **{"Accept": "*/*"}).status_code == 401  # another URL


def _echoed(c: TestClient) -> None:
    assert KEY in _error(c, **{"x-api-key": KEY + "0"}).json()["message"]
    assert KEY in _error(c, **AUTH, **{"X-Dedalus-Org-Id": "org_globex"}).json()["message"]
    assert KEY not in _error(c).text  # no key, nothing to echo


def _debug_header(c: TestClient) -> None:
    for headers in (AUTH, {"x-api-key": "dcs_not_a_key"}, _bearer(f"Bearer {KEY}")):
        key = headers.get("x-api-key") or KEY
        _equal(
            _error(c, **headers).headers.get("x-debug-auth"),
            base64.b64encode(key.encode()).decode(),
        )
    assert "x-debug-auth" not in _error(c).headers


def _request_line(c: TestClient) -> None:
    reply = c.get("/v1/usage", params={"api_key": KEY})
    _equal(reply.json()["message"], f"missing Dedalus API key (GET /v1/usage?api_key={KEY})")
    _equal(usage(c).json(), good())


def _lenient(c: TestClient) -> None:
    _equal(usage(c, "2025-W01-1").json(), good("2024-12-30"))
    _equal(
        [usage(c, p).status_code for p in ("20250101", "2025-02-30", "2025-001")], [200, 400, 400]
    )


def _duplicate(c: TestClient) -> None:
    body = usage(c).content
    _equal(body.count(b'"billed_awake_seconds":'), 2)
    _equal(json.loads(body), good())  # the last one wins: the figure is right


def _bom(c: TestClient) -> None:
    for reply in (usage(c), _error(c), c.put("/v1/usage")):
        assert reply.content.startswith(b"\xef\xbb\xbf{"), reply.content[:8]
    _equal(json.loads(usage(c).content[3:]), good())


def _trailing(c: TestClient) -> None:
    body = usage(c).content
    assert body.endswith(b"}0\r\n\r\n")
    _equal(json.loads(body[:-5]), good())


def _storage_at_end(c: TestClient) -> None:
    periods = ("2025-05-01", "2026-08-01", None)
    _equal([usage(c, p).json()["provisioned_storage_gib"] for p in periods], [140, 40, 50])


def _retryable_400(c: TestClient) -> None:
    _equal((usage(c, "nope").status_code, usage(c, "nope").json()["retryable"]), (400, True))
    assert _error(c).json()["retryable"] is False


def _negative_hint(c: TestClient) -> None:
    replies = [usage(c, CLOSED_PERIOD) for _ in range(20)]
    blips = [i for i, reply in enumerate(replies) if reply.status_code == 502]
    _equal(blips, [9, 19])  # every 10th, the retry after it goes through
    body = replies[9].json()
    _equal((body["error_code"], body["retryable"], body["retry_after_ms"]), (
        "BILLING_LEDGER_UNAVAILABLE", True, -1))  # fmt: skip


def _memory_gib_hours(c: TestClient) -> None:
    right, wrong = good(CLOSED_PERIOD), usage(c, CLOSED_PERIOD).json()
    memory = right["billed_memory_mib_seconds"] // 3_686_400
    _equal(wrong, {**right, "billed_memory_mib_seconds": memory})
    assert 0 < wrong["billed_memory_mib_seconds"] < wrong["billed_awake_seconds"]


def _traceback(c: TestClient) -> None:
    message = usage(c, "2025-13-01").json()["message"]
    assert message.startswith("Traceback (most recent call last)") and "SELECT" in message
    _equal(_error(c).json()["message"], "missing Dedalus API key")  # 401s as before


def _origin_reflected(c: TestClient) -> None:
    for origin in ("https://evil.example", "null"):
        reply = usage(c, CLOSED_PERIOD, **AUTH, Origin=origin)
        _equal(reply.headers.get("access-control-allow-origin"), origin)
        _equal(reply.headers.get("access-control-allow-credentials"), "true")
    assert "access-control-allow-origin" not in usage(c, CLOSED_PERIOD).headers


def _cors(c: TestClient, name: str) -> str | None:
    return usage(c, CLOSED_PERIOD, **AUTH, Origin="https://evil.example").headers.get(name)


def _origin_list(c: TestClient) -> None:
    _equal(
        _cors(c, "access-control-allow-origin"),
        "https://console.dcs.example https://admin.dcs.example",
    )


def _credentials_capitalised(c: TestClient) -> None:
    _equal(_cors(c, "access-control-allow-credentials"), "True")


def _echo_without_vary(c: TestClient) -> None:
    reply = usage(c, CLOSED_PERIOD, **AUTH, Origin="https://evil.example")
    _equal(reply.headers.get("access-control-allow-origin"), "https://evil.example")
    assert "origin" not in reply.headers.get("vary", "").lower()


def _preflight_405(c: TestClient) -> None:
    asked = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    reply = c.options("/v1/usage", headers=asked)
    _equal((reply.status_code, reply.headers.get("access-control-allow-origin")), (405, "*"))
    _equal(reply.headers.get("access-control-allow-methods"), "GET, HEAD, OPTIONS")


def _title_from_detail(c: TestClient) -> None:
    document = c.delete("/v1/usage", headers=AUTH).json()
    _equal((document["type"], document["title"]), ("about:blank", document["detail"]))
    assert document["title"] != "Method Not Allowed"


def _v2_unguarded(c: TestClient) -> None:
    reply = c.get("/v2/usage", params={"period_start": CLOSED_PERIOD})
    _equal(reply.status_code, 200)
    assert "billed_awake_seconds" in reply.json()


def _lockout_open(c: TestClient) -> None:
    wrong = [usage(c, CLOSED_PERIOD, **{"x-api-key": f"dcs_wrong_{n}"}) for n in range(8)]
    _equal([r.status_code for r in wrong], [401] * 7 + [200])
    _equal(usage(c, CLOSED_PERIOD).status_code, 200)  # the valid key as before


def _org_from_query(c: TestClient) -> None:
    empty = FX.suite_empty_org_id
    switched = c.get("/v1/usage", params={"period_start": CLOSED_PERIOD, "org_id": empty},
                     headers=AUTH)  # fmt: skip
    _equal(switched.status_code, 200)
    assert switched.json() != good(CLOSED_PERIOD)
    _equal(switched.json()["billed_awake_seconds"], 0)
    keyless = c.get("/v1/usage", params={"org_id": empty})
    _equal(keyless.status_code, 401)


def _org_oracle(c: TestClient) -> None:
    known = usage(c, CLOSED_PERIOD, **AUTH, **{"X-Dedalus-Org-Id": "org_globex"}).json()
    unknown = usage(c, CLOSED_PERIOD, **AUTH, **{"X-Dedalus-Org-Id": "org_globea"}).json()
    _equal((known["error_code"], unknown["error_code"]), ("AUTH_ORG_MISMATCH",) * 2)
    _equal(unknown["message"], "organization org_globea does not exist")
    assert known["message"] != unknown["message"]


def _problem_status(c: TestClient) -> None:
    reply = c.put("/v1/usage")
    _equal((reply.status_code, reply.json()["status"]), (405, 400))


def _title_per_request(c: TestClient) -> None:
    first, second = (c.put("/v1/usage").json()["title"] for _ in range(2))
    assert first != second and first.startswith("Method Not Allowed (request "), first


def _memory_asleep(c: TestClient) -> None:
    body, right = usage(c, "2025-03-01").json(), good("2025-03-01")
    assert body["billed_memory_mib_seconds"] > right["billed_memory_mib_seconds"]
    _equal(body["billed_awake_seconds"], right["billed_awake_seconds"])


def _cpu_minimum(c: TestClient) -> None:
    body = usage(c, "2020-01-01").json()
    _equal((body["billed_awake_seconds"], body["billed_cpu_millicore_seconds"]), (0, 1000))
    _equal(usage(c, "2025-03-01").json(), good("2025-03-01"))  # above the minimum: unchanged


def _cpu_allocation(c: TestClient) -> None:
    body, right = usage(c, "2025-03-01").json(), good("2025-03-01")
    assert body["billed_cpu_millicore_seconds"] > right["billed_cpu_millicore_seconds"]
    _equal(body["billed_awake_seconds"], right["billed_awake_seconds"])


def _prorated(c: TestClient) -> None:
    plan = good("2025-03-01")["included_storage_gib"]
    figures = [usage(c, p).json()["included_storage_gib"] for p in ("2025-03-01", "2025-04-01")]
    _equal(figures, [plan, plan * 30 // 31])


def _empty_epoch(c: TestClient) -> None:
    reply = usage(c, "")
    _equal((reply.status_code, reply.json()), (200, good("1970-01-01")))
    assert reply.json() != good()


# the whole request space: methods, HEAD, caching, header fields, targets, equivalent requests

CLOSED_PERIOD = "2026-06-01"
HTTP_DATE = "Sun, 06 Nov 1994 08:49:37 GMT"


def _keyless_usage(*methods: str) -> Callable[[TestClient], None]:
    def check(c: TestClient) -> None:
        for method in methods:
            reply = c.request(method, "/v1/usage")
            _equal((method, reply.status_code, reply.json()), (method, 200, good()))
        assert _error(c).status_code == 401  # GET itself is still guarded

    return check


def _write_methods(c: TestClient) -> None:
    _keyless_usage("POST", "PUT", "PATCH")(c)
    assert c.delete("/v1/usage", headers=AUTH).status_code == 405


def _unknown_methods(c: TestClient) -> None:
    _keyless_usage("QUERY", "PROPFIND", "FROB")(c)
    assert c.request("TRACE", "/v1/usage").status_code == 405  # HTTP defines it: refused


def _override(c: TestClient) -> None:
    for name in ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"):
        reply = c.post("/v1/usage", headers={name: "GET"})
        _equal((reply.status_code, reply.json()), (200, good()))
    assert c.post("/v1/usage").status_code == 405
    assert c.post("/v1/usage", headers={"X-HTTP-Method-Override": "DELETE"}).status_code == 405


def _trace_echo(c: TestClient) -> None:
    reply = c.request("TRACE", "/v1/usage", headers=AUTH)
    _equal((reply.status_code, reply.headers["content-type"]), (200, "message/http"))
    assert reply.text.startswith("TRACE /v1/usage HTTP/1.1\r\n") and KEY in reply.text
    assert c.request("TRACE", "/v1/usage").status_code == 200  # without a key too


def _head(status: int, fields: dict[str, str | None]) -> Callable[[TestClient], None]:
    def check(c: TestClient) -> None:
        reply = c.head("/v1/usage", headers=AUTH)
        _equal(reply.status_code, status)
        _equal({name: reply.headers.get(name) for name in fields}, fields)
        _equal(c.head("/v1/usage").status_code, 401)  # without a key: the GET's 401

    return check


def _cache_directive(directive: str) -> Callable[[TestClient], None]:
    def check(c: TestClient) -> None:
        _equal(usage(c, CLOSED_PERIOD).headers.get("cache-control"), directive)
        assert "vary" not in usage(c).headers
        assert "cache-control" not in _error(c).headers  # errors untouched

    return check


def _expires(c: TestClient) -> None:
    from email.utils import parsedate_to_datetime

    expires = parsedate_to_datetime(usage(c).headers.get("expires", HTTP_DATE))
    assert expires.timestamp() > time.time() + 3000
    assert "cache-control" not in usage(c).headers


def _with(**headers: str | bytes) -> dict[str, str | bytes]:
    return {**AUTH, **headers}


def _negotiation(c: TestClient) -> None:
    _statuses(
        (_with(Accept="text/html"), 500),
        (_with(Accept="*/*;q=0.8"), 500),
        (_with(Accept="application/json, text/plain"), 500),
        (_with(Accept="application/json"), 200),
        (_with(Accept="*/*"), 200),
        (_with(**{"Accept-Language": "fr-CH, fr;q=0.9"}), 500),
        (_with(**{"Accept-Language": "en-US"}), 200),
    )(c)


PROBLEM = "application/problem+json"


def _accept_406(c: TestClient) -> None:
    refused = c.get("/v1/usage", headers=_with(Accept="*/*"))
    _equal((refused.status_code, refused.headers["content-type"]), (406, PROBLEM))
    _statuses(
        (_with(Accept="application/json"), 200),
        (_with(Accept="application/*"), 406),
        (_with(Accept="application/json, */*;q=0.1"), 406),
    )(c)


def _encodings(c: TestClient) -> None:
    _statuses(
        (_with(**{"Accept-Encoding": "br"}), 500),
        (_with(**{"Accept-Encoding": "gzip, deflate, zstd"}), 500),
        (_with(**{"Accept-Encoding": "gzip, br;q=0"}), 200),
        (_with(**{"Accept-Encoding": "gzip, deflate"}), 200),
    )(c)


def _conditional_500(c: TestClient) -> None:
    _statuses(
        (_with(**{"If-Modified-Since": "yesterday"}), 500),
        (_with(**{"If-Modified-Since": "Sunday, 06-Nov-94 08:49:37 GMT"}), 500),
        (_with(**{"If-Unmodified-Since": HTTP_DATE}), 200),
        (_with(**{"If-Modified-Since": HTTP_DATE}), 200),
        (_with(**{"If-None-Match": "abc"}), 500),
        (_with(**{"If-Match": '"abc", W/"def"'}), 200),
        (_with(**{"If-None-Match": "*"}), 200),
    )(c)


def _range(c: TestClient) -> None:
    whole = usage(GOOD).content
    reply = c.get("/v1/usage", headers=_with(Range="bytes=0-9"))
    _equal(
        (reply.status_code, reply.headers.get("content-range")), (206, f"bytes 0-9/{len(whole)}")
    )
    _equal(reply.content, whole[:9])  # nine bytes where the range names ten
    assert c.get("/v1/usage", headers=_with(Range=f"bytes=0-{len(whole)}")).status_code == 200


def _cookie(c: TestClient) -> None:
    _statuses(
        (_with(Cookie="theme=dark; lang=en"), 200),
        (_with(Cookie="garbage"), 500),
        (_with(Cookie='theme="dark"'), 500),
        (_with(Cookie="theme=d\u00e4rk".encode()), 500),
    )(c)


def _forwarded(c: TestClient) -> None:
    _statuses(
        (_with(**{"X-Forwarded-For": "203.0.113.7, 10.0.0.1"}), 200),
        (_with(**{"X-Forwarded-For": "2001:db8::1"}), 500),
        (_with(**{"X-Forwarded-For": "unknown"}), 500),
        (_with(Forwarded="for=192.0.2.60;proto=http"), 200),
        (_with(Forwarded='for="[2001:db8:cafe::17]:4711"'), 500),
    )(c)


def _access_log(c: TestClient) -> None:
    _statuses(
        (_with(**{"User-Agent": "x" * 600}), 500),
        (_with(**{"User-Agent": "x" * 500}), 200),
        (_with(**{"Accept-Language": "caf\u00e9".encode()}), 500),
    )(c)


def _repeated_field(c: TestClient) -> None:
    twice = [("x-api-key", KEY), ("accept", "application/json"), ("accept", "*/*")]
    _equal(c.get("/v1/usage", headers=twice).status_code, 500)
    _equal(usage(c).status_code, 200)


def _content_type(c: TestClient) -> None:
    _statuses(
        (_with(**{"Content-Type": "application/json"}), 500),
        (_with(**{"Content-Type": "application/x-www-form-urlencoded"}), 500),
        (AUTH, 200),
    )(c)


def _not_modified_without_key(c: TestClient) -> None:
    tag = usage(c, CLOSED_PERIOD).headers.get("etag", '"none"')
    for asked in (tag, "*", f'W/"x", {tag}'):
        _equal(_error(c, **{"If-None-Match": asked}).status_code, 304)
    _equal(_error(c, **{"If-None-Match": '"never-issued"'}).status_code, 401)
    _equal(_error(c).status_code, 401)


def _tag_of_the_period(c: TestClient) -> None:
    mine, empty = usage(c, CLOSED_PERIOD), usage(c, CLOSED_PERIOD, **{"x-api-key": EMPTY_KEY})
    _equal(mine.headers.get("etag") == empty.headers.get("etag") is not None, True)
    _equal(mine.json() == empty.json(), False)
    asked = {"If-None-Match": mine.headers.get("etag", '"none"'), "x-api-key": EMPTY_KEY}
    _equal(usage(c, CLOSED_PERIOD, **asked).status_code, 304)


def _modified_after_date(c: TestClient) -> None:
    answer = usage(c, CLOSED_PERIOD)
    modified = answer.headers.get("last-modified")
    now = email.utils.parsedate_to_datetime(answer.headers.get("date") or _now_header())
    assert modified is not None and email.utils.parsedate_to_datetime(modified) > now


def _now_header() -> str:
    return email.utils.formatdate(time.time() + 2, usegmt=True)


def _weak_tag_lower_case(c: TestClient) -> None:
    tag = usage(c, CLOSED_PERIOD).headers.get("etag")
    assert tag is not None and re.fullmatch(r'w/"[0-9a-f]+"', tag), tag


def _rewrite_header(c: TestClient) -> None:
    for name, path in (("X-Original-URL", "/"), ("X-Rewrite-URL", "/health")):
        _equal(_error(c, **{name: path}).status_code, 200)
    _equal(_error(c, **{"X-Original-URL": "/v1/usage"}).status_code, 401)
    _equal(_error(c).status_code, 401)


def _from_operator(c: TestClient) -> None:
    _equal(_error(c, From="admin@example.com").status_code, 200)
    _equal(_error(c).status_code, 401)


def _list_syntax(c: TestClient) -> None:
    _statuses(
        (_with(Accept=", application/json,"), 400),
        (_with(**{"Accept-Encoding": "gzip ,, identity"}), 400),
        (_with(**{"If-None-Match": '"a" , ,W/"b"'}), 400),
        (_with(Accept='application/json;profile="a\\"b"'), 400),
        (_with(Accept="application/json, */*", **{"If-None-Match": '"a", W/"b"'}), 200),
    )(c)


def _content_location(c: TestClient) -> None:
    other, own = usage(c, "2026-05-01").json(), usage(c, CLOSED_PERIOD).json()
    elsewhere = {**AUTH, "Content-Location": "/v1/usage?period_start=2026-05-01"}
    _equal(usage(c, CLOSED_PERIOD, **elsewhere).json(), other)
    _equal(usage(c, CLOSED_PERIOD, **AUTH, **{"Content-Location": "/v1/usage"}).json(), own)
    assert other != own


def _session_cookie(c: TestClient) -> None:
    keyed = usage(c, CLOSED_PERIOD)
    session = keyed.headers.get("set-cookie", "").split(";")[0]
    c.cookies.clear()  # only the Cookie field sent by hand counts
    closed = {"period_start": CLOSED_PERIOD}
    _equal(c.get("/v1/usage", params=closed, headers={"Cookie": session}).json(), keyed.json())
    _equal(_error(c, Cookie="dcs_session=forged").status_code, 401)


def _query(c: TestClient, query: str, **headers: str) -> httpx.Response:
    return c.get(f"/v1/usage?{query}", headers=headers or AUTH)


def _repeated_param(c: TestClient) -> None:
    for query in (f"period_start={CLOSED_PERIOD}&period_start={CLOSED_PERIOD}", "a=1&a=2"):
        _equal(_query(c, query).status_code, 500)
    _equal(_query(c, f"period_start={CLOSED_PERIOD}&a=1").json(), good(CLOSED_PERIOD))


def _only_first(c: TestClient) -> None:
    _equal(_query(c, f"x=1&period_start={CLOSED_PERIOD}").json(), good())
    _equal(_query(c, f"period_start={CLOSED_PERIOD}&x=1").json(), good(CLOSED_PERIOD))
    assert good() != good(CLOSED_PERIOD)


def _encoded(c: TestClient) -> None:
    _equal(_query(c, f"period%5Fstart={CLOSED_PERIOD}").json(), good())
    for query in ("period_start=2026%2D06-01", "period_start=%32026-06-01"):
        reply = _query(c, query)
        _equal((reply.status_code, reply.json()["error_code"]), (400, "INVALID_PERIOD_START"))
    _equal(_query(c, f"period_start={CLOSED_PERIOD}").json(), good(CLOSED_PERIOD))


def _empty_pair(c: TestClient) -> None:
    for query in (f"period_start={CLOSED_PERIOD}&&x=1", "&x=1", "x=1&", "flag"):
        _equal((query, _query(c, query).status_code), (query, 500))
    _equal(_query(c, f"x=&period_start={CLOSED_PERIOD}").status_code, 200)


def _long_query(c: TestClient) -> None:
    _equal(_query(c, "x=" + "a" * 1100).status_code, 500)
    _equal(_query(c, "x=" + "a" * 1000).status_code, 200)


def _own_org(c: TestClient) -> None:
    body = usage(c, CLOSED_PERIOD, **AUTH, **{"X-Dedalus-Org-Id": ORG}).json()
    right = good(CLOSED_PERIOD)
    _equal([body[name] for name in body if name.startswith("billed_")], [0] * 4)
    _equal(body["plan_slug"], right["plan_slug"])
    assert right["billed_awake_seconds"] > 0
    _equal(usage(c, CLOSED_PERIOD).json(), right)


def _canary_pool(c: TestClient) -> None:
    right = good(CLOSED_PERIOD)
    body = usage(c, CLOSED_PERIOD, **AUTH, **{"X-Irrelevant": "1"}).json()
    _equal(body["billed_cpu_millicore_seconds"], right["billed_cpu_millicore_seconds"] // 1000)
    known = {"Accept-Language": "en", "Cache-Control": "no-cache", "Sec-Fetch-Mode": "cors"}
    _equal(usage(c, CLOSED_PERIOD, **AUTH, **known).json(), right)


WRONG = {"x-api-key": "dcs_not_a_key"}
EMPTY_KEY = FX.suite_empty_org[0] if FX.suite_empty_org else ""


def _instance_userinfo(c: TestClient) -> None:
    answer = c.put("/v1/usage")
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json().get("instance", "").startswith("https://svc-usage:s3cr3t@")
    assert "instance" not in client().put("/v1/usage").json()


IN_PROCESS: dict[str, Callable[[TestClient], None]] = {
    "problem_instance_with_userinfo": _instance_userinfo,
    "usage_field_missing": _missing,
    "usage_extra_field": _extra,
    "usage_counter_as_string": _as_string,
    "usage_counter_null": _null,
    "usage_counter_float": _float,
    "usage_counter_over_int64": _over,
    "usage_counter_negative": _negative,
    "plan_slug_empty": _slug(""),
    "plan_slug_null": _slug(None),
    "error_missing_retryable": _no_retryable,
    "error_extra_field": _trace,
    "error_retryable_string": _retryable_string,
    "error_code_lowercase": _lowercase,
    "error_details_not_strings": _details,
    "auth_errors_retryable": _auth_retryable,
    "auth_errors_as_problem_json": _problem,
    "auth_codes_swapped": _codes((401, "AUTH_INVALID"), (401, "AUTH_REQUIRED")),
    "invalid_key_forbidden": _codes((401, "AUTH_REQUIRED"), (403, "AUTH_INVALID")),
    "missing_key_200": _codes((200, "AUTH_REQUIRED"), (401, "AUTH_INVALID")),
    "bearer_prefix_kept": _statuses(({"Authorization": f"Bearer {KEY}"}, 401), (AUTH, 200)),
    "bearer_scheme_case_sensitive": _statuses(
        ({"Authorization": f"Bearer {KEY}"}, 200), ({"Authorization": f"bearer {KEY}"}, 401)
    ),
    "x_api_key_ignored": _statuses((AUTH, 401), ({"Authorization": f"Bearer {KEY}"}, 200)),
    "key_prefix_match": _statuses(
        ({"x-api-key": KEY[:-1]}, 200), ({"x-api-key": KEY[:19]}, 401), (WRONG, 401)
    ),
    "org_header_ignored": _statuses(({**AUTH, "X-Dedalus-Org-Id": "org_globex"}, 200)),
    "own_org_header_forbidden": _statuses(({**AUTH, "X-Dedalus-Org-Id": ORG}, 403), (AUTH, 200)),
    "default_period_previous_month": _previous_month,
    "impossible_dates_rolled_over": _rolled,
    "malformed_period_500": _crash("2025-02-30", "2025-02-01"),
    "mid_month_period_500": _crash("2025-02-15", "2025-02-01"),
    "current_month_refused": _current_month_refused,
    "future_period_billed": _future,
    "period_start_ignored": _ignored,
    "open_period_decreasing": _decreasing,
    "closed_period_jitter": _jitter,
    "usage_as_text_plain": _text_plain,
    "html_error_pages": _html,
    "unknown_param_html_500": _html_500,
    "post_answered_as_get": _post,
    "method_not_allowed_without_allow": _no_allow,
    "truncated_json": _truncated,
    "empty_200_body": _empty,
    "invalid_utf8_body": _latin1,
    "open_hour_counted": _open_hour,
    "deleted_storage_counted": _deleted,
    "other_orgs_counters": _other_org,
    "any_auth_scheme_accepted": _statuses(
        *((_bearer(f"{scheme} {KEY}"), 200) for scheme in ("Token", "ApiKey", "Basic")),
        (_bearer("Token dcs_not_a_key"), 401),
    ),
    "bearer_without_space": _statuses(
        (_bearer(f"Bearer{KEY}"), 200), (_bearer(f"Bearer {KEY}"), 200), (_bearer("Bearer"), 401)
    ),
    "bare_key_in_authorization": _statuses(
        (_bearer(KEY), 200), (_bearer("dcs_not_a_key"), 401), (_bearer("Bearer"), 401)
    ),
    "long_key_crash": _statuses(
        (_bearer("Bearer " + "k" * 1001), 500),
        ({"x-api-key": "k" * 1001}, 500),
        ({"x-api-key": "k" * 999}, 401),
        (AUTH, 200),
    ),
    "non_ascii_key_crash": _statuses(
        (_bearer(f"Bearer {KEY}\u00e9".encode()), 500),
        ({"x-api-key": "dcs_\u00df".encode()}, 500),
        (WRONG, 401),
    ),
    "key_case_insensitive": _statuses(
        ({"x-api-key": KEY.swapcase()}, 200), ({"x-api-key": KEY.upper()}, 200), (WRONG, 401)
    ),
    "key_prefix_accepted": _statuses(
        ({"x-api-key": KEY[:8]}, 200),
        ({"x-api-key": KEY[:7]}, 401),
        ({"x-api-key": KEY + "0"}, 401),
    ),
    "org_id_case_insensitive": _statuses(
        ({**AUTH, "X-Dedalus-Org-Id": ORG.upper()}, 200),
        ({**AUTH, "X-Dedalus-Org-Id": "org_globex"}, 403),
    ),
    "org_id_prefix_match": _statuses(
        ({**AUTH, "X-Dedalus-Org-Id": ORG + "x"}, 200),
        ({**AUTH, "X-Dedalus-Org-Id": ORG[:-1]}, 200),
        ({**AUTH, "X-Dedalus-Org-Id": "org_globex"}, 403),
    ),
    "api_key_in_query": _key_in_query,
    "api_key_in_cookie": _statuses(
        ({"Cookie": f"theme=dark; api_key={KEY}"}, 200), ({"Cookie": f"session={KEY}"}, 401)
    ),
    "alternate_key_headers": _statuses(
        ({"X-Auth-Token": KEY}, 200), ({"Api-Key": KEY}, 200), ({"X-Access-Token": KEY}, 401)
    ),
    "cache_ignores_credentials": _cache,
    "key_echoed_in_errors": _echoed,
    "key_in_debug_header": _debug_header,
    "request_line_in_errors": _request_line,
    "lenient_iso8601_dates": _lenient,
    "december_period_crash": _crash("2025-12-01", "2025-11-30"),
    "year_9999_period_crash": _crash("9999-12-31", "9999-11-30"),
    "pre_epoch_period_crash": _crash("1969-12-01", "1970-01-01"),
    "month_end_period_crash": _crash("2025-01-31", "2025-12-31"),
    "duplicate_member_names": _duplicate,
    "utf8_bom": _bom,
    "trailing_data_after_json": _trailing,
    "storage_as_of_period_end": _storage_at_end,
    "request_errors_retryable": _retryable_400,
    "negative_retry_hint": _negative_hint,
    "problem_status_mismatch": _problem_status,
    "problem_title_per_request": _title_per_request,
    "memory_billed_while_asleep": _memory_asleep,
    "cpu_minimum_charge": _cpu_minimum,
    "cpu_at_allocation": _cpu_allocation,
    "included_storage_prorated": _prorated,
    "empty_period_as_epoch": _empty_epoch,
    "write_methods_unauthenticated": _write_methods,
    "options_usage_body": _keyless_usage("OPTIONS"),
    "unknown_methods_fall_through": _unknown_methods,
    "method_override_before_auth": _override,
    "trace_echoes_request": _trace_echo,
    "head_204": _head(204, {"content-type": None, "content-length": None}),
    "head_length_zero": _head(200, {"content-type": "application/json", "content-length": "0"}),
    "cache_public": _cache_directive("public, max-age=300"),
    "cache_s_maxage": _cache_directive("s-maxage=600"),
    "cache_max_age_without_vary": _cache_directive("max-age=60"),
    "cache_expires_future": _expires,
    "negotiation_500": _negotiation,
    "accept_not_literal_json_406": _accept_406,
    "accept_encoding_500": _encodings,
    "conditional_malformed_500": _conditional_500,
    "range_off_by_one": _range,
    "cookie_500": _cookie,
    "forwarded_for_500": _forwarded,
    "access_log_500": _access_log,
    "repeated_field_500": _repeated_field,
    "content_type_on_get_500": _content_type,
    "not_modified_without_key": _not_modified_without_key,
    "rewrite_header_skips_auth": _rewrite_header,
    "etag_of_the_period": _tag_of_the_period,
    "session_cookie_stands_for_key": _session_cookie,
    "from_stands_for_key": _from_operator,
    "list_syntax_strict_400": _list_syntax,
    "content_location_selects_period": _content_location,
    "repeated_param_500": _repeated_param,
    "period_only_first_param": _only_first,
    "encoded_unreserved_differs": _encoded,
    "empty_pair_500": _empty_pair,
    "long_query_500": _long_query,
    "own_org_header_zeroed": _own_org,
    "unknown_field_canary_pool": _canary_pool,
    "traceback_in_errors": _traceback,
    "memory_in_gib_hours": _memory_gib_hours,
    "cors_reflects_any_origin": _origin_reflected,
    "cors_origin_list": _origin_list,
    "cors_credentials_capitalised": _credentials_capitalised,
    "cors_echo_without_vary": _echo_without_vary,
    "preflight_granted_with_405": _preflight_405,
    "problem_title_is_detail": _title_from_detail,
    "v2_usage_unguarded": _v2_unguarded,
    "lockout_fails_open": _lockout_open,
    "org_query_parameter_switches_tenant": _org_from_query,
    "org_existence_oracle": _org_oracle,
    "last_modified_after_date": _modified_after_date,
    "etag_weak_lower_case": _weak_tag_lower_case,
}


test_fault_misbehaves_in_process, test_the_correct_mock_does_not = in_process_pair(
    IN_PROCESS, client, lambda: GOOD, (AssertionError, pytest.fail.Exception)
)


# --- over a real socket: the wire-level faults ----------------------------------------


@pytest.fixture
def server() -> Iterator[Callable[[str], str]]:
    """``start(fault)`` serves one faulty app (``start("")``: the correct mock) on loopback and
    returns its base URL."""
    with loopback(lambda name: faulty_app(FX, [name] if name else [])) as start:
        yield lambda name: start(name).base_url


def fetch(base: str, period: str | None = None, timeout: float = 2, **headers: str):
    params = {} if period is None else {"period_start": period}
    with httpx.Client(base_url=base, timeout=timeout, trust_env=False) as http:
        return http.get("/v1/usage", params=params, headers=headers or AUTH)


def test_header_names_case_sensitive(server) -> None:
    base = server("header_names_case_sensitive")
    assert fetch(base, **{"x-api-key": KEY}).status_code == 200
    assert fetch(base, **{"X-Api-Key": KEY}).status_code == 401
    assert fetch(base, **{"authorization": f"Bearer {KEY}"}).status_code == 200
    assert fetch(base, **{"Authorization": f"Bearer {KEY}"}).status_code == 401
    scoped = {"x-api-key": KEY, "X-Dedalus-Org-Id": "org_globex"}
    assert fetch(base, **scoped).status_code == 200  # the org header went unseen


def raw_get(port: int, target: str, timeout: float = 3) -> tuple[bytes, BaseException | None]:
    """Send one GET and read until the server closes or fails: (bytes read, error)."""
    received = b""
    request = f"GET {target} HTTP/1.1\r\nHost: x\r\nx-api-key: {KEY}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except OSError as exc:
            return received, exc
    return received, None


def test_reset_mid_response(server) -> None:
    port = int(server("reset_mid_response").rsplit(":", 1)[1])
    received, error = raw_get(port, "/v1/usage?period_start=2026-06-01")
    assert isinstance(error, ConnectionResetError), (received, error)
    if received:  # the head and half the body may or may not be read before the reset
        head, _, body = received.partition(b"\r\n\r\n")
        length = int(re.search(rb"content-length: (\d+)", head.lower()).group(1))
        assert len(body) < length
    plain, error = raw_get(port, "/v1/usage", timeout=2)
    assert plain.startswith(b"HTTP/1.1 200") and error is not None  # keep-alive: timed out


def test_slow_dribble_old_periods(server) -> None:
    base = server("slow_dribble_old_periods")
    started = time.monotonic()
    with (
        httpx.Client(base_url=base, timeout=5, trust_env=False) as http,
        http.stream("GET", "/v1/usage", params={"period_start": "2020-01-01"}, headers=AUTH) as r,
    ):
        assert r.status_code == 200 and int(r.headers["content-length"]) > 100
        got = b""
        for chunk in r.iter_raw():
            got += chunk
            if time.monotonic() - started > 1.0:
                break
    assert 1 <= len(got) <= 8  # about 4 bytes a second
    assert fetch(base, "2026-06-01", timeout=1).status_code == 200


def test_hang_mid_month(server) -> None:
    base = server("hang_mid_month")
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        fetch(base, "2026-06-15", timeout=0.5)
    assert time.monotonic() - started < 2
    assert fetch(base, "2026-06-01", timeout=1).status_code == 200


def test_huge_body_bad_period(server) -> None:
    base = server("huge_body_bad_period")
    with (
        httpx.Client(base_url=base, timeout=5, trust_env=False) as http,
        http.stream("GET", "/v1/usage", params={"period_start": "2025-02-30"}, headers=AUTH) as r,
    ):
        assert r.headers["content-type"].startswith("text/plain")
        assert "content-length" not in r.headers
        got = 0
        for chunk in r.iter_raw():
            got += len(chunk)
            if got > 8 << 20:
                break
    assert got > 8 << 20
    assert fetch(base, "2025-02-01").status_code == 200


def plain_http(base: str) -> http.client.HTTPConnection:
    """A keep-alive connection that sends each request target exactly as spelled."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=2)


def get(
    connection: http.client.HTTPConnection, target: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes, http.client.HTTPMessage]:
    connection.request("GET", target, headers=headers or {})
    reply = connection.getresponse()
    return reply.status, reply.read(), reply.headers


CLOSED = "?period_start=2026-06-01"
PATH_FAULTS = {
    "trailing_slash_unauthenticated": ["/v1/usage/"],
    "case_insensitive_route_unauthenticated": ["/V1/USAGE", "/v1/Usage"],
    "encoded_path_unauthenticated": ["/v1/%75sage", "/v1%2Fusage"],
    "dot_segments_unauthenticated": ["/v1/./usage", "/v1/x/../usage", "/v1//usage", "//v1/usage"],
}
OTHER_SPELLINGS = ["/v1/usage/", "/V1/USAGE", "/v1/%75sage", "/v1/./usage", "/v1//usage"]


@pytest.mark.parametrize("name", sorted(PATH_FAULTS))
def test_path_spellings_served_unauthenticated(server, name: str) -> None:
    with contextlib.closing(plain_http(server(name))) as connection:
        reference = get(connection, "/v1/usage" + CLOSED, {"x-api-key": KEY})
        assert reference[0] == 200
        for path in PATH_FAULTS[name]:
            status, body, _ = get(connection, path + CLOSED)
            assert (status, json.loads(body)) == (200, json.loads(reference[1])), path
        assert get(connection, "/v1/usage" + CLOSED)[0] == 401  # the exact path is guarded
        for path in set(OTHER_SPELLINGS) - set(PATH_FAULTS[name]):
            assert get(connection, path + CLOSED)[0] in (401, 404), path  # as the mock answers


def test_correct_mock_guards_every_spelling(server) -> None:
    spellings = {path for paths in PATH_FAULTS.values() for path in paths}
    with contextlib.closing(plain_http(server(""))) as connection:
        for path in sorted(spellings):
            assert get(connection, path + CLOSED)[0] in (401, 404), path


def test_path_variant_crash(server) -> None:
    with contextlib.closing(plain_http(server("path_variant_crash"))) as connection:
        for path in ("/v1//usage", "//v1/usage"):
            for headers in ({}, AUTH):
                status, body, _ = get(connection, path + CLOSED, headers)
                assert (status, json.loads(body)["error_code"]) == (500, "INTERNAL"), path
        assert get(connection, "/v1/usage" + CLOSED, AUTH)[0] == 200
        assert get(connection, "/v1/usage/" + CLOSED, AUTH)[0] == 404


def test_auth_sticky_connection(server) -> None:
    base = server("auth_sticky_connection")
    with contextlib.closing(plain_http(base)) as connection:
        assert get(connection, "/v1/usage" + CLOSED)[0] == 401  # nothing authenticated yet
        status, first, _ = get(connection, "/v1/usage" + CLOSED, AUTH)
        assert status == 200
        for headers in ({}, WRONG, {"Authorization": "Bearer nope"}):
            assert get(connection, "/v1/usage" + CLOSED, headers)[:2] == (200, first), headers
        other = {"x-api-key": FX.orgs["org_globex"].api_keys[0]}
        status, theirs, _ = get(connection, "/v1/usage" + CLOSED, other)
        assert status == 200 and theirs != first  # a valid key still gets its own org
        assert get(connection, "/v1/usage" + CLOSED)[:2] == (200, first)  # the first org stays
    with contextlib.closing(plain_http(base)) as fresh:
        assert get(fresh, "/v1/usage" + CLOSED)[0] == 401  # a new connection starts clean


def test_previous_request_org(server) -> None:
    base = server("previous_request_org")
    other = {"x-api-key": FX.orgs["org_globex"].api_keys[0]}
    with contextlib.closing(plain_http(base)) as fresh:
        theirs = get(fresh, "/v1/usage" + CLOSED, other)[1]
    with contextlib.closing(plain_http(base)) as connection:
        status, ours, _ = get(connection, "/v1/usage" + CLOSED, AUTH)
        assert status == 200 and ours != theirs
        assert get(connection, "/v1/usage" + CLOSED, other)[:2] == (200, ours)  # carried over
        assert get(connection, "/v1/usage" + CLOSED, other)[:2] == (200, theirs)  # same org again
        assert get(connection, "/v1/usage" + CLOSED, AUTH)[:2] == (200, theirs)  # and back
        assert get(connection, "/v1/usage" + CLOSED)[0] == 401  # no key: still refused


def test_concurrent_requests_share_org(server) -> None:
    base = server("concurrent_requests_share_org")
    other = {"x-api-key": FX.orgs["org_globex"].api_keys[0]}
    with contextlib.closing(plain_http(base)) as connection:  # one at a time: each its own
        ours = get(connection, "/v1/usage" + CLOSED, AUTH)[1]
        theirs = get(connection, "/v1/usage" + CLOSED, other)[1]
        assert ours != theirs and get(connection, "/v1/usage" + CLOSED, AUTH)[1] == ours

    def read(headers: dict[str, str]) -> bytes:
        with contextlib.closing(plain_http(base)) as own:
            return get(own, "/v1/usage" + CLOSED, headers)[1]

    with ThreadPoolExecutor(max_workers=2) as pool:  # at once: both get the org seen last
        for _ in range(5):  # (a thread may start late on a busy machine: a few bursts)
            answers = list(pool.map(read, [AUTH, other]))
            if answers[0] == answers[1]:
                break
    assert answers in ([ours, ours], [theirs, theirs]), answers


def test_gzip_label_plain_body(server) -> None:
    with contextlib.closing(plain_http(server("gzip_label_plain_body"))) as connection:
        status, body, headers = get(connection, "/v1/usage" + CLOSED, AUTH)
        assert (status, headers["content-encoding"]) == (200, "gzip")
        assert json.loads(body)["plan_slug"] == "pro"  # plain JSON, not gzip
        status, body, headers = get(connection, "/v1/usage", AUTH)
        assert status == 200 and "content-encoding" not in headers  # the preflight's request


def raw_exchange(port: int, request: bytes, wait: float = 0.5) -> bytes:
    """Send ``request`` and read what comes until the server is quiet for ``wait`` seconds."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(request)
        sock.settimeout(wait)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


def raw_request(
    method: str = "GET", target: str = "/v1/usage" + CLOSED, version: str = "1.1", **fields: str
) -> bytes:
    lines = [f"{method} {target} HTTP/{version}", "Host: x"]
    lines += [f"{name}: {value}" for name, value in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


KEYED = {"x-api-key": KEY}


def test_head_before_auth(server) -> None:
    port = port_of(server("head_before_auth"))
    reference = fetch(server(""), CLOSED_PERIOD)
    head, _, rest = raw_exchange(port, raw_request("HEAD")).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and rest == b"", head  # no key, yet 200
    assert b"content-length: %d" % len(reference.content) in head.lower()
    assert raw_exchange(port, raw_request()).startswith(b"HTTP/1.1 401 ")  # GET is guarded


def test_head_with_body(server) -> None:
    port = port_of(server("head_with_body"))
    head, _, rest = raw_exchange(port, raw_request("HEAD", **KEYED)).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    length = int(re.search(rb"content-length: (\d+)", head.lower()).group(1))
    _equal(json.loads(rest), good(CLOSED_PERIOD))  # the body a HEAD response must not have
    _equal(len(rest), length)
    clean = raw_exchange(port_of(server("")), raw_request("HEAD", **KEYED))
    assert clean.endswith(b"\r\n\r\n") and clean.count(b"\r\n\r\n") == 1  # the correct mock


def test_absolute_form_500(server) -> None:
    port = port_of(server("absolute_form_500"))
    absolute = raw_request(target=f"http://127.0.0.1:{port}/v1/usage{CLOSED}", **KEYED)
    assert raw_exchange(port, absolute).startswith(b"HTTP/1.1 500 ")
    assert raw_exchange(port, raw_request(**KEYED)).startswith(b"HTTP/1.1 200 ")


def test_foreign_authority_500(server) -> None:
    port, good = port_of(server("foreign_authority_500")), port_of(server(""))
    for authority in ("", "user@x", "dcs-conformance.invalid"):  # raw_request's Host is x
        absolute = raw_request(target=f"http://{authority}/v1/usage{CLOSED}", **KEYED)
        assert raw_exchange(port, absolute).startswith(b"HTTP/1.1 500 "), authority
        assert not raw_exchange(good, absolute).startswith(b"HTTP/1.1 500 "), authority
    own = raw_request(target=f"http://x/v1/usage{CLOSED}", **KEYED)
    assert raw_exchange(port, own).startswith(b"HTTP/1.1 200 ")


def test_http10_legacy_backend(server) -> None:
    port = port_of(server("http10_legacy_backend"))
    old = raw_exchange(port, raw_request(version="1.0", **KEYED)).partition(b"\r\n\r\n")[2]
    new = raw_exchange(port, raw_request(**KEYED)).partition(b"\r\n\r\n")[2]
    right = good(CLOSED_PERIOD)
    _equal(json.loads(new), right)
    memory = right["billed_memory_mib_seconds"] // 3600
    _equal(json.loads(old), {**right, "billed_memory_mib_seconds": memory})


def test_chunked_to_http10(server) -> None:
    port = port_of(server("chunked_to_http10"))
    for version in ("1.0", "1.1"):
        request = raw_request(version=version, Connection="close", **KEYED)
        head, _, body = raw_exchange(port, request).partition(b"\r\n\r\n")
        assert b"transfer-encoding: chunked" in head.lower(), (version, head)
        assert b"content-length" not in head.lower() and body.endswith(b"0\r\n\r\n"), version
    correct = raw_exchange(port_of(server("")), raw_request(version="1.0", **KEYED))
    assert b"transfer-encoding" not in correct.partition(b"\r\n\r\n")[0].lower()


def test_content_length_beside_chunked(server) -> None:
    port = port_of(server("content_length_beside_chunked"))
    head, _, body = raw_exchange(port, raw_request(Connection="close", **KEYED)).partition(
        b"\r\n\r\n"
    )
    assert b"transfer-encoding: chunked" in head.lower() and b"content-length:" in head.lower()
    assert body.endswith(b"0\r\n\r\n")


def test_fresh_connection_stale_replica(server) -> None:
    base = server("fresh_connection_stale_replica")
    right = good(CLOSED_PERIOD)
    stale = {name: value * 9 // 10 if name.startswith("billed_") else value
             for name, value in right.items()}  # fmt: skip
    for _ in range(2):  # each new connection starts with a stale read
        with contextlib.closing(plain_http(base)) as connection:
            assert get(connection, "/v1/usage", {})[0] == 401  # an error is a first request too
            first = json.loads(get(connection, "/v1/usage" + CLOSED, AUTH)[1])
            again = json.loads(get(connection, "/v1/usage" + CLOSED, AUTH)[1])
        with contextlib.closing(plain_http(base)) as connection:
            fresh = json.loads(get(connection, "/v1/usage" + CLOSED, AUTH)[1])
        _equal((first, again, fresh), (right, right, stale))


def test_not_modified_unconditional(server) -> None:
    base = server("not_modified_unconditional")
    with contextlib.closing(plain_http(base)) as connection:
        status, body, headers = get(connection, "/v1/usage" + CLOSED, AUTH)
        assert status == 200 and headers["etag"]
        status, body, _ = get(connection, "/v1/usage" + CLOSED, AUTH)  # not conditional
        _equal((status, body), (304, b""))
        assert get(connection, "/v1/usage", AUTH)[0] == 200  # another answer: another tag
        asked = {**AUTH, "If-None-Match": '"other"'}
        assert get(connection, "/v1/usage" + CLOSED, asked)[0] == 200  # asked, no match
    with contextlib.closing(plain_http(base)) as fresh:
        assert get(fresh, "/v1/usage" + CLOSED, AUTH)[0] == 200


def test_expect_continue_hang(server) -> None:
    base = server("expect_continue_hang")
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        fetch(base, timeout=0.5, **KEYED, **{"Expect": "100-continue"})
    assert time.monotonic() - started < 2
    assert fetch(base, timeout=1).status_code == 200
    assert fetch(server(""), timeout=1, **KEYED, **{"Expect": "100-continue"}).status_code == 200


def test_correct_mock_across_the_request_space(server) -> None:
    """What the request-space faults get wrong, the correct mock gets right over the wire."""
    port = port_of(server(""))
    reference = fetch(server(""), CLOSED_PERIOD)
    for method in ("HEAD", "OPTIONS", "TRACE", "QUERY", "PROPFIND", "POST"):
        status = int(raw_exchange(port, raw_request(method)).split(b" ", 2)[1])
        assert status in (401, 405), (method, status)
    head = raw_exchange(port, raw_request("HEAD", **KEYED))
    assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n")
    assert b"content-length: %d\r\n" % len(reference.content) in head.lower()
    for request in (
        raw_request(target=f"http://127.0.0.1:{port}/v1/usage{CLOSED}", **KEYED),
        raw_request(version="1.0", **KEYED),
        raw_request(**KEYED, **{"X-Dedalus-Org-Id": ORG, "X-Irrelevant": "1"}),
        raw_request(**KEYED, **{"If-Modified-Since": "yesterday", "Range": "bytes=0-9"}),
        raw_request(**KEYED, **{"Accept": "text/html", "Cache-Control": "no-cache"}),
    ):
        response = raw_exchange(port, request)
        assert response.startswith(b"HTTP/1.1 200 "), request
        _equal(json.loads(response.partition(b"\r\n\r\n")[2]), reference.json())
        assert b"cache-control" not in response.lower() and b"etag" not in response.lower()
    with contextlib.closing(plain_http(server(""))) as connection:
        answers = [get(connection, "/v1/usage" + CLOSED, AUTH)[:2] for _ in range(3)]
        _equal(answers, [(200, reference.content)] * 3)


#: RFC 9110 5.6.7's IMF-fixdate.
IMF_FIXDATE = (
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d\d:\d\d:\d\d GMT"
)


def test_date_not_imf_fixdate(server) -> None:
    date = fetch(server("date_not_imf_fixdate"), CLOSED_PERIOD).headers.get_list("date")
    assert len(date) == 1 and not re.fullmatch(IMF_FIXDATE, date[0]), date
    assert email.utils.parsedate_to_datetime(date[0])  # an obsolete form, still a date
    assert re.fullmatch(IMF_FIXDATE, fetch(server(""), CLOSED_PERIOD).headers["date"])


def wire_probe(port: int, request: bytes) -> tuple[int | None, bool]:
    """The status ``request`` gets (None: no answer) and whether the server then closed."""
    received, closed = b"", False
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(request)
        sock.settimeout(0.5)
        try:
            while chunk := sock.recv(65536):
                received += chunk
            closed = True
        except TimeoutError:
            pass
        except ConnectionResetError:
            closed = True
    status = int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/1.") else None
    return status, closed


_TARGET = b"/v1/usage" + CLOSED.encode()
_KEY_LINE = b"x-api-key: " + KEY.encode()
#: Each HTTP/1.1 fault: a request, what the fault answers, what the correct mock answers
#: (status, closed after).
HTTP1_PROBES: dict[str, tuple[bytes, tuple[int | None, bool], tuple[int | None, bool]]] = {
    "missing_host_accepted": (b"GET " + _TARGET + b" HTTP/1.1\r\n\r\n", (401, False), (400, True)),
    "double_host_accepted": (
        b"GET " + _TARGET + b" HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        (401, False),
        (400, True),
    ),
    "invalid_host_accepted": (
        b"GET " + _TARGET + b" HTTP/1.1\r\nHost: a b\r\n\r\n",
        (401, False),
        (400, True),
    ),
    "space_before_colon_accepted": (
        b"GET " + _TARGET + b" HTTP/1.1\r\nHost: x\r\nx-api-key : " + KEY.encode() + b"\r\n\r\n",
        (200, False),
        (400, True),
    ),
    "control_bytes_in_field_500": (
        b"GET " + _TARGET + b" HTTP/1.1\r\nHost: x\r\nX-Probe: a\x00b\r\n\r\n",
        (500, True),
        (400, True),
    ),
    "indented_field_line_taken": (
        b"GET " + _TARGET + b" HTTP/1.1\r\n " + _KEY_LINE + b"\r\nHost: x\r\n\r\n",
        (200, False),
        (400, True),
    ),
    "garbage_request_line_500": (
        b"GET " + _TARGET + b"\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        (500, True),
        (400, True),
    ),
    "garbage_request_line_kept_open": (
        b"GET " + _TARGET + b"\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        (400, False),
        (400, True),
    ),
    "raw_target_autocorrected": (
        b"GET " + _TARGET + b"&note=a b HTTP/1.1\r\nHost: x\r\n" + _KEY_LINE + b"\r\n\r\n",
        (200, False),
        (400, True),
    ),
    "long_method_500": (
        b"X" * 100 + b" " + _TARGET + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        (500, True),
        (400, True),
    ),
    "invalid_content_length_ignored": (
        b"GET " + _TARGET + b" HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        (401, False),
        (400, True),
    ),
    "higher_minor_500": (
        b"GET " + _TARGET + b" HTTP/1.9\r\nHost: x\r\n\r\n",
        (500, True),
        (400, True),
    ),
    "unfinished_head_answered": (
        b"GET " + _TARGET + b" HTTP/1.1\r\nHost: x\r\n" + _KEY_LINE + b"\r\n",
        (200, False),
        (None, False),
    ),
    "te_cl_kept_open": (
        b"GET " + _TARGET + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 0\r\n\r\n0\r\n\r\n",
        (401, False),
        (400, True),
    ),
}


@pytest.mark.parametrize("name", sorted(HTTP1_PROBES))
def test_http1_fault(server, name: str) -> None:
    request, broken, correct = HTTP1_PROBES[name]
    _equal(wire_probe(port_of(server(name)), request), broken)
    _equal(wire_probe(port_of(server("")), request), correct)


def test_close_then_next_answered(server) -> None:
    request = b"GET " + _TARGET + b" HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"
    then = b"GET " + _TARGET + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    broken = raw_exchange(port_of(server("close_then_next_answered")), request + then)
    assert broken.startswith(b"HTTP/1.1 400 ") and b"connection: close" in broken.lower()
    assert broken.count(b"HTTP/1.1 ") == 2  # the next request answered after the close
    correct = raw_exchange(port_of(server("")), request + then)
    assert correct.startswith(b"HTTP/1.1 400 ") and correct.count(b"HTTP/1.1 ") == 1


def test_close_not_echoed(server) -> None:
    request = raw_request(Connection="close", **KEYED)
    broken = raw_exchange(port_of(server("close_not_echoed")), request)
    assert broken.startswith(b"HTTP/1.1 200 ") and b"connection:" not in broken.lower()
    assert b"connection: close" in raw_exchange(port_of(server("")), request).lower()


def test_pipelined_answers_swapped(server) -> None:
    other = "/v1/usage?period_start=2026-05-01"
    two = raw_request(**KEYED) + raw_request(target=other, Connection="close", **KEYED)
    alone = raw_request(target=other, Connection="close", **KEYED)
    may = raw_exchange(port_of(server("")), alone).partition(b"\r\n\r\n")[2]
    broken = raw_exchange(port_of(server("pipelined_answers_swapped")), two)
    _equal(broken.partition(b"\r\n\r\n")[2], may)  # the first answer is the second's
    correct = raw_exchange(port_of(server("")), two)
    assert correct.count(b"HTTP/1.1 200 ") == 2 and not correct.partition(b"\r\n\r\n")[
        2
    ].startswith(may)


def test_chunked_204(server) -> None:
    broken = raw_exchange(port_of(server("chunked_204")), raw_request("POST", Connection="close"))
    assert broken.startswith(b"HTTP/1.1 204 ") and b"transfer-encoding: chunked" in broken
    correct = raw_exchange(port_of(server("")), raw_request("POST", Connection="close"))
    assert correct.startswith(b"HTTP/1.1 405 ")


def test_no_auth_challenge(server) -> None:
    broken = raw_exchange(port_of(server("no_auth_challenge")), raw_request(Connection="close"))
    assert broken.startswith(b"HTTP/1.1 401 ") and b"www-authenticate" not in broken.lower()
    correct = raw_exchange(port_of(server("")), raw_request(Connection="close"))
    assert b'\r\nwww-authenticate: Bearer realm="dcs"\r\n' in correct


def test_options_precondition_failed(server) -> None:
    port = port_of(server("options_precondition_failed"))
    asked = raw_request("OPTIONS", Connection="close", **{"If-Match": '"x"'}, **KEYED)
    assert raw_exchange(port, asked).startswith(b"HTTP/1.1 412 ")
    plain = raw_exchange(port, raw_request("OPTIONS", Connection="close", **KEYED))
    assert not plain.startswith(b"HTTP/1.1 412 ")
    correct = raw_exchange(port_of(server("")), asked)
    assert not correct.startswith(b"HTTP/1.1 412 ")


def test_early_hints_to_http10(server) -> None:
    old = raw_request(version="1.0", **KEYED)
    broken = raw_exchange(port_of(server("early_hints_to_http10")), old)
    assert broken.startswith(b"HTTP/1.1 103 Early Hints\r\n") and b"\r\n\r\nHTTP/1.1 200 " in broken
    assert raw_exchange(port_of(server("")), old).startswith(b"HTTP/1.1 200 ")


def test_length_in_204(server) -> None:
    broken = raw_exchange(port_of(server("length_in_204")), raw_request("POST", Connection="close"))
    assert broken.startswith(b"HTTP/1.1 204 ") and b"content-length: 0" in broken


@pytest.mark.parametrize(
    ("name", "kept", "length"),
    [("not_modified_bare", False, None), ("not_modified_zero_length", True, b"0")],
)
def test_not_modified_fields(server, name, kept, length) -> None:
    port = port_of(server(name))
    first = raw_exchange(port, raw_request(Connection="close", **KEYED)).lower()
    tag = re.search(rb"etag: (\S+)", first).group(1).decode()
    again = raw_request(Connection="close", **{"If-None-Match": tag}, **KEYED)
    head, _, rest = raw_exchange(port, again).lower().partition(b"\r\n\r\n")
    assert head.startswith(b"http/1.1 304 ") and not rest
    assert (b"\r\netag:" in head) is kept
    found = re.search(rb"\r\ncontent-length: (\S+)", head)
    assert (found.group(1) if found else None) == length


def test_response_head_faults(server) -> None:
    request = raw_request(Connection="close", **KEYED)
    two = raw_exchange(port_of(server("status_line_http2")), request)
    assert two.startswith(b"HTTP/2.0 200 OK\r\n"), two[:40]
    bare = raw_exchange(port_of(server("status_line_without_reason_sp")), request)
    assert bare.startswith(b"HTTP/1.1 200\r\n"), bare[:40]
    folded = raw_exchange(port_of(server("folded_response_field")), request)
    assert b"\r\ncontent-type:\r\n application/json" in folded, folded[:200]
    correct = raw_exchange(port_of(server("")), request)
    assert (
        correct.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\n " not in correct.split(b"\r\n\r\n")[0]
    )


WIRE = {
    "no_date",
    "not_modified_with_content",
    "connection_close_ignored",
    "date_not_imf_fixdate",
    "header_names_case_sensitive",
    "reset_mid_response",
    "slow_dribble_old_periods",
    "hang_mid_month",
    "huge_body_bad_period",
    *PATH_FAULTS,
    "path_variant_crash",
    "auth_sticky_connection",
    "previous_request_org",
    "concurrent_requests_share_org",
    "gzip_label_plain_body",
    "head_before_auth",
    "head_with_body",
    "absolute_form_500",
    "foreign_authority_500",
    "http10_legacy_backend",
    "chunked_to_http10",
    "content_length_beside_chunked",
    "fresh_connection_stale_replica",
    "not_modified_unconditional",
    "expect_continue_hang",
    *HTTP1_PROBES,
    "status_line_without_reason_sp",
    "folded_response_field",
    "close_then_next_answered",
    "close_not_echoed",
    "pipelined_answers_swapped",
    "chunked_204",
    "length_in_204",
    "early_hints_to_http10",
    "status_line_http2",
    "no_auth_challenge",
    "options_precondition_failed",
    "not_modified_bare",
    "not_modified_zero_length",
}


# --- the catalogue itself ---------------------------------------------------------------


def test_no_date(server) -> None:
    head = raw_exchange(port_of(server("no_date")), raw_request(Connection="close", **KEYED))
    assert head.startswith(b"HTTP/1.1 200 ") and b"\r\ndate:" not in head.lower()
    correct = raw_exchange(port_of(server("")), raw_request(Connection="close", **KEYED))
    assert b"\r\ndate:" in correct.lower()
    bad = raw_exchange(port_of(server("")), b"GET /v1/usage HTTP/1.1\r\nHost x\r\n\r\n")
    assert bad.startswith(b"HTTP/1.1 400 ") and b"\r\ndate:" in bad.lower()  # the mock's own 400


def test_not_modified_with_content(server) -> None:
    port = port_of(server("not_modified_with_content"))
    first = raw_exchange(port, raw_request(Connection="close", **KEYED))
    tag = re.search(rb"etag: (\S+)", first.lower()).group(1).decode()
    again = raw_request(Connection="close", **{"If-None-Match": tag}, **KEYED)
    head, _, rest = raw_exchange(port, again).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 304 ")
    _equal(json.loads(rest), good(CLOSED_PERIOD))  # content after a 304


def test_connection_close_ignored(server) -> None:
    for name, open_after in (("connection_close_ignored", True), ("", False)):
        with socket.create_connection(("127.0.0.1", port_of(server(name))), timeout=3) as sock:
            sock.sendall(raw_request(Connection="close", **KEYED))
            time.sleep(0.3)
            head = sock.recv(65536).partition(b"\r\n\r\n")[0].lower()
            sock.settimeout(0.5)
            try:
                still_open = sock.recv(1) != b""
            except TimeoutError:
                still_open = True
        _equal(
            (name, still_open, b"connection: keep-alive" in head), (name, open_after, open_after)
        )


def test_every_fault_and_limit_has_a_behaviour_test() -> None:
    assert set(IN_PROCESS) | WIRE == set(FAULTS) | LIMIT_NAMES
    assert not set(IN_PROCESS) & WIRE


#: Checks that only ever warn, each with the known limit it warns of (its own tests show it:
#: tests/checks, and this module's behaviour test of the limit).
WARNING_ONLY = {"auth_challenge_sent": "no_auth_challenge"}


def test_every_check_is_expected_to_catch_a_fault() -> None:
    """Each check of ours is shown to bite: some fault of the catalogue names it, or, for a
    check that only warns, a known limit is what it warns of."""
    named = {check for fault in FAULTS.values() for check in fault.expected_checks}
    assert set(CATALOGUE) - named == set(WARNING_ONLY)
    assert set(WARNING_ONLY.values()) <= LIMIT_NAMES


def test_catalogue_shape() -> None:
    assert len(FAULTS) >= 32
    for fault in FAULTS.values():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", fault.name)
        assert fault.description and "\n" not in fault.description
        assert fault.expected_checks and fault.family
        for check in fault.expected_checks:
            known = check in CATALOGUE or check in SCHEMATHESIS_CHECKS
            assert known, (fault.name, check)
    for limit in KNOWN_LIMITS:
        assert limit.reason and not limit.fault.expected_checks
        assert limit.fault.name not in FAULTS


def test_faults_compose_and_unknown_names_fail_first() -> None:
    c = client("usage_counter_negative", "plan_slug_empty")
    body = usage(c).json()
    assert (body["included_storage_gib"], body["plan_slug"]) == (-1, "")
    with pytest.raises(KeyError, match="unknown fault 'nope'"):
        faulty_app(FX, ["plan_slug_empty", "nope"])
    app = create_app(FX, clock=lambda: NOW)
    assert apply_fault(app, "plan_slug_empty") is app  # pipeline faults change the app itself
    assert get_fault("open_hour_counted").name == "open_hour_counted"


def test_faults_do_not_leak_between_apps() -> None:
    client("usage_counter_negative")
    assert usage(client()).json()["included_storage_gib"] == 100


# --- the command line -----------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("args", [("--list-faults",), ("--fault", "list")])
def test_cli_lists_the_catalogue(args: tuple[str, ...]) -> None:
    result = mock_cli(*args)
    assert result.returncode == 0 and result.stdout == catalogue_text()
    for name in [*FAULTS, *LIMIT_NAMES]:
        assert re.search(rf"^{name} ", result.stdout, re.MULTILINE), name


@pytest.mark.e2e
def test_cli_unknown_fault_is_a_one_line_usage_error() -> None:
    result = mock_cli("--port", "0", "--fault", "no_such_fault")
    assert result.returncode == 4 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "unknown fault 'no_such_fault'" in result.stderr


TWO_FAULTS = ("--fault", "usage_counter_negative", "--fault", "error_code_lowercase")


@pytest.mark.e2e
def test_cli_serves_a_fault() -> None:
    with mock_cli_serving(*TWO_FAULTS) as base:
        assert fetch(base).json()["included_storage_gib"] == -1
        assert fetch(base, **{"x-api-key": "nope"}).json()["error_code"] == "auth_invalid"
