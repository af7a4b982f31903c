"""Checks of requests malformed at HTTP/1.1's level, written byte for byte (RFC 9112): how
the server refuses them, whether it closes the connection where the RFC says so, and that
none is taken for another request. The refusal may be the HTTP layer's own (a reverse
proxy's page, `readings.outside_the_api`): status, closure and safety are judged, never
the API's error schema. Each check judges one exchange whose request carries its flaw
(`Exchange.flaw`) and, where closure matters, was watched for the close (`Exchange.closed`).
"""

from __future__ import annotations

from conformance._contract import readings
from conformance._contract.spec import Contract, Operation
from conformance._core.exchange import Exchange
from conformance.checks._invariant import Broken, describe, invariant, usage_body


def _answered(exchange: Exchange, expected: str) -> int:
    """The status of `exchange`'s answer; `Broken` when none came back in time."""
    if exchange.status is None or exchange.stalled:
        what = exchange.error or "no answer"
        raise Broken(
            f"{exchange.flaw}: {what}",
            expected=expected,
            actual=what,
            location="status",
        )
    return exchange.status


def _status(exchange: Exchange, ok: bool, expected: str) -> None:
    if not ok:
        raise Broken(
            f"{exchange.flaw}: answered {describe(exchange)}",
            expected=expected,
            actual=describe(exchange),
            location="status",
        )


def _closed(exchange: Exchange, expected: str) -> None:
    if exchange.closed is False:
        raise Broken(
            f"{exchange.flaw}: answered {describe(exchange)}, and the connection was kept open",
            expected=expected,
            actual="the connection kept open after the answer",
            location="connection",
        )


@invariant
def host_required(exchange: Exchange) -> None:
    """ "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request
    message that lacks a Host header field and to any request message that contains more
    than one Host header field line or a Host header field with an invalid field value"
    (RFC 9112 3.2)."""
    expected = "400 (Bad Request)"
    status = _answered(exchange, expected)
    _status(exchange, status == 400, expected)


@invariant
def field_name_whitespace_refused(exchange: Exchange) -> None:
    """ "A server MUST reject, with a response status code of 400 (Bad Request), any
    received request message that contains whitespace between a header field name and
    colon" (RFC 9112 5.1): a field a proxy may read otherwise is never trusted."""
    expected = "400 (Bad Request)"
    status = _answered(exchange, expected)
    _status(exchange, status == 400, expected)


@invariant
def invalid_content_length_refused(exchange: Exchange) -> None:
    """An invalid Content-Length makes the framing invalid: "If this is a request message,
    the server MUST respond with a 400 (Bad Request) status code and then close the
    connection" (RFC 9112 6.3)."""
    expected = "400 (Bad Request), then the connection closed"
    status = _answered(exchange, expected)
    _status(exchange, status == 400, expected)
    _closed(exchange, expected)


@invariant
def framing_conflict_closed(exchange: Exchange) -> None:
    """ "A server MAY reject a request that contains both Content-Length and
    Transfer-Encoding or process such a request in accordance with the Transfer-Encoding
    alone. Regardless, the server MUST close the connection after responding to such a
    request" (RFC 9112 6.1), and so after an HTTP/1.0 request with Transfer-Encoding (its
    framing is faulty): a 4xx refusal or the answer to the request as framed by
    Transfer-Encoding (never a 5xx), then the close; or the close alone."""
    if exchange.status is None and exchange.closed and not exchange.stalled:
        return  # refused by closing at once
    expected = "a 4xx refusal or the request's own answer, then the connection closed"
    status = _answered(exchange, expected)
    _status(exchange, status < 500, expected)
    _closed(exchange, expected)


@invariant
def malformed_field_refused_or_replaced(exchange: Exchange) -> None:
    """ "A recipient of CR, LF, or NUL within a field value MUST either reject the message or
    replace each of those characters with SP before further processing" (RFC 9110 5.5, and
    for a bare CR, RFC 9112 2.2); a folded line (obs-fold) likewise is rejected with 400
    or replaced by SP (RFC 9112 5.2). The probe carries no key: a 400, or the answer to the
    request as if replaced (a 4xx without a key); never a 2xx, a 5xx or no answer."""
    expected = "400, or the keyless request's 4xx as if the flaw were replaced by SP"
    status = _answered(exchange, expected)
    _status(exchange, 400 <= status < 500, expected)


@invariant
def indented_field_line_ignored(exchange: Exchange) -> None:
    """ "A recipient that receives whitespace between the start-line and the first header
    field MUST either reject the message as invalid or consume each whitespace-preceded line
    without further processing of it" (RFC 9112 2.2): the probe's only key is on such a
    line, so a 400, or the answer to a request without a key (a 4xx); never usage."""
    expected = "400, or the answer to a request without a key (401)"
    status = _answered(exchange, expected)
    _status(exchange, 400 <= status < 500, expected)


@invariant
def request_line_garbage_refused(exchange: Exchange) -> None:
    """Octets that do not match the HTTP-message grammar: "the server SHOULD respond with a
    400 (Bad Request) response and close the connection" (RFC 9112 2.2). A close without
    any answer is a refusal too (our reading: a server may drop what is not HTTP at all);
    never another answer, never a connection kept open."""
    expected = "400 (Bad Request) then the close, or the close alone"
    if exchange.status is None and exchange.closed and not exchange.stalled:
        return
    status = _answered(exchange, expected)
    _status(exchange, status == 400, expected)
    _closed(exchange, expected)


@invariant
def invalid_request_target_refused(exchange: Exchange) -> None:
    """ "Recipients of an invalid request-line SHOULD respond with either a 400 (Bad Request)
    error or a 301 (Moved Permanently) redirect with the request-target properly encoded. A
    recipient SHOULD NOT attempt to autocorrect and then process the request without a
    redirect" (RFC 9112 3.2): a raw space or a raw byte that is not ASCII in the target
    gets 400 or a redirect (3xx), never the request's answer (a keyless 401 is one)."""
    expected = "400 (Bad Request) or a redirect to the encoded target"
    status = _answered(exchange, expected)
    _status(exchange, status == 400 or 300 <= status < 400, expected)


@invariant
def long_method_refused(exchange: Exchange) -> None:
    """ "A server that receives a method longer than any that it implements SHOULD respond
    with a 501 (Not Implemented) status code" (RFC 9112 3). Our reading: 400 and 405 too,
    as nginx, HAProxy and llhttp answer 400, and any 4xx, as a server that routes every
    method to its auth first answers 401; never a 2xx, another 5xx or no answer."""
    expected = "501 (Not Implemented), or a 4xx (400, 405, 401)"
    status = _answered(exchange, expected)
    _status(exchange, status == 501 or 400 <= status < 500, expected)


@invariant
def unfinished_head_not_answered(exchange: Exchange) -> None:
    """ "A server MUST NOT apply a request to the target resource until it receives the
    entire request header section" (RFC 9110 5.3): a keyed GET whose head stops before its
    empty line gets no answer while the server waits for the rest, or a refusal (a 4xx such
    as 408 or 400, or the close); never the request's answer, never a 5xx."""
    if exchange.status is None and not exchange.stalled:
        return  # it waits (or closed without an answer)
    expected = "no answer until the head ends, or a 4xx refusal (408, 400), or the close"
    status = _answered(exchange, expected)
    _status(exchange, 400 <= status < 500, expected)


@invariant
def higher_minor_version_served(reference: Exchange, exchange: Exchange) -> None:
    """ "A recipient that receives a message with a major version number that it implements
    and a minor version number higher than what it implements SHOULD process the message as
    if it were in the highest minor version within that major version to which the
    recipient is conformant" (RFC 9110 6.2): a keyed GET in HTTP/1.9 gets the plain
    request's answer (`reference`: status and body), or a refusal of the version
    (`readings.HIGHER_MINOR_REFUSALS`); never another answer, a 5xx or no answer."""
    expected = f"{describe(reference)}, as the plain request; or 400 or 505"
    status = _answered(exchange, expected)
    if status in readings.HIGHER_MINOR_REFUSALS:
        return
    same = status == reference.status and usage_body(exchange) == usage_body(reference)
    _status(exchange, same and exchange.body_judged == reference.body_judged, expected)


@invariant
def foreign_authority_not_misserved(reference: Exchange, exchange: Exchange) -> None:
    """An http(s) URI with an empty host "is invalid", and userinfo in one received is "an
    error" (RFC 9110 4.2.1, 4.2.4); "the origin server MUST reject the request if any
    scheme-specific requirements for the target URI are not met" (7.4): a keyed GET whose
    absolute-form target has an empty host, a userinfo or the other scheme gets a refusal
    (`readings.authority_refusal`: a 4xx or a redirect) or, by our reading, the plain
    request's answer (`reference`); never another answer, a 5xx or none."""
    expected = f"a 4xx refusal (400, 421) or a redirect; or {describe(reference)}, as the plain"
    status = _answered(exchange, expected)
    if readings.authority_refusal(status, exchange.headers.get("location")):
        return
    same = status == reference.status and usage_body(exchange) == usage_body(reference)
    _status(exchange, same and exchange.body_judged == reference.body_judged, expected)


@invariant
def no_request_after_close(exchange: Exchange) -> None:
    """ "A server that sends a "close" connection option MUST initiate closure of the
    connection after it sends the response containing "close". The server MUST NOT process
    any further requests received on that connection" (RFC 9112 9.6): a GET pipelined after
    the request gets no answer once the answer said `Connection: close`, and the connection
    closes."""
    options = exchange.headers.get("connection", "").lower().split(",")
    if exchange.status is None or "close" not in {option.strip() for option in options}:
        return
    expected = "no answer to a request after one answered with Connection: close, then the close"
    if exchange.answered_after:
        raise Broken(
            f"{exchange.flaw}: answered {describe(exchange)} with Connection: close, and then the "
            "request pipelined after it was answered too",
            expected=expected,
            actual="an answer to the next request on the connection",
            location="connection",
        )
    _closed(exchange, expected)


@invariant
def no_transfer_encoding_in_204(
    contract: Contract, operation: Operation, exchange: Exchange
) -> None:
    """ "A server MUST NOT send a Transfer-Encoding header field in any response with a status
    code of 1xx (Informational) or 204 (No Content)" (RFC 9112 6.1): a 204 (a gateway's
    answer to a preflight, say) has none (1xx interim answers are not kept by the suite)."""
    coding = exchange.headers.get("transfer-encoding")
    if exchange.status == 204 and coding is not None:
        raise Broken(
            f"a 204 with Transfer-Encoding: {coding}",
            expected="no Transfer-Encoding in a 204 (RFC 9112 6.1)",
            actual=f"Transfer-Encoding: {coding}",
            location="header Transfer-Encoding",
        )


@invariant
def no_interim_to_http10(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """ "A server MUST NOT send a 1xx response to an HTTP/1.0 client" (RFC 9110 15.2): an
    HTTP/1.0 request written byte for byte gets its final answer and nothing before it."""
    if exchange.http_version == "1.0" and exchange.interim:
        codes = ", ".join(str(code) for code in exchange.interim)
        raise Broken(
            f"an HTTP/1.0 request got {codes} before its final {exchange.status}",
            expected="no 1xx to an HTTP/1.0 client (RFC 9110 15.2)",
            actual=f"interim {codes}",
            location="status",
        )


@invariant
def close_announced(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """ "A server that does not support persistent connections MUST send the "close"
    connection option in every response message that does not have a 1xx (Informational)
    status code" (RFC 9112 9.3), and a server that intends to close "SHOULD send a "close"
    connection option in its final response on that connection" (9.6): an HTTP/1.1 answer
    after which the server closed the connection at once (watched on the raw wire, the
    request not asking for it) says `Connection: close`."""
    if not exchange.closed or exchange.status is None or exchange.http_version != "1.1":
        return
    if exchange.answered_after:
        return  # it closed after answering the request that followed, which asked for it
    options = exchange.headers.get("connection", "").lower().split(",")
    if "close" not in {option.strip() for option in options}:
        raise Broken(
            f"the server closed the connection right after its {exchange.status}, which "
            f"said Connection: {exchange.headers.get('connection', '(none)')}",
            expected="Connection: close in an answer the server closes after",
            actual=f"Connection: {exchange.headers.get('connection', '(none)')}",
            location="header Connection",
        )


@invariant
def close_echoed(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """ "A server that receives a "close" connection option MUST initiate closure of the
    connection [...] after it sends the final response to the request that contained the
    "close" connection option. The server SHOULD send a "close" connection option in its
    final response on that connection" (RFC 9112 9.6): an answer to an HTTP/1.1 request
    that asked for the close says `Connection: close` (an HTTP/1.0 one closes by default)."""
    if not exchange.asked_close or exchange.http_version != "1.1" or exchange.error:
        return
    if exchange.status is None or exchange.streamed:
        return
    options = exchange.headers.get("connection", "").lower().split(",")
    if "close" not in {option.strip() for option in options}:
        raise Broken(
            f"the request asked for Connection: close; the answer ({exchange.status}) says "
            f"Connection: {exchange.headers.get('connection', '(none)')}",
            expected="Connection: close in the final answer",
            actual=f"Connection: {exchange.headers.get('connection', '(none)')}",
            location="header Connection",
        )


@invariant
def pipelined_answers_in_order(first: Exchange, second: Exchange, exchange: Exchange) -> None:
    """ "A server MAY process a sequence of pipelined requests in parallel if they all have safe
    methods, but it MUST send the corresponding responses in the same order that the
    requests were received" (RFC 9112 9.3.2): `exchange` is the first of two GETs of
    different months pipelined on one connection; its answer is never the second's
    (`first` and `second`: each month's plain answer)."""
    got, own, other = usage_body(exchange), usage_body(first), usage_body(second)
    if got is None or own is None or other is None or own == other or got != other:
        return
    raise Broken(
        "the first of two pipelined GETs got the answer to the second (another month)",
        expected=f"the answer for period_start {own.get('period_start')}",
        actual=f"the answer for period_start {got.get('period_start')}",
        location="body",
        subject=exchange,
    )
