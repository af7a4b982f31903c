"""The record of an exchange (conformance/_core/exchange.py) is plain data: what it says of an
answer, and the rule that checks and reports read it without the HTTP client."""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import quote

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


KEY = "dcs_secret_key_1234567890"


def named() -> Masker:
    return Masker(secret_headers={"x-api-key"}, names={"DCS_API_KEY": KEY})


@pytest.mark.parametrize(
    "value, template",
    [
        (f"Bearer {KEY}", "Bearer ${DCS_API_KEY}"),
        (f"Bearer {KEY} extra", "Bearer ${DCS_API_KEY} extra"),
        (KEY, "${DCS_API_KEY}"),
        ("Bearer", "Bearer"),  # no secret: shown, and replayed, as it was
        ("dcs_conformance_wrong_key_0000", "dcs_conformance_wrong_key_0000"),
        (f"Bearer {KEY[:12]} {KEY[12:]}", "Bearer ***"),  # the key cut in two: never shown
        ("Basic " + base64.b64encode(f"x:{KEY[:10]}".encode()).decode(), "Basic ***"),
    ],
)
def test_a_credential_header_template_names_the_key_and_shows_no_piece_of_it(value, template):
    assert named().header_template("Authorization", value) == template


def test_a_changed_key_is_masked_in_the_template_and_never_restored():
    masker = named()
    masker.add(KEY + "1")  # a near-miss key a test made: a secret without a name
    assert masker.header_template("x-api-key", KEY + "1") == "***"
    assert masker.name_of(KEY) == "DCS_API_KEY" and masker.name_of(KEY + "1") is None
    assert masker.template(f"http://h/v1/usage?api_key={KEY}") == (
        "http://h/v1/usage?api_key=${DCS_API_KEY}"
    )


def test_an_exchange_carries_its_template_only_when_it_holds_a_named_key():
    sent = Exchange(
        "GET", f"http://127.0.0.1:9/v1/usage?k={KEY}", {"x-api-key": KEY}, 200, {}, b"{}", 0.01,
        masker=named(), started=1_767_225_600.25,
    )  # fmt: skip
    record = sent.as_dict()
    assert record["request"]["headers"] == {"x-api-key": "***"}
    assert record["request"]["template"] == {
        "url": "http://127.0.0.1:9/v1/usage?k=${DCS_API_KEY}",
        "headers": {"x-api-key": "${DCS_API_KEY}"},
    }
    assert record["started"] == "2026-01-01T00:00:00.250Z"
    assert KEY not in json.dumps(record)
    keyless = Exchange("GET", "http://127.0.0.1:9/v1/usage", {}, 401, {}, b"", 0.01, masker=named())
    assert "template" not in keyless.as_dict()["request"] and keyless.as_dict()["started"] is None


def test_a_key_is_masked_however_it_is_padded_quoted_or_escaped():
    """Padding around the key shows, never the key: raw, as repr and bytes repr quote it (an
    exception's text), as JSON and HTML do, percent-encoded, and escapes stacked on escapes."""
    key = "dcs_test_q0123456789\\'\"&<>%+/"
    masker = Masker([f"  {key} \t"])
    texts = [key, repr(key), repr(key.encode()), json.dumps(key), html.escape(key)]
    texts += [quote(key, safe=""), json.dumps(repr(f"  {key} \t".encode())), repr(json.dumps(key))]
    for text in texts:
        assert "dcs_test_q0123456789" not in masker.text(text), text
    assert (
        masker.text(f"Illegal header value b'  {key} \\t'") == "Illegal header value b'  *** \\t'"
    )
    assert masker.error(ValueError(f"bad {key}\nmore")) == "bad ***"
    assert masker.error(ValueError()) == "ValueError"
    plain = Masker(["dcs_test_plain0123"])
    assert plain.text("dcs_test_plain0123 and &amp; \\x27") == "*** and &amp; \\x27"


def test_a_key_cut_short_is_masked_from_its_first_half_on():
    """A text that cut a key to fit a line (`repr(body[:40])`) shows none of it once half of
    it shows; a key of under 20 characters is masked only whole."""
    key = "dcs_test_biQlBUhRENbrCN4SFinlqejx"
    masker = Masker([key])
    assert masker.text(repr(f"X-Echo: {key}".encode()[:30])) == "b'X-Echo: ***'"
    assert masker.text(f"{key[:16]}... more") == "*** more"
    assert masker.text(f"{key[:15]} dcs_test_other") == f"{key[:15]} dcs_test_other"
    assert Masker(["dcs_test_eeeeeeee"]).text("dcs_test_eeee") == "dcs_test_eeee"
    body = (b"x" * 390 + key.encode()) * 3
    shown = Exchange("GET", "http://h/", {}, 200, {}, body, 0.0, masker=masker).excerpt()
    assert shown.startswith("x" * 390 + "***") and "dcs_test" not in shown


def test_the_server_is_named_where_its_layer_may_have_answered():
    def answer(media: str, server: str | None = "Caddy") -> Exchange:
        headers = {"content-type": media, **({"server": server} if server else {})}
        return Exchange("GET", "http://127.0.0.1:9/v1/usage", {}, 401, headers, b"{}", 0.0)

    assert "Server: Caddy, not in JSON" in answer("text/html").foreign_note()
    assert answer("application/json").foreign_note() == ""
    assert "Server: Caddy, which held the connection" in answer("application/json").foreign_note(
        connection=True
    )
    assert answer("text/html", server=None).foreign_note(connection=True) == ""
