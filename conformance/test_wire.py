"""Requests malformed at HTTP/1.1's level, written byte for byte, each on a connection of its
own and within the request deadline (RFC 9112): a Host missing, doubled or invalid, a space
before a colon, control bytes and folds in a field value, a first field line indented, a
request-line that is no request-line, a request-target with a raw space or byte, a very long
method, an invalid Content-Length, and Transfer-Encoding with Content-Length; and two GETs
pipelined, whose answers come in order. The malformed probes carry no key (the indented one
aside, whose only key is on the line to be ignored); their refusals may be the HTTP layer's
own and are judged by status, closure and safety only. Keyed GETs besides (RFC 9110):
one in HTTP/1.9 (6.2), one whose header section never ends (5.3), and absolute-form targets
with an empty host, a userinfo or the other scheme (4.2, 7.4)."""

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from conformance._core.dates import CLOSED_PERIOD_OFFSET, month_start
from conformance._core.exchange import Exchange
from conformance._run.session import FIRST_SCHEME, Raw
from conformance.checks import wire

CLOSED = month_start(CLOSED_PERIOD_OFFSET).isoformat()
EARLIER = month_start(CLOSED_PERIOD_OFFSET - 1).isoformat()
#: A chunked request's content with no chunk: the framing Transfer-Encoding announces.
NO_CHUNK = b"0\r\n\r\n"
#: The opening bytes of a TLS handshake, as a client sends to a plain-HTTP port.
TLS_HELLO = "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"

#: Each case: the check, how the request goes on the wire (`follow`: a plain GET pipelined
#: after it), its own fields (`{host}`: the target's authority), and whether it carries the key.
Case = tuple[Callable[[Exchange], None], Raw, dict[str, str], bool]
CASES: dict[str, Case] = {
    "no_host": (wire.host_required, Raw(host=False, flaw="no Host field"), {}, False),
    "two_host_lines": (
        wire.host_required,
        Raw(flaw="two Host field lines"),
        # two values: HAProxy merges identical lines (harmless), which the RFC does not foresee
        {"Host": "{host}", "host": "example.com"},
        False,
    ),
    "invalid_host": (wire.host_required, Raw(flaw="an invalid Host value"), {"Host": "a b"}, False),
    "space_before_colon": (
        wire.field_name_whitespace_refused,
        Raw(flaw="a space before a field's colon"),
        {"Accept ": "application/json"},
        False,
    ),
    "bare_cr_in_value": (
        wire.malformed_field_refused_or_replaced,
        Raw(flaw="a bare CR in a field value"),
        {"X-Dcs-Probe": "a\rb"},
        False,
    ),
    "nul_in_value": (
        wire.malformed_field_refused_or_replaced,
        Raw(flaw="a NUL in a field value"),
        {"X-Dcs-Probe": "a\x00b"},
        False,
    ),
    "bare_lf_in_value": (
        wire.malformed_field_refused_or_replaced,
        Raw(flaw="a bare LF in a field value"),
        {"X-Dcs-Probe": "a\nb"},
        False,
    ),
    "obs_fold": (
        wire.malformed_field_refused_or_replaced,
        Raw(flaw="a folded field line (obs-fold)"),
        {"X-Dcs-Probe": "a\r\n b"},
        False,
    ),
    "key_on_indented_first_line": (
        wire.indented_field_line_ignored,
        Raw(indent_first=True, flaw="whitespace before the first field line"),
        {},
        True,
    ),
    "nul_in_request_line": (
        wire.request_line_garbage_refused,
        Raw(
            line="GET {target}\x00 HTTP/1.1",
            watch_close=True,
            follow=True,
            flaw="a NUL in the request-line",
        ),
        {},
        False,
    ),
    "tls_hello": (
        wire.request_line_garbage_refused,
        Raw(line=TLS_HELLO, watch_close=True, flaw="a TLS handshake for a request-line"),
        {},
        False,
    ),
    "raw_space_in_target": (
        wire.invalid_request_target_refused,
        Raw(line="GET {target}&note=a b HTTP/1.1", flaw="a raw space in the request-target"),
        {},
        False,
    ),
    "raw_byte_in_target": (
        wire.invalid_request_target_refused,
        Raw(line="GET {target}&note=\xe9 HTTP/1.1", flaw="a raw non-ASCII byte in the target"),
        {},
        False,
    ),
    "long_method": (
        wire.long_method_refused,
        Raw(line="DCS" + "X" * 97 + " {target} HTTP/1.1", flaw="a method of 100 letters"),
        {},
        False,
    ),
    **{
        f"content_length_{name}": (
            wire.invalid_content_length_refused,
            Raw(watch_close=True, follow=True, flaw=f"an invalid Content-Length ({value})"),
            {"Content-Length": value},
            False,
        )
        for name, value in (("letters", "abc"), ("two_values", "1,2"), ("negative", "-1"))
    },
    "transfer_encoding_and_content_length": (
        wire.framing_conflict_closed,
        Raw(content=NO_CHUNK, watch_close=True, flaw="Transfer-Encoding and Content-Length"),
        {"Transfer-Encoding": "chunked", "Content-Length": "0"},
        False,
    ),
    "transfer_encoding_in_http_1_0": (
        wire.framing_conflict_closed,
        Raw("1.0", content=NO_CHUNK, watch_close=True, flaw="Transfer-Encoding in HTTP/1.0"),
        {"Transfer-Encoding": "chunked", "Connection": "keep-alive"},
        False,
    ),
}


def judge_wire(dcs: Any, exchange: Exchange, *checks: Callable[[Exchange], None]) -> None:
    """`checks` on `exchange`, and the response checks on its answer if there is one (a
    refusal by the close alone has none to judge: each check says whether it may)."""
    if exchange.status is None and exchange.closed and not exchange.stalled:
        for check in checks:
            check(exchange)
    else:
        dcs.judge(exchange, *(lambda c=check: c(exchange) for check in checks))


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_request(dcs, case):
    check, raw, fields, keyed = CASES[case]
    if check is wire.long_method_refused and not dcs.settings.method_probes:
        pytest.skip("--no-method-probes: only GET is sent")
    host = urlsplit(dcs.transport.base_url).netloc
    headers = {name: value.replace("{host}", host) for name, value in fields.items()}
    exchange = dcs.send_usage(
        period_start=CLOSED, scheme=FIRST_SCHEME if keyed else None, headers=headers, raw=raw
    )
    # a GET pipelined after it: never answered once the answer says close (RFC 9112 9.6)
    after = (wire.no_request_after_close,) if raw.follow else ()
    judge_wire(dcs, exchange, check, *after)


def test_pipelined_answers_in_order(dcs):
    """Two keyed GETs of different closed months written at once on one connection: the
    first answer read is the first month's."""
    first, second = dcs.plain(CLOSED), dcs.plain(EARLIER)
    exchange = dcs.send_usage(period_start=CLOSED, raw=Raw(then_query=f"period_start={EARLIER}"))
    dcs.judge(exchange, lambda: wire.pipelined_answers_in_order(first, second, exchange))


def test_higher_minor_version(dcs):
    """A keyed GET in HTTP/1.9, a minor version above any (RFC 9110 6.2)."""
    reference = dcs.plain(CLOSED)
    exchange = dcs.send_usage(period_start=CLOSED, raw=Raw("1.9"))
    dcs.judge(exchange, lambda: wire.higher_minor_version_served(reference, exchange))


def test_unfinished_head(dcs):
    """A keyed GET whose header section stops before its empty line (RFC 9110 5.3): no
    answer within a second is the server waiting, and judged by the check alone."""
    raw = Raw(unfinished=True, flaw="a header section without its empty line")
    exchange = dcs.send_usage(period_start=CLOSED, raw=raw)
    if exchange.status is None and not exchange.stalled:
        wire.unfinished_head_not_answered(exchange)
    else:
        dcs.judge(exchange, lambda: wire.unfinished_head_not_answered(exchange))


#: Absolute-form targets of the usage path whose authority the server cannot serve (RFC 9110
#: 4.2.1, 4.2.4, 7.4): `{authority}` and `{other}` stand for the target's own authority and
#: the scheme it is not served by. Not another host: Caddy answers a host it has no site for
#: with its own empty 200, whatever the origin behind it does.
AUTHORITIES = {
    "empty_host": "GET http://{target} HTTP/1.1",
    "userinfo": "GET http://dcs-conformance@{authority}{target} HTTP/1.1",
    "other_scheme": "GET {other}://{authority}{target} HTTP/1.1",
}


@pytest.mark.parametrize("case", list(AUTHORITIES))
def test_absolute_form_authority(dcs, case):
    """A keyed GET whose absolute-form target names what the server cannot serve."""
    reference = dcs.plain(CLOSED)
    parts = urlsplit(dcs.transport.base_url)
    other = "http" if parts.scheme == "https" else "https"
    line = AUTHORITIES[case].replace("{authority}", parts.netloc).replace("{other}", other)
    raw = Raw(line=line, flaw=f"an absolute-form target with {case.replace('_', ' ')}")
    exchange = dcs.send_usage(period_start=CLOSED, raw=raw)
    dcs.judge(exchange, lambda: wire.foreign_authority_not_misserved(reference, exchange))
