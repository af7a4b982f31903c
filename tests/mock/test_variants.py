"""Each variant of the catalogue really differs from the mock as its description says (in process
where the ASGI app shows it, over a loopback socket where only the wire does), still gives the
correct answers, and the CLI serves them."""

from __future__ import annotations

import gzip
import json
import re
import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from conformance.mock import (
    VARIANTS,
    apply_fault,
    apply_variant,
    create_app,
    get_variant,
    variant_app,
)
from conformance.mock._variants.catalogue import variants_text
from conformance.mock._variants.wire import LedgerBlips, RateLimiter, accepts_gzip
from tests._in_process import AUTH, FX, KEY, NOW, TestClient, in_process_pair, usage
from tests._support import REPO, loopback, mock_cli, mock_cli_serving

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CLOSED = "2026-06-01"


def client(*variants: str) -> TestClient:
    return TestClient(variant_app(FX, variants, clock=lambda: NOW))


GOOD = client()


def good(period: str | None = None, **headers: str) -> httpx.Response:
    return usage(GOOD, period, **headers)


def _equal(actual: object, expected: object) -> None:
    assert actual == expected, (actual, expected)


def same_answers(c: TestClient) -> None:
    """The variant's usage and error documents are the correct mock's."""
    for period in (None, CLOSED):
        _equal(usage(c, period).json(), good(period).json())
    no_key = c.get("/v1/usage")
    _equal((no_key.status_code, no_key.json()["error_code"]), (401, "AUTH_REQUIRED"))


# --- in process: what differs, and that the answers stay right -------------------------


def _charset(c: TestClient) -> None:
    _equal(usage(c).headers["content-type"], "application/json; charset=utf-8")
    _equal(c.get("/v1/usage").headers["content-type"], "application/json; charset=utf-8")
    _equal(c.put("/v1/usage").headers["content-type"], "application/problem+json; charset=utf-8")
    _equal(c.get("/nowhere").headers["content-type"], "application/problem+json; charset=utf-8")
    same_answers(c)


def _pretty(c: TestClient) -> None:
    text = usage(c).text
    assert text.startswith('{\n  "billed_logical_storage_mib_seconds": ') and text.endswith("}\n")
    _equal(list(json.loads(text)), list(reversed(list(good().json()))))
    error = c.get("/v1/usage").text
    assert error.startswith('{\n  "retryable": false,\n') and error.endswith("}\n")
    _equal(int(usage(c).headers["content-length"]), len(usage(c).content))
    same_answers(c)


def _escaped(c: TestClient) -> None:
    body = usage(c).content
    assert body.startswith(b'{"\\u0070\\u006C\\u0061\\u006E') and b'"pro"' not in body
    assert b'"\\u0070\\u0072\\u006F"' in body  # "pro"
    same_answers(c)


def _extra_headers(c: TestClient) -> None:
    first, second = usage(c), usage(c)
    ids = {first.headers["x-request-id"], second.headers["x-request-id"]}
    assert len(ids) == 2 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    for reply in (first, c.get("/v1/usage"), c.put("/v1/usage")):
        assert reply.headers["cache-control"] == "no-store"
        assert reply.headers["strict-transport-security"].startswith("max-age=")
        assert {v.strip() for v in reply.headers["vary"].split(",")} >= {
            "Authorization",
            "X-Api-Key",
        }
        assert reply.headers["server"]
    _equal(c.get("/v1/usage").headers["www-authenticate"], 'Bearer realm="dcs"')
    _equal(
        usage(c, **{"x-api-key": "dcs_not_a_key"}).headers["www-authenticate"], 'Bearer realm="dcs"'
    )
    assert "www-authenticate" not in first.headers
    same_answers(c)


def _gateway(c: TestClient) -> None:
    for path in ("/v1/usage", "/anything/else"):
        reply = c.options(path, headers={"Origin": "https://app.example"})
        _equal((reply.status_code, reply.content), (204, b""))
        _equal(reply.headers["allow"], "GET, HEAD, OPTIONS")
        _equal(reply.headers["access-control-allow-origin"], "*")
        _equal(reply.headers["access-control-allow-methods"], "GET, HEAD, OPTIONS")
        assert "x-api-key" in reply.headers["access-control-allow-headers"].lower()
    head, get = c.head("/v1/usage", headers=AUTH), usage(c)
    _equal((head.status_code, head.content), (200, b""))
    _equal(head.headers["content-length"], get.headers["content-length"])
    _equal(head.headers["content-type"], get.headers["content-type"])
    for method in ("POST", "PUT", "PATCH", "DELETE", "TRACE"):
        reply = c.request(method, "/v1/usage", headers=AUTH)
        _equal((reply.status_code, reply.headers["allow"]), (405, "GET, HEAD, OPTIONS"))
    same_answers(c)


def _strict(c: TestClient) -> None:
    cases = {
        "period_start=2025-03-15": "PERIOD_START_NOT_MONTH_START",
        "period_start=2026-12-01": "PERIOD_START_IN_FUTURE",
        "period_start=2030-01-01": "PERIOD_START_IN_FUTURE",
        "foo=1": "UNKNOWN_QUERY_PARAMETER",
        "period_start=2025-03-01&page=2": "UNKNOWN_QUERY_PARAMETER",
        "period_start=2025-03-01&period_start=2025-03-01": "PERIOD_START_REPEATED",
        "period_start=2025-02-30": "INVALID_PERIOD_START",
    }
    for query, code in cases.items():
        reply = c.get(f"/v1/usage?{query}", headers=AUTH)
        body = reply.json()
        _equal((reply.status_code, body["error_code"], body["retryable"]), (400, code, False))
        assert reply.headers["content-type"] == "application/json"
        assert re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*", body["error_code"])
        assert set(body) <= {"error_code", "message", "retryable", "details"}
        assert all(isinstance(v, str) for v in body["details"].values())
    for period in ("2026-11-01", "2026-10-01", "2024-02-01", "1970-01-01"):  # up to this month
        _equal(usage(c, period).json(), good(period).json())
    same_answers(c)


def _rate_limited(c: TestClient) -> None:
    limiter = RateLimiter()
    statuses: list[int] = []
    while len(statuses) < 3 * limiter.burst:  # the bucket refills a little meanwhile
        refused = usage(c)
        statuses.append(refused.status_code)
        if refused.status_code != 200:
            break
    assert statuses[-1] == 429 and set(statuses[:-1]) == {200}, statuses[-5:]
    assert len(statuses) > limiter.burst
    _equal(refused.headers["content-type"], "application/problem+json")
    _equal(refused.headers["retry-after"], "1")
    body = refused.json()
    _equal((body["status"], body["title"]), (429, "Too Many Requests"))
    assert set(body) <= {"type", "title", "status", "detail", "instance", "errors"}
    early = usage(c)  # not waiting as asked: still refused, told to wait what is left
    _equal((early.status_code, early.headers["retry-after"]), (429, "1"))
    time.sleep(int(refused.headers["retry-after"]))
    _equal(usage(c).json(), good().json())  # the retry goes through
    same_answers(c)


def _blips(c: TestClient) -> None:
    every = LedgerBlips().every
    statuses = [usage(c, CLOSED).status_code for _ in range(2 * every)]
    failed = [i + 1 for i, s in enumerate(statuses) if s != 200]
    _equal(failed, [every, 2 * every])  # the 40th and the 80th
    assert {s for s in statuses if s != 200} == {502}
    c2 = client("rare_retryable_502")
    for _ in range(every - 1):
        usage(c2, CLOSED)
    blip = usage(c2, CLOSED)
    body = blip.json()
    _equal((blip.status_code, blip.headers["content-type"]), (502, "application/json"))
    _equal((body["error_code"], body["retryable"]), ("BILLING_LEDGER_UNAVAILABLE", True))
    assert isinstance(body["retry_after_ms"], int) and 0 < body["retry_after_ms"] <= 100
    _equal(usage(c2, CLOSED).json(), good(CLOSED).json())  # the immediate retry succeeds
    # errors are not answers from the ledger: they neither count nor fail
    c3 = client("rare_retryable_502")
    assert {c3.get("/v1/usage").status_code for _ in range(2 * every)} == {401}
    same_answers(client("rare_retryable_502"))


def _gzip(c: TestClient) -> None:
    reply = c.get("/v1/usage", headers={**AUTH, "Accept-Encoding": "gzip"})
    _equal(reply.headers["content-encoding"], "gzip")
    assert "accept-encoding" in reply.headers["vary"].lower()
    _equal(reply.json(), good().json())  # httpx decodes it
    raw = c.get("/v1/usage", headers={**AUTH, "Accept-Encoding": "gzip"})
    _equal(int(raw.headers["content-length"]), len(gzip.compress(good().content, mtime=0)))
    for refusing in ("identity", "gzip;q=0", "br", "*;q=0"):
        plain = c.get("/v1/usage", headers={**AUTH, "Accept-Encoding": refusing})
        assert "content-encoding" not in plain.headers, refusing
        _equal(plain.content, good().content)
    same_answers(c)


def _error_texts(c: TestClient) -> None:
    for headers, status in (({}, 401), ({"x-api-key": "dcs_nope"}, 401)):
        mine, theirs = c.get("/v1/usage", headers=headers), GOOD.get("/v1/usage", headers=headers)
        _equal((mine.status_code, mine.json()["error_code"]), (status, theirs.json()["error_code"]))
        assert mine.json()["message"] != theirs.json()["message"]
        assert mine.json()["details"] and all(
            isinstance(v, str) for v in mine.json()["details"].values()
        )
        _equal(mine.json()["retryable"], False)
    forbidden = usage(c, **AUTH, **{"X-Dedalus-Org-Id": "org_globex"}).json()
    _equal(forbidden["error_code"], "AUTH_ORG_MISMATCH")
    assert forbidden["details"]
    bad = usage(c, "2025-02-30").json()
    _equal(bad["details"]["parameter"], "period_start")
    assert len(bad["details"]) > 1
    problem = c.put("/v1/usage").json()
    assert problem["type"].startswith("https://") and problem["status"] == 405
    same_answers(c)


def _validation_first(c: TestClient) -> None:
    for headers in ({}, {"x-api-key": "dcs_nope"}):
        reply = (
            usage(c, "2025-02-30", **headers)
            if headers
            else c.get("/v1/usage", params={"period_start": "2025-02-30"})
        )
        _equal((reply.status_code, reply.json()["error_code"]), (400, "INVALID_PERIOD_START"))
    assert c.get("/v1/usage", params={"period_start": CLOSED}).status_code == 401
    same_answers(c)


# --- the request space: conditionals, negotiation, caching, limits, HEAD, OPTIONS, methods,
# ranges, field values

PROBLEM = "application/problem+json"


def _with(**headers: str | bytes) -> dict[str, str | bytes]:
    return {**AUTH, **headers}


def _status(c: TestClient, method: str = "GET", **headers: str | bytes) -> int:
    return c.request(method, "/v1/usage", headers=headers).status_code


def _conditional(weak: bool) -> Callable[[TestClient], None]:
    def check(c: TestClient) -> None:
        reply = usage(c, CLOSED)
        tag = reply.headers["etag"]
        assert tag.startswith('W/"') if weak else tag.startswith('"'), tag
        opaque = tag.removeprefix("W/")
        asks = [tag, opaque, f'"other", {tag}', "*"] if weak else [tag, f'W/"x", {tag}', "*"]
        for asked in asks:
            not_modified = usage(c, CLOSED, **_with(**{"If-None-Match": asked}))
            _equal((asked, not_modified.status_code, not_modified.content), (asked, 304, b""))
            _equal(not_modified.headers["etag"], tag)
            head = c.head(
                f"/v1/usage?period_start={CLOSED}", headers=_with(**{"If-None-Match": asked})
            )
            _equal(head.status_code, 304)
        for header, value in (("If-None-Match", '"other"'), ("If-None-Match", "nonsense")):
            _equal(usage(c, CLOSED, **_with(**{header: value})).json(), good(CLOSED).json())
        _equal(usage(c, **_with(**{"If-None-Match": tag})).status_code, 200)  # another period
        for asked in (tag, "*"):  # conditions never replace the refusal of a request without a key
            keyless = c.get("/v1/usage", headers={"If-None-Match": asked})
            _equal((keyless.status_code, keyless.json()["error_code"]), (401, "AUTH_REQUIRED"))
            assert "etag" not in keyless.headers
        failed = usage(c, CLOSED, **_with(**{"If-Match": '"other"'}))
        _equal((failed.status_code, failed.headers["content-type"]), (412, PROBLEM))
        strong = usage(c, CLOSED, **_with(**{"If-Match": opaque}))
        _equal(strong.status_code, 412 if weak else 200)  # a weak tag never matches strongly
        _equal(usage(c, CLOSED, **_with(**{"If-Match": "*"})).status_code, 200)
        same_answers(c)

    return check


def _accept(c: TestClient) -> None:
    for accept in ("text/html", "application/json;q=0", "text/html, application/xml;q=0.9",
                   "application/json;q=0, */*", "application/*;q=0"):  # fmt: skip
        refused = usage(c, **_with(Accept=accept))
        _equal((accept, refused.status_code), (accept, 406))
        _equal(refused.headers["content-type"], PROBLEM)
        _equal(refused.json()["status"], 406)
    for accept in ("*/*", "application/*", "application/json", "text/html, */*;q=0.1",
                   "application/json; charset=utf-8", "", "garbage", "*/*;q=0.8"):  # fmt: skip
        _equal((accept, usage(c, **_with(Accept=accept)).json()), (accept, good().json()))
    keyless = c.get("/v1/usage", headers={"Accept": "text/html"})
    _equal(keyless.status_code, 401)  # errors are not negotiated
    same_answers(c)


def _cache_private(c: TestClient) -> None:
    for reply in (usage(c), usage(c, CLOSED), c.head("/v1/usage", headers=AUTH)):
        _equal(reply.headers["cache-control"], "private, max-age=60")
        _equal(reply.headers["vary"], "X-Api-Key, Authorization, X-Dedalus-Org-Id")
    for reply in (c.get("/v1/usage"), usage(c, "nope"), c.put("/v1/usage"), c.get("/x")):
        _equal(reply.headers["cache-control"], "no-store")
    same_answers(c)


def _cache_vary(c: TestClient) -> None:
    reply = usage(c, CLOSED)
    _equal(reply.headers["cache-control"], "max-age=300")
    _equal(reply.headers["vary"], "authorization, x-api-key, x-dedalus-org-id")
    assert "cache-control" not in c.get("/v1/usage").headers
    same_answers(c)


def _limits(c: TestClient) -> None:
    long_target = c.get("/v1/usage?x=" + "a" * 2100, headers=AUTH)
    _equal((long_target.status_code, long_target.headers["content-type"]), (414, PROBLEM))
    _equal(c.get("/v1/usage?x=" + "a" * 1900, headers=AUTH).status_code, 200)
    _equal(_status(c, **_with(**{"User-Agent": "u" * 4100})), 431)
    _equal(_status(c, **_with(**{"User-Agent": "u" * 4000})), 200)
    many = {f"X-Pad-{i}": "p" * 1000 for i in range(9)}
    _equal(_status(c, **_with(**many)), 431)
    _equal(_status(c, **_with(**dict(list(many.items())[:7]))), 200)
    _equal(c.get("/nowhere?x=" + "a" * 2100).status_code, 414)  # any path
    same_answers(c)


def _head_405(c: TestClient) -> None:
    for headers in (AUTH, {}):
        head = c.head("/v1/usage", headers=headers)
        _equal((head.status_code, head.headers["allow"], head.content), (405, "GET", b""))
    put = c.put("/v1/usage", headers=AUTH)
    _equal((put.status_code, put.headers["allow"]), (405, "GET"))
    same_answers(c)


def _head_no_length(c: TestClient) -> None:
    head, get = c.head("/v1/usage", headers=AUTH), usage(c)
    _equal((head.status_code, head.content), (200, b""))
    assert "content-length" not in head.headers and "content-length" in get.headers
    _equal(head.headers["content-type"], get.headers["content-type"])
    _equal(c.head("/v1/usage").status_code, 401)
    same_answers(c)


ORIGIN = "https://app.example"


def _cors(c: TestClient) -> None:
    preflight = c.options(
        "/v1/usage",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "x-api-key"},
    )  # fmt: skip
    _equal((preflight.status_code, preflight.content), (204, b""))
    _equal(preflight.headers["allow"], "GET, HEAD, OPTIONS")
    _equal(preflight.headers["access-control-allow-origin"], ORIGIN)
    _equal(preflight.headers["access-control-allow-methods"], "GET, HEAD")
    assert "x-api-key" in preflight.headers["access-control-allow-headers"]
    plain = c.options("/v1/usage", headers=AUTH)
    _equal((plain.status_code, plain.content), (204, b""))
    assert "access-control-allow-origin" not in plain.headers
    for reply in (usage(c, **_with(Origin=ORIGIN)), c.get("/v1/usage", headers={"Origin": ORIGIN})):
        _equal(reply.headers["access-control-allow-origin"], ORIGIN)
        _equal(reply.headers["vary"], "Origin")
    _equal(usage(c, **_with(Origin=ORIGIN)).json(), good().json())
    assert "access-control-allow-origin" not in usage(c).headers
    _equal(c.delete("/v1/usage", headers=AUTH).headers["allow"], "GET, HEAD, OPTIONS")
    _equal(c.options("/nowhere").status_code, 404)
    same_answers(c)


def _org_named(c: TestClient) -> None:
    for org in ("org_globex", "org_globea"):
        body = usage(c, **_with(**{"X-Dedalus-Org-Id": org})).json()
        _equal(body["message"], f"this API key does not belong to organization {org}")
        _equal(body["error_code"], "AUTH_ORG_MISMATCH")
    same_answers(c)


def _console_cors(c: TestClient) -> None:
    for reply in (usage(c, **_with(Origin=ORIGIN)), usage(c), c.get("/v1/usage")):
        _equal(reply.headers["access-control-allow-origin"], "https://console.dcs.example")
        _equal(reply.headers["access-control-allow-credentials"], "true")
    _equal(usage(c, **_with(Origin=ORIGIN)).json(), good().json())
    same_answers(c)


def _starlette_cors(c: TestClient) -> None:
    console = "https://console.dcs.example"
    asked = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-api-key"}
    refused = c.options("/v1/usage", headers={"Origin": ORIGIN, **asked})
    _equal((refused.status_code, refused.text), (400, "Disallowed CORS origin"))
    assert "access-control-allow-origin" not in refused.headers
    _equal(refused.headers["access-control-allow-methods"], "GET")
    granted = c.options("/v1/usage", headers={"Origin": console, **asked})
    _equal((granted.status_code, granted.headers["access-control-allow-origin"]), (200, console))
    reply = usage(c, **_with(Origin=console))
    _equal(
        (reply.headers["access-control-allow-origin"], reply.headers["vary"]), (console, "Origin")
    )
    other = usage(c, **_with(Origin=ORIGIN))
    assert "access-control-allow-origin" not in other.headers
    _equal(other.headers["access-control-allow-credentials"], "true")
    _equal(other.json(), good().json())
    same_answers(c)


def _options_200(c: TestClient) -> None:
    for headers in ({}, AUTH, {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}):
        reply = c.options("/v1/usage", headers=headers)
        _equal((reply.status_code, reply.content), (200, b""))
        _equal(
            (reply.headers["allow"], reply.headers["content-length"]), ("GET, HEAD, OPTIONS", "0")
        )
        assert "content-type" not in reply.headers
    _equal(c.patch("/v1/usage", headers=AUTH).headers["allow"], "GET, HEAD, OPTIONS")
    same_answers(c)


def _unknown_501(c: TestClient) -> None:
    for method in ("QUERY", "PROPFIND", "FROB"):  # "get": over the wire (httpx upper-cases)
        for headers in ({}, AUTH):
            reply = c.request(method, "/v1/usage", headers=headers)
            _equal(
                (method, reply.status_code, reply.headers["content-type"]), (method, 501, PROBLEM)
            )
    for method in ("TRACE", "OPTIONS", "POST"):
        _equal(c.request(method, "/v1/usage", headers=AUTH).status_code, 405)
    same_answers(c)


def _auth_first(c: TestClient) -> None:
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "TRACE", "QUERY"):
        _equal(
            (method, c.request(method, "/v1/usage").json()["error_code"]), (method, "AUTH_REQUIRED")
        )
        wrong = c.request(method, "/v1/usage", headers={"x-api-key": "dcs_nope"})
        _equal((wrong.status_code, wrong.json()["error_code"]), (401, "AUTH_INVALID"))
        _equal(c.request(method, "/v1/usage", headers=AUTH).status_code, 405)
    other_org = _with(**{"X-Dedalus-Org-Id": "org_globex"})
    _equal(c.post("/v1/usage", headers=other_org).status_code, 403)
    same_answers(c)


def _ranges(c: TestClient) -> None:
    whole = good(CLOSED).content
    length = len(whole)
    _equal(usage(c, CLOSED).headers["accept-ranges"], "bytes")
    cases = {
        "bytes=0-9": (0, 9),
        "bytes=10-": (10, length - 1),
        "bytes=-5": (length - 5, length - 1),
        f"bytes=5-{length + 50}": (5, length - 1),
    }
    for asked, (first, last) in cases.items():
        part = usage(c, CLOSED, **_with(Range=asked))
        _equal((asked, part.status_code), (asked, 206))
        _equal(part.headers["content-range"], f"bytes {first}-{last}/{length}")
        _equal(part.content, whole[first : last + 1])
        _equal(part.headers["content-type"], "application/json")
    for asked in (f"bytes={length}-", "bytes=-0"):
        refused = usage(c, CLOSED, **_with(Range=asked))
        _equal((refused.status_code, refused.headers["content-range"]), (416, f"bytes */{length}"))
    for asked in ("bytes=0-1, 4-5", "items=0-1", "bytes=9-2", "garbage"):
        _equal(usage(c, CLOSED, **_with(Range=asked)).content, whole)
    ignored = usage(c, CLOSED, **_with(Range="bytes=0-9", **{"If-Range": '"x"'}))
    _equal((ignored.status_code, ignored.content), (200, whole))
    _equal(c.head("/v1/usage", headers=_with(Range="bytes=0-9")).status_code, 200)
    _equal(c.get("/v1/usage", headers={"Range": "bytes=0-9"}).status_code, 401)
    same_answers(c)


def _gzip_ranges(c: TestClient) -> None:
    coded_headers = {**AUTH, "Accept-Encoding": "gzip"}
    with c.stream("GET", f"/v1/usage?period_start={CLOSED}", headers=coded_headers) as whole:
        coded = b"".join(whole.iter_raw())
    _equal(whole.headers["content-encoding"], "gzip")
    _equal(gzip.decompress(coded), good(CLOSED).content)
    for asked, (first, last) in {"bytes=0-9": (0, 9), "bytes=-5": (len(coded) - 5, None)}.items():
        headers = {**coded_headers, "Range": asked}
        with c.stream("GET", f"/v1/usage?period_start={CLOSED}", headers=headers) as part:
            raw = b"".join(part.iter_raw())
        _equal((asked, part.status_code, part.headers["content-encoding"]), (asked, 206, "gzip"))
        end = len(coded) - 1 if last is None else last
        _equal(part.headers["content-range"], f"bytes {first}-{end}/{len(coded)}")
        _equal(raw, coded[first : end + 1])  # bytes of the gzip stream, not of the JSON
    plain = usage(c, CLOSED, **_with(Range="bytes=0-9", **{"Accept-Encoding": "identity"}))
    _equal((plain.status_code, plain.content), (206, good(CLOSED).content[:10]))  # no coding


def _strict_fields(c: TestClient) -> None:
    for value in ("caf\u00e9".encode(), b"a\x7fb", b"\xff"):
        reply = usage(c, **_with(**{"User-Agent": value}))
        _equal((reply.status_code, reply.json()["error_code"]), (400, "INVALID_REQUEST"))
    expect = usage(c, **_with(Expect="teapot"))
    _equal((expect.status_code, expect.headers["content-type"]), (417, PROBLEM))
    _equal(usage(c, **_with(Expect="100-continue")).json(), good().json())
    _equal(usage(c, **_with(**{"User-Agent": "plain ascii\twith tab"})).json(), good().json())
    same_answers(c)


def _edge(c: TestClient) -> None:
    trace = c.request("TRACE", "/v1/usage", headers=AUTH)
    _equal((trace.status_code, trace.headers["allow"]), (405, "GET, HEAD"))
    assert trace.headers["content-type"] == "text/html" and trace.headers["server"] == "edge/1.0"
    _equal(c.request("FOO", "/v1/usage").status_code, 501)
    _equal(usage(c, **_with(**{"User-Agent": "caf\u00e9".encode()})).status_code, 400)
    _equal(usage(c, **_with(**{f"X-Pad-{i}": "v" for i in range(101)})).status_code, 431)
    expect = usage(c, **_with(Expect="100-continue"))
    _equal((expect.status_code, expect.content), (417, b""))
    same_answers(c)


def _tag_per_response(c: TestClient) -> None:
    first, second = usage(c), usage(c)
    tags = [reply.headers["etag"] for reply in (first, second)]
    _equal(tags[0] != tags[1] and not tags[0].startswith("W/"), True)
    _equal(usage(c, **AUTH, **{"If-None-Match": tags[1]}).json(), good().json())
    same_answers(c)


def _sticky(c: TestClient) -> None:
    reply = usage(c)
    cookies = reply.headers.get_list("set-cookie")
    _equal([cookie.split("=")[0] for cookie in cookies], ["DCSLB", "dcs_theme"])
    sent_back = {"Cookie": "; ".join(cookie.split(";")[0] for cookie in cookies)}
    _equal(usage(c, **AUTH, **sent_back).json(), good().json())
    _equal(c.get("/v1/usage", headers=sent_back).status_code, 401)
    same_answers(c)


IN_PROCESS: dict[str, Callable[[TestClient], None]] = {
    "media_type_params": _charset,
    "json_reordered_pretty": _pretty,
    "json_escaped_strings": _escaped,
    "standard_extra_headers": _extra_headers,
    "gateway_options_head": _gateway,
    "strict_period_policy": _strict,
    "rate_limited": _rate_limited,
    "rare_retryable_502": _blips,
    "gzip_responses": _gzip,
    "other_error_texts": _error_texts,
    "validation_before_auth": _validation_first,
    "conditional_304": _conditional(weak=False),
    "etag_weak": _conditional(weak=True),
    "accept_406": _accept,
    "cache_control_private": _cache_private,
    "cache_vary_on_key": _cache_vary,
    "size_limits_414_431": _limits,
    "head_refused_405": _head_405,
    "head_without_length": _head_no_length,
    "options_cors": _cors,
    "cors_console_credentials": _console_cors,
    "cors_starlette": _starlette_cors,
    "org_named_in_refusal": _org_named,
    "options_200_allow": _options_200,
    "unknown_method_501": _unknown_501,
    "auth_before_method": _auth_first,
    "byte_ranges": _ranges,
    "gzip_byte_ranges": _gzip_ranges,
    "strict_header_values": _strict_fields,
    "sticky_cookie": _sticky,
    "etag_per_response": _tag_per_response,
    "edge_html_refusals": _edge,
}


test_variant_differs_in_process, test_the_correct_mock_does_not = in_process_pair(
    IN_PROCESS, client, client, (AssertionError, KeyError)
)


# --- over a real socket: what only the wire shows ------------------------------------


@pytest.fixture
def server() -> Iterator[Callable[[str], int]]:
    """``start(variant)`` serves one variant on loopback (the fixed clock) and returns its port."""
    with loopback(lambda name: variant_app(FX, [name], clock=lambda: NOW)) as start:
        yield lambda name: start(name).port


def exchange(port: int, request: bytes, timeout: float = 3) -> tuple[bytes, bool]:
    """Send ``request`` and read until the server closes (True) or goes quiet (False)."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        sock.settimeout(0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return received, False
            if not chunk:
                return received, True
            received += chunk
    return received, False


def get(target: str = "/v1/usage", version: str = "1.1", **headers: str) -> bytes:
    lines = [f"GET {target} HTTP/{version}", "Host: x", f"x-api-key: {KEY}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def split(response: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status, *fields = head.decode("latin-1").split("\r\n")
    return (
        status,
        {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)},
        body,
    )


def dechunk(body: bytes) -> list[bytes]:
    chunks = []
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return chunks
        chunks.append(body[:size])
        assert body[size : size + 2] == b"\r\n"
        body = body[size + 2 :]


GOOD_BODY = good().json()


def test_chunked_bodies(server) -> None:
    port = server("chunked_bodies")
    response, _ = exchange(port, get())
    status, fields, body = split(response)
    _equal(status, "HTTP/1.1 200 OK")
    _equal(fields.get("transfer-encoding"), "chunked")
    assert "content-length" not in fields
    chunks = dechunk(body)
    assert len(chunks) >= 3, chunks
    _equal(json.loads(b"".join(chunks)), GOOD_BODY)
    status, fields, body = split(exchange(port, get(**{"x-api-key": "nope"}))[0])
    _equal((status, fields.get("transfer-encoding")), ("HTTP/1.1 401 Unauthorized", "chunked"))
    _equal(json.loads(b"".join(dechunk(body)))["error_code"], "AUTH_INVALID")
    # HTTP/1.0 has no chunked coding (RFC 9112 6.1): its answer keeps Content-Length
    status, fields, body = split(exchange(port, get(version="1.0"))[0])
    assert "transfer-encoding" not in fields, fields
    _equal((int(fields["content-length"]), json.loads(body)), (len(body), GOOD_BODY))


def test_http10_close_delimited(server) -> None:
    port = server("http10_close_delimited")
    response, closed = exchange(port, get())
    status, fields, body = split(response)
    assert closed, "the body ends when the server closes the connection"
    _equal(status, "HTTP/1.0 200 OK")
    _equal(fields.get("connection"), "close")
    assert "content-length" not in fields and "transfer-encoding" not in fields
    assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT", fields["date"])
    _equal(json.loads(body), GOOD_BODY)
    head, closed = exchange(port, get().replace(b"GET", b"HEAD", 1))
    assert closed and head.startswith(b"HTTP/1.0 200 OK\r\n") and head.endswith(b"\r\n\r\n")
    with httpx.Client(trust_env=False, timeout=3) as http:  # and a client reads it as it is
        reply = http.get(f"http://127.0.0.1:{port}/v1/usage", headers=AUTH)
        _equal((reply.http_version, reply.json()), ("HTTP/1.0", GOOD_BODY))


def test_connection_close_always(server) -> None:
    port = server("connection_close_always")
    response, closed = exchange(port, get())
    status, fields, body = split(response)
    assert closed
    _equal((status, fields.get("connection")), ("HTTP/1.1 200 OK", "close"))
    _equal(int(fields["content-length"]), len(body))
    _equal(json.loads(body), GOOD_BODY)


def test_early_hints_103(server) -> None:
    port = server("early_hints_103")
    response, _ = exchange(port, get())
    assert response.startswith(b"HTTP/1.1 103 Early Hints\r\n"), response[:80]
    final = response.partition(b"\r\n\r\n")[2]
    status, fields, body = split(final)
    _equal(status, "HTTP/1.1 200 OK")
    _equal(json.loads(body[: int(fields["content-length"])]), GOOD_BODY)
    response, _ = exchange(port, get(version="1.0"))
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")  # no 1xx to an HTTP/1.0 client


def test_title_case_headers(server) -> None:
    port = server("title_case_headers")
    response, _ = exchange(port, get())
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"\r\nContent-Type: application/json" in head and b"\r\nContent-Length: " in head
    _equal(json.loads(body), GOOD_BODY)
    refused, _ = exchange(port, get().replace(b"GET", b"PUT", 1))
    assert b"\r\nAllow: GET, HEAD\r\n" in refused


def test_unknown_method_501(server) -> None:
    port = server("unknown_method_501")
    for method in ("get", "FROB", "QUERY"):
        response, _ = exchange(port, get().replace(b"GET", method.encode(), 1))
        status, fields, body = split(response)
        _equal((method, status), (method, "HTTP/1.1 501 Not Implemented"))
        _equal(fields["content-type"], "application/problem+json")
        _equal(json.loads(body[: int(fields["content-length"])])["status"], 501)
    _equal(json.loads(split(exchange(port, get())[0])[2]), GOOD_BODY)


def test_head_without_length(server) -> None:
    port = server("head_without_length")
    head = get().replace(b"GET", b"HEAD", 1)
    response, _ = exchange(port, head + get())  # the connection stays usable after it
    status, fields, rest = split(response)
    _equal(status, "HTTP/1.1 200 OK")
    assert "content-length" not in fields and "transfer-encoding" not in fields
    _equal(fields["content-type"], "application/json")
    status, fields, body = split(rest)
    _equal((status, json.loads(body)), ("HTTP/1.1 200 OK", GOOD_BODY))


def test_size_limits_over_the_wire(server) -> None:
    port = server("size_limits_414_431")
    long_target = get("/v1/usage?x=" + "a" * 3000)
    status, fields, _ = split(exchange(port, long_target)[0])
    assert status.startswith("HTTP/1.1 414 "), status  # the reason phrase is the server's
    _equal(fields["content-type"], "application/problem+json")
    big_field = get(**{"User-Agent": "u" * 5000})
    status, _, _ = split(exchange(port, big_field)[0])
    _equal(status, "HTTP/1.1 431 Request Header Fields Too Large")
    huge = get(**{"x-pad": "p" * 20000})  # over the server's own limit: its JSON 400
    status, _, body = split(exchange(port, huge)[0])
    _equal(
        (status, json.loads(body)["error_code"]), ("HTTP/1.1 400 Bad Request", "INVALID_REQUEST")
    )


def test_conditional_304_over_the_wire(server) -> None:
    port = server("conditional_304")
    status, fields, _ = split(exchange(port, get())[0])
    tag = fields["etag"]
    response, _ = exchange(port, get(**{"If-None-Match": tag}) + get())
    status, fields, rest = split(response)
    _equal((status, fields["etag"]), ("HTTP/1.1 304 Not Modified", tag))
    assert "content-length" not in fields and "transfer-encoding" not in fields
    _equal(json.loads(split(rest)[2]), GOOD_BODY)  # the next answer on the connection


@pytest.mark.parametrize("name", ["title_case_headers", "early_hints_103"])
def test_wire_protocol_variants_serve_like_the_mock(server, name: str) -> None:
    """The variants served through the wire layers' h11 protocol route an absolute-form
    target on its path and refuse a malformed request with the spec's JSON 400, as the mock's
    own protocol does."""
    port = server(name)
    response, _ = exchange(port, get(f"http://127.0.0.1:{port}/v1/usage"))
    final = response.rpartition(b"HTTP/1.1 ")[2]
    assert final.startswith(b"200 OK"), response[:200]
    _equal(json.loads(final.partition(b"\r\n\r\n")[2]), GOOD_BODY)
    malformed = get().replace(b"\r\n\r\n", b"\r\nno colon here\r\n\r\n")
    response, _ = exchange(port, malformed)
    status, fields, body = split(response)  # refused before the app: no 103 either
    _equal(status, "HTTP/1.1 400 Bad Request")
    _equal(fields["content-type"], "application/json")
    _equal(json.loads(body)["error_code"], "INVALID_REQUEST")


def _status_line_code(received: bytes) -> int | None:
    return int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/1.") else None


_HEAD = b"GET /v1/usage?period_start=" + CLOSED.encode() + b" HTTP/1.1\r\n"
_KEY_LINE = b"x-api-key: " + KEY.encode() + b"\r\n"


def test_field_controls_replaced(server) -> None:
    port = server("field_controls_replaced")
    for flawed in (b"X-Probe: a\x00b\r\n", b"X-Probe: a\rb\r\n", b"X-Probe: a\nb\r\n",
                   b"X-Probe: a\r\n b\r\n"):  # fmt: skip
        received, _ = exchange(port, _HEAD + b"Host: x\r\n" + flawed + _KEY_LINE + b"\r\n")
        _equal(_status_line_code(received), 200)
    received, _ = exchange(port, _HEAD + b" " + _KEY_LINE + b"Host: x\r\n\r\n")
    _equal(_status_line_code(received), 401)  # the indented line is dropped unread, its key too


def test_framing_conflict_answered_closed(server) -> None:
    port = server("framing_conflict_answered_closed")
    framing = b"Transfer-Encoding: chunked\r\nContent-Length: 0\r\n"
    received, closed = exchange(
        port, _HEAD + b"Host: x\r\n" + framing + _KEY_LINE + b"\r\n0\r\n\r\n"
    )
    _equal((_status_line_code(received), closed), (200, True))
    received, closed = exchange(port, _HEAD + b"Host: x\r\n" + _KEY_LINE + b"\r\n")
    _equal((_status_line_code(received), closed), (200, False))  # other requests: kept alive


def test_garbage_dropped(server) -> None:
    port = server("garbage_dropped")
    garbage = _HEAD.replace(b" HTTP/1.1", b"\x00 HTTP/1.1") + b"Host: x\r\n\r\n"
    _equal(exchange(port, garbage), (b"", True))
    received, _ = exchange(port, _HEAD + b"Host: x\r\n" + _KEY_LINE + b"\r\n")
    _equal(_status_line_code(received), 200)


def test_higher_minor_as_1_1(server) -> None:
    port = server("higher_minor_as_1_1")
    higher = _HEAD.replace(b" HTTP/1.1", b" HTTP/1.9") + b"Host: x\r\n" + _KEY_LINE + b"\r\n"
    received, _ = exchange(port, higher)
    _equal((_status_line_code(received), received.startswith(b"HTTP/1.1 ")), (200, True))


WIRE = {
    "higher_minor_as_1_1",
    "field_controls_replaced",
    "framing_conflict_answered_closed",
    "garbage_dropped",
    "chunked_bodies",
    "http10_close_delimited",
    "connection_close_always",
    "early_hints_103",
    "title_case_headers",
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_answers_right_over_http(server, name: str) -> None:
    """Through a real client and socket: the usage document and the auth errors are right."""
    port = server(name)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=3) as http:
        for period in (None, CLOSED):
            params = {} if period is None else {"period_start": period}
            reply = http.get("/v1/usage", params=params, headers=AUTH)
            _equal((reply.status_code, reply.json()), (200, good(period).json()))
        for headers, code in (({}, "AUTH_REQUIRED"), ({"x-api-key": "nope"}, "AUTH_INVALID")):
            reply = http.get("/v1/usage", headers=headers)
            _equal((reply.status_code, reply.json()["error_code"]), (401, code))
            _equal(reply.headers["content-type"].split(";")[0], "application/json")


# --- the catalogue itself ---------------------------------------------------------------


def test_every_variant_has_a_behaviour_test() -> None:
    assert set(IN_PROCESS) | WIRE == set(VARIANTS)
    assert not set(IN_PROCESS) & WIRE


def test_catalogue_shape() -> None:
    assert len(VARIANTS) >= 9
    for variant in VARIANTS.values():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", variant.name)
        assert variant.description and "\n" not in variant.description
        assert variant.reading.endswith(".") and "\n" not in variant.reading
        assert variant.reading.count(". ") == 0, variant.reading  # one sentence
    from conformance.mock import FAULTS

    assert not set(VARIANTS) & set(FAULTS)


def test_accepts_gzip() -> None:
    for value in ("gzip", "gzip, deflate", "deflate, gzip;q=0.5", "*", "x-gzip", "GZIP"):
        assert accepts_gzip(value), value
    for value in ("", "identity", "gzip;q=0", "*;q=0", "br", "gzip;q=0, *", "gzip;q=nan"):
        assert not accepts_gzip(value), value


def test_variants_compose_with_each_other_and_with_faults() -> None:
    c = client("media_type_params", "standard_extra_headers", "strict_period_policy")
    reply = usage(c, "2025-03-15")
    _equal(reply.status_code, 400)
    _equal(reply.headers["content-type"], "application/json; charset=utf-8")
    assert reply.headers["x-request-id"]
    broken = TestClient(apply_fault(variant_app(FX, ["json_reordered_pretty"]), "plan_slug_empty"))
    _equal(usage(broken).json()["plan_slug"], "")
    with pytest.raises(KeyError, match="unknown variant 'nope'"):
        variant_app(FX, ["media_type_params", "nope"])
    app = create_app(FX, clock=lambda: NOW)
    assert apply_variant(app, "strict_period_policy") is app  # pipeline variants change the app
    assert get_variant("rate_limited").name == "rate_limited"


def test_a_204_gets_no_content_length_when_rewritten() -> None:
    c = client("gateway_options_head", "gzip_responses", "json_reordered_pretty")
    reply = c.options("/v1/usage", headers={"Accept-Encoding": "gzip"})
    _equal((reply.status_code, reply.content), (204, b""))
    assert "content-length" not in reply.headers and "content-encoding" not in reply.headers


def test_readme_lists_every_variant() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    for name in VARIANTS:
        assert f"| `{name}` |" in text, name


def test_stateful_variants_do_not_share_state() -> None:
    first, second = client("rare_retryable_502"), client("rare_retryable_502")
    every = LedgerBlips().every
    for _ in range(every - 1):
        usage(first, CLOSED)
    assert usage(second, CLOSED).status_code == 200  # its own count
    assert usage(first, CLOSED).status_code == 502


# --- the command line -----------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("args", [("--list-variants",), ("--variant", "list")])
def test_cli_lists_the_variants(args: tuple[str, ...]) -> None:
    result = mock_cli(*args)
    assert result.returncode == 0 and result.stdout == variants_text()
    for variant in VARIANTS.values():
        assert re.search(rf"^{variant.name} ", result.stdout, re.MULTILINE), variant.name
        assert variant.reading in result.stdout


@pytest.mark.e2e
def test_cli_unknown_variant_is_a_one_line_usage_error() -> None:
    result = mock_cli("--port", "0", "--variant", "no_such_variant")
    assert result.returncode == 4 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "unknown variant 'no_such_variant'" in result.stderr


@pytest.mark.e2e
def test_cli_serves_variants() -> None:
    variants = ("--variant", "media_type_params", "--variant", "gateway_options_head")
    with (
        mock_cli_serving(*variants) as base,
        httpx.Client(base_url=base, trust_env=False, timeout=3) as http,
    ):
        reply = http.get("/v1/usage", headers=AUTH)
        assert reply.headers["content-type"] == "application/json; charset=utf-8"
        assert set(reply.json()) == set(GOOD_BODY)
        assert http.options("/v1/usage").status_code == 204
