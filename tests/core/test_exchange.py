"""The record of an exchange (conformance/_core/exchange.py) is plain data: what it says of an
answer, and the rule that checks and reports read it without the HTTP client."""

from __future__ import annotations

import json

import pytest

from conformance._core.exchange import Exchange, Masker


def exchange(status, body=b"", headers=None, error="") -> Exchange:
    return Exchange(
        "GET", "http://127.0.0.1:9/v1/usage", {"x-api-key": "dcs_secret_key_123"}, status,
        headers or {}, body, 0.01, error=error, masker=Masker(["dcs_secret_key_123"]),
    )  # fmt: skip


@pytest.mark.parametrize(
    "status, body, unavailable",
    [
        (200, b"{}", False),
        (429, b"", True),
        (502, b"<html>Bad Gateway</html>", True),
        (503, b"", True),
        (504, b"", True),
        (500, json.dumps({"retryable": True}).encode(), True),
        (500, json.dumps({"retryable": False}).encode(), False),
        (500, b"oops", False),
        (None, b"", False),
    ],
)
def test_which_answers_say_not_now(status, body, unavailable):
    assert exchange(status, body).unavailable is unavailable


def test_the_server_line_names_status_and_server_but_no_secret():
    answered = exchange(502, headers={"server": "nginx dcs_secret_key_123"})
    assert answered.server_line() == "502 (Server: nginx ***)"
    assert exchange(502).server_line() == "502"
    assert not exchange(None, error="reset").answered


def test_strict_json_only():
    assert exchange(200, b'{"a": 1}').parsed == (True, {"a": 1})
    for body in (b"NaN", b'{"a": NaN}', b"\xff", b"{"):
        ok, _ = exchange(200, body).parsed
        assert not ok, body


def test_the_summary_names_the_credentials_given_and_masks_the_query():
    sent = Exchange(
        "GET", "http://127.0.0.1:9/v1/usage?api_key=dcs_secret_key_123", {}, 401, {},
        b'{"error_code": "AUTH_REQUIRED"}', 0.01, masker=Masker(["dcs_secret_key_123"]),
    )  # fmt: skip
    summary = sent.summary(credential="none", org_header=False)
    assert summary["auth"] == "none" and summary["error_code"] == "AUTH_REQUIRED"
    assert summary["query"] == "api_key=***"
