"""failures.har (conformance/_report/har.py): HAR 1.2 that browsers open, one page per root
cause with the first test's exchanges, keys masked, and what the replay needs under `_dcs`."""

from __future__ import annotations

import datetime as dt
import json

from conformance._report.har import HAR_FORMAT, render_har
from tests.report.findings import five_fault_results, summarise

REQUEST_FIELDS = {"method", "url", "httpVersion", "cookies", "headers", "queryString",
                  "headersSize", "bodySize"}  # fmt: skip
RESPONSE_FIELDS = {"status", "statusText", "httpVersion", "cookies", "headers", "content",
                   "redirectURL", "headersSize", "bodySize"}  # fmt: skip


def har() -> dict:
    return json.loads(render_har(summarise(five_fault_results())))["log"]


def test_it_is_har_1_2_with_every_required_field():
    log = har()
    assert log["version"] == "1.2" and log["creator"]["name"] == "dcs-conformance"
    pages = {page["id"] for page in log["pages"]}
    for page in log["pages"]:
        assert {"startedDateTime", "id", "title", "pageTimings"} <= set(page)
    assert log["entries"]
    for entry in log["entries"]:
        assert entry["pageref"] in pages
        dt.datetime.fromisoformat(entry["startedDateTime"].replace("Z", "+00:00"))
        assert entry["time"] >= 0 and set(entry["timings"]) >= {"send", "wait", "receive"}
        assert set(entry["request"]) >= REQUEST_FIELDS
        assert set(entry["response"]) >= RESPONSE_FIELDS
        assert all(set(h) == {"name", "value"} for h in entry["request"]["headers"])
        content = entry["response"]["content"]
        assert isinstance(content["size"], int) and content["mimeType"] and "text" in content
        assert entry["cache"] == {}


def test_one_page_per_root_cause_most_serious_first_with_the_first_tests_exchanges():
    log = har()
    assert [page["title"] for page in log["pages"]] == [
        "1. [access control and tenancy] valid key answered 401",
        "2. [access control and tenancy] a wrong or malformed key answered 200",
        "3. [wrong figures] $.billed_cpu_millicore_seconds float",
        "4. [wrong figures] $.plan_slug empty string",
        "5. [wire and schema] $.retryable true",
        "6. [wording] $.error_code not UPPER_SNAKE_CASE",
    ]
    bearer = log["pages"][0]["_dcs"]
    assert bearer["test"] == "t::valid_bearer" and bearer["severity"]["rank"] == 1
    assert bearer["findings"] == [
        {
            "check": "valid_key_accepted",
            "message": "a valid request answered 401 auth_invalid",
            "location": "status",
            "arguments": [{"$exchange": 0}],
            "entries": [0],
        }
    ]
    # two findings of one test about the same answer share its entry
    code = log["pages"][5]["_dcs"]
    assert [(f["check"], f["entries"]) for f in code["findings"]] == [
        ("error_code_format", [0]),
        ("missing_key_is_auth_required", [0]),
    ]
    per_page = [sum(e["pageref"] == page["id"] for e in log["entries"]) for page in log["pages"]]
    assert per_page == [1, 1, 1, 1, 1, 1]
    assert log["_dcs"]["format"] == HAR_FORMAT and log["_dcs"]["base_url"] == "http://127.0.0.1:9"


def test_keys_are_masked_and_only_named_in_the_replay_template():
    log = har()
    [entry] = [e for e in log["entries"] if e["pageref"] == "cause-1"]
    assert entry["request"]["headers"] == [{"name": "Authorization", "value": "Bearer ***"}]
    assert entry["_dcs"]["template"]["headers"] == {"Authorization": "Bearer ${DCS_API_KEY}"}
    assert entry["response"]["status"] == 401 and entry["response"]["statusText"] == "Unauthorized"
    text = json.dumps(log)
    assert "dcs_test_" not in text


def test_a_request_without_an_answer_is_status_0_with_its_error():
    summary = summarise(five_fault_results())
    first = summary["groups"][0]["first"]["violations"][0]["exchanges"][0]
    first["response"].update(status=None, error="read timed out", headers={}, body_excerpt="")
    [entry] = [e for e in json.loads(render_har(summary))["log"]["entries"]
               if e["pageref"] == "cause-1"]  # fmt: skip
    assert entry["response"]["status"] == 0 and entry["response"]["_error"] == "read timed out"
    assert entry["response"]["content"]["mimeType"] == "x-unknown"


def test_a_raw_request_keeps_how_it_was_written_and_bytes_that_are_not_utf8():
    """A request written byte for byte keeps its wire (replayed alike) and its values as
    written, a byte that is not UTF-8 included (a JSON escape: the file stays UTF-8)."""
    summary = summarise(five_fault_results())
    first = summary["groups"][0]["first"]["violations"][0]["exchanges"][0]
    first["request"]["wire"] = {"raw": True, "version": "1.0", "absolute_form": False}
    first["request"]["template"]["headers"]["User-Agent"] = "caf\udce9"
    text = render_har(summary)
    text.encode("utf-8")  # a lone surrogate would not encode
    [entry] = [e for e in json.loads(text)["log"]["entries"] if e["pageref"] == "cause-1"]
    assert entry["request"]["httpVersion"] == "HTTP/1.0"
    assert entry["_dcs"]["wire"]["raw"] and entry["_dcs"]["wire"]["version"] == "1.0"
    assert entry["_dcs"]["template"]["headers"]["User-Agent"] == "caf\udce9"
