"""`http_message_lint` on hand-made exchanges: httplint's notes become violations, warnings
(kept in the test's trace, never raised) or nothing, as `readings.LINT_NOTES` says."""

from __future__ import annotations

import email.utils
import time

import pytest

from conformance._core import trace
from conformance._core.errors import ContractViolation, ContractWarning
from conformance._core.exchange import Exchange, Masker
from conformance._run.load import load_contract
from conformance.checks import validate_response
from conformance.checks.lint import http_message_lint, lint

CONTRACT = load_contract()
USAGE = CONTRACT.operation("/v1/usage", "get")
KEY = "dcs_secret_key_0123"
BODY = b'{"error_code":"AUTH_REQUIRED","message":"m","retryable":false}'
NOW = time.time()
DATE = email.utils.formatdate(NOW, usegmt=True)


def ex(status: int = 401, body: bytes = BODY, *, method: str = "GET", **headers: str) -> Exchange:
    fields = {"date": DATE, "content-type": "application/json", "content-length": str(len(body))}
    return Exchange(
        method=method,
        url="http://127.0.0.1:9/v1/usage?period_start=2025-01-01",
        request_headers={"x-api-key": KEY},
        status=status,
        headers={**fields, **{k.replace("_", "-"): v for k, v in headers.items()}},
        body=b"" if method == "HEAD" else body,
        elapsed=0.001,
        masker=Masker([KEY]),
        started=NOW,
    )


def judged(exchange: Exchange) -> tuple[list[ContractViolation], list[ContractWarning]]:
    record = trace.start()
    found = [
        v for v in validate_response(CONTRACT, USAGE, exchange) if v.check == "http_message_lint"
    ]
    return found, [w for w in record.warnings if w.check == "http_message_lint"]


def test_a_plain_answer_passes_without_warnings():
    assert judged(ex()) == ([], [])


def test_a_head_answer_is_linted_without_content():
    assert judged(ex(method="HEAD")) == ([], [])


@pytest.mark.parametrize(
    "headers, note",
    [
        ({"date": time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(NOW))}, "DATE_OBSOLETE"),
        ({"date": time.asctime(time.gmtime(NOW))}, "DATE_OBSOLETE"),
        ({"date": "yesterday"}, "BAD_DATE_SYNTAX"),
        ({"last_modified": email.utils.formatdate(NOW + 86400, usegmt=True)}, "LM_FUTURE"),
        ({"etag": 'w/"abc"'}, "ENTITY_TAG_WEAK_CASE"),
    ],
    ids=["rfc850", "asctime", "no-date", "modified-later", "weak-lower-case"],
)
def test_a_broken_message_is_a_violation_naming_the_note(headers, note):
    found, _ = judged(ex(**headers))
    assert len(found) == 1 and note in found[0].message
    assert found[0].actual.startswith(f"{note}: ")
    assert found[0].expected.startswith("RFC 9110")
    assert found[0].location.startswith("header ")


def test_a_note_rated_warning_is_reported_not_raised():
    answer = ex(cache_control="max-age=60, max-age=60")  # CC_DUP: advice
    found, warned = judged(answer)
    assert found == []
    assert [(w.check, w.note, w.location, w.status) for w in warned] == [
        ("http_message_lint", "CC_DUP", "header cache-control", 401)
    ]
    assert warned[0].request.startswith("GET http://127.0.0.1:9/v1/usage")


def test_the_same_warning_is_kept_once_per_test():
    record = trace.start()
    for _ in range(3):
        http_message_lint(CONTRACT, USAGE, ex(cache_control="max-age=60, max-age=60"))
    assert len(record.warnings) == 1


def test_no_answer_is_not_linted():
    stalled = ex()
    stalled.status, stalled.error = None, "no complete response"
    assert lint(stalled) == ()


def test_a_decoded_body_is_not_held_to_the_content_length_of_its_coding():
    answer = ex(200, b'{"a":1}' * 20, content_encoding="gzip", content_length="31")
    assert judged(answer)[0] == []


def test_a_secret_in_a_note_is_masked():
    answer = ex(date=f"{KEY} GMT")
    found, _ = judged(answer)
    assert found and KEY not in found[0].message + found[0].actual


def test_httplint_failing_is_a_warning_not_a_crash(monkeypatch):
    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr("conformance.checks.lint._lint", broken)
    found, warned = judged(ex())
    assert found == [] and [w.note for w in warned] == ["LINTER_FAILED"]


def test_expires_zero_is_a_warning_a_bad_date_a_violation():
    found, warned = judged(ex(expires="0"))
    assert found == [] and [w.note for w in warned] == ["BAD_DATE_SYNTAX"]
    found, _ = judged(ex(date="yesterday"))
    assert [v.check for v in found] == ["http_message_lint"]


def test_a_416_without_content_range_is_a_warning():
    """RFC 9110 14.4 (a SHOULD): httplint's note on a 416 to a byte range, a warning only."""
    body = b'{"type":"about:blank","title":"Range Not Satisfiable","status":416}'
    answer = ex(416, body, content_type="application/problem+json")
    answer.request_headers["range"] = "bytes=1000000-"
    found, warned = judged(answer)
    assert found == [] and [w.note for w in warned] == ["STATUS_416_WITHOUT_CONTENT_RANGE"]
    answer.headers["content-range"] = f"bytes */{len(BODY)}"
    assert judged(answer) == ([], [])
