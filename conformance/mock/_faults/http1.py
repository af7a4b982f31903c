"""Faults of the HTTP/1.1 layer itself (RFC 9112): a protocol that takes a request it must
refuse, answers it with a 5xx, or keeps the connection open where the RFC says close. Each
is the mock's own protocol with one rule changed, or with a hand-written front before its
parser (``_http.front``), as lenient or home-grown HTTP layers have."""

from __future__ import annotations

import re
from urllib.parse import quote

from conformance.mock._faults.fault import Fault, family
from conformance.mock._http.front import Answer, Front, head_lines, join_head, protocol
from conformance.mock._http.protocol import MockHttpToolsProtocol
from conformance.mock._layers import Apply, passthrough, wire

_FIELD_NAME_SPACE = re.compile(rb"^([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]+:")
_CONTENT_LENGTH = re.compile(rb"(?i)^content-length:[ \t]*([0-9]+)[ \t]*$")


def served_by(protocol_class: type[MockHttpToolsProtocol]) -> Apply:
    """The correct app, served with ``protocol_class``."""
    return wire(lambda scope: False, passthrough, protocol_class)


def hosts_rule(missing: bool = False, repeated: bool = False, invalid: bool = False) -> Apply:
    """The protocol takes a Host section it must refuse with 400: none, several lines, or
    an invalid value (the first Host is read)."""

    def host_accepted(self: MockHttpToolsProtocol, hosts: list[bytes], version: str) -> bool:
        if not hosts:
            return missing or version != "1.1"
        if len(hosts) > 1:
            return repeated
        return invalid or MockHttpToolsProtocol.host_accepted(self, hosts, version)

    name = "LenientHostProtocol"
    return served_by(type(name, (MockHttpToolsProtocol,), {"host_accepted": host_accepted}))


def _no_space_before_colon(head: bytes) -> bytes:
    first, *fields = head_lines(head)
    return join_head([first, *(_FIELD_NAME_SPACE.sub(rb"\1:", line) for line in fields)])


def _control_bytes_crash(head: bytes) -> bytes:
    fields = head_lines(head)[1:]
    if any(b"\x00" in line or b"\r" in line or line[:1] in (b" ", b"\t") for line in fields):
        raise Answer(500)
    return head


def _indented_lines_taken(head: bytes) -> bytes:
    first, *fields = head_lines(head)
    return join_head([first, *(line.lstrip(b" \t") for line in fields)])


def _garbage(head: bytes) -> bool:
    """A request-line with a NUL, or a TLS handshake's first bytes."""
    return b"\x00" in head_lines(head)[0] or head[:1] == b"\x16"


def _garbage_crash(head: bytes) -> bytes:
    if _garbage(head):
        raise Answer(500)
    return head


def _garbage_kept_open(head: bytes) -> bytes:
    if _garbage(head):
        raise Answer(400, close=False)
    return head


def _target_autocorrected(head: bytes) -> bytes:
    first, *fields = head_lines(head)
    method, _, rest = first.partition(b" ")
    target, _, version = rest.rpartition(b" ")
    if not version.startswith(b"HTTP/"):
        return head
    fixed = quote(target, safe="/?&=%:@!$'()*+,;~-._").encode("ascii")
    return join_head([method + b" " + fixed + b" " + version, *fields])


def _long_method_crash(head: bytes) -> bytes:
    if len(head_lines(head)[0].split(b" ")[0]) > 32:
        raise Answer(500)
    return head


def _invalid_length_dropped(head: bytes) -> bytes:
    first, *fields = head_lines(head)
    kept = [
        line
        for line in fields
        if not line.lower().startswith(b"content-length:") or _CONTENT_LENGTH.match(line)
    ]
    return join_head([first, *kept])


def _invalid_length_refused_read_on(head: bytes) -> bytes:
    if _invalid_length_dropped(head) != head:
        raise Answer(400, close=False, say_close=True)
    return head


def _length_dropped_beside_chunked(head: bytes) -> bytes:
    first, *fields = head_lines(head)
    if not any(line.lower().startswith(b"transfer-encoding:") for line in fields):
        return head
    return join_head([first, *(f for f in fields if not f.lower().startswith(b"content-length:"))])


def front(name: str, step: Front) -> Apply:
    """The correct app behind a protocol whose front is ``step``."""
    return served_by(protocol(step, name))


_STATUS_LINE = re.compile(rb"^(HTTP/1\.[01] [0-9]{3}) [^\r\n]*\r\n")
_CONTENT_TYPE = re.compile(rb"\r\n(content-type):[ \t]*", re.IGNORECASE)


_CLOSE_FIELD = re.compile(rb"\r\nconnection: close(?=\r\n|$)", re.IGNORECASE)


def _close_unsaid(data: bytes) -> bytes:
    if not data.startswith(b"HTTP/1."):
        return data
    head, sep, body = data.partition(b"\r\n\r\n")
    return _CLOSE_FIELD.sub(b"", head) + sep + body


def _refusal_as_204(data: bytes) -> bytes:
    if not data.startswith(b"HTTP/1.1 405 "):
        return data
    return b"HTTP/1.1 204 No Content\r\ntransfer-encoding: chunked\r\nallow: GET\r\n\r\n"


def _refusal_as_204_with_length(data: bytes) -> bytes:
    if not data.startswith(b"HTTP/1.1 405 "):
        return data
    return b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nallow: GET\r\n\r\n"


def _version_2(data: bytes) -> bytes:
    return b"HTTP/2.0 " + data[9:] if data.startswith(b"HTTP/1.1 ") else data


def _no_reason_sp(data: bytes) -> bytes:
    return _STATUS_LINE.sub(rb"\1\r\n", data, count=1)


def _folded_content_type(data: bytes) -> bytes:
    if not data.startswith(b"HTTP/1."):
        return data
    return _CONTENT_TYPE.sub(rb"\r\n\1:\r\n ", data, count=1)


_HIGHER_MINOR = re.compile(rb" HTTP/1\.[2-9]$")


def _higher_minor_crash(head: bytes) -> bytes:
    if _HIGHER_MINOR.search(head_lines(head)[0]):
        raise Answer(500)
    return head


class UnfinishedHeadProtocol(MockHttpToolsProtocol):
    """A read that ends with a field line is taken for a whole head: the empty line that
    ends it is supplied, and the request answered before the rest arrives."""

    def data_received(self, data: bytes) -> None:
        if data.endswith(b"\r\n") and b"\r\n\r\n" not in data and b" HTTP/1." in data:
            data += b"\r\n"
        super().data_received(data)


class SwappingProtocol(MockHttpToolsProtocol):
    """Two whole request heads read at once (pipelined GETs) are served in the other order."""

    def data_received(self, data: bytes) -> None:
        first, sep, rest = data.partition(b"\r\n\r\n")
        second, sep2, tail = rest.partition(b"\r\n\r\n")
        if sep and sep2 and first.startswith(b"GET ") and second.startswith(b"GET "):
            data = second + sep2 + first + sep + tail
        super().data_received(data)


FAULTS = family(
    "HTTP/1.1 message parsing",
    Fault(
        "missing_host_accepted",
        "an HTTP/1.1 request without Host is answered as any other (the server fills in its "
        "own name) instead of 400",
        ("host_required",),
        hosts_rule(missing=True),
    ),
    Fault(
        "double_host_accepted",
        "a request with two Host lines is answered, by the first, instead of 400 (a proxy "
        "that routes by the last one sees another request)",
        ("host_required",),
        hosts_rule(repeated=True),
    ),
    Fault(
        "invalid_host_accepted",
        "a Host value that is no host (`a b`) is taken as it is instead of 400",
        ("host_required",),
        hosts_rule(invalid=True),
    ),
    Fault(
        "space_before_colon_accepted",
        "a lenient front strips whitespace between a field name and its colon, so "
        "`X-Api-Key : key` is taken (RFC 9112 5.1 wants 400)",
        ("field_name_whitespace_refused",),
        front("SpaceBeforeColonProtocol", _no_space_before_colon),
    ),
    Fault(
        "control_bytes_in_field_500",
        "a header parser crashes on a NUL, a bare CR or a folded line: 500",
        ("malformed_field_refused_or_replaced",),
        front("ControlBytesCrashProtocol", _control_bytes_crash),
    ),
    Fault(
        "indented_field_line_taken",
        "a field line after the request-line that starts with whitespace is read as a field "
        "(its key too) instead of refused or ignored",
        ("indented_field_line_ignored",),
        front("IndentedLinesProtocol", _indented_lines_taken),
    ),
    Fault(
        "garbage_request_line_500",
        "a request-line the front cannot split (a NUL, TLS bytes) crashes it: 500",
        ("request_line_garbage_refused",),
        front("GarbageCrashProtocol", _garbage_crash),
    ),
    Fault(
        "garbage_request_line_kept_open",
        "a request-line that is no request-line gets 400, but the connection stays open, "
        "and what follows is read as the next request",
        ("request_line_garbage_refused",),
        front("GarbageKeptOpenProtocol", _garbage_kept_open),
    ),
    Fault(
        "raw_target_autocorrected",
        "a request-target with a raw space or a raw byte that is not ASCII is "
        "percent-encoded by the front and processed, neither refused nor redirected",
        ("invalid_request_target_refused", "request_line_garbage_refused"),
        front("AutocorrectProtocol", _target_autocorrected),
    ),
    Fault(
        "long_method_500",
        "a method longer than 32 letters overflows the front's buffer: 500",
        ("long_method_refused",),
        front("LongMethodProtocol", _long_method_crash),
    ),
    Fault(
        "invalid_content_length_ignored",
        "a front drops a Content-Length it cannot parse (`abc`, `1,2`, `-1`) and the request "
        "is answered on a connection kept open (RFC 9112 6.3: 400 and close)",
        ("invalid_content_length_refused",),
        front("InvalidLengthDroppedProtocol", _invalid_length_dropped),
    ),
    Fault(
        "close_then_next_answered",
        "an invalid Content-Length gets 400 with Connection: close, but the server reads on "
        "and answers the request pipelined after it (RFC 9112 9.6: none after close)",
        ("no_request_after_close", "invalid_content_length_refused"),
        front("ReadsOnAfterCloseProtocol", _invalid_length_refused_read_on),
    ),
    Fault(
        "pipelined_answers_swapped",
        "two GETs pipelined on one connection are answered in the other order (a front that "
        "queues requests by arrival of their last byte)",
        ("pipelined_answers_in_order",),
        served_by(SwappingProtocol),
    ),
    Fault(
        "chunked_204",
        "a gateway answers what the API refuses with 405 with its own 204 that says "
        "Transfer-Encoding: chunked (RFC 9112 6.1 forbids it in a 204)",
        ("no_transfer_encoding_in_204",),
        served_by(protocol(None, "Chunked204Protocol", back=_refusal_as_204)),
    ),
    Fault(
        "length_in_204",
        "a gateway answers what the API refuses with 405 with its own 204 that says "
        "Content-Length: 0 (RFC 9110 8.6 forbids Content-Length in a 204)",
        ("no_content_length_in_204",),
        served_by(protocol(None, "Length204Protocol", back=_refusal_as_204_with_length)),
    ),
    Fault(
        "close_not_echoed",
        "a request that asks for Connection: close is answered and the connection closed, "
        "but the answer does not say close (RFC 9112 9.6 says it should)",
        ("close_echoed", "close_announced"),
        served_by(protocol(None, "CloseUnsaidProtocol", back=_close_unsaid)),
    ),
    Fault(
        "status_line_without_reason_sp",
        "every status-line ends at its status code (`HTTP/1.1 200`), without the SP that "
        "RFC 9112 4 requires even when the reason-phrase is empty (h11 reads it anyway)",
        ("complete_response",),
        served_by(protocol(None, "NoReasonSpProtocol", back=_no_reason_sp)),
    ),
    Fault(
        "status_line_http2",
        "every status-line says HTTP/2.0 on an HTTP/1.1 connection, a version the server "
        "does not speak there (RFC 9110 6.2; h11, so the pooled client, reads it anyway)",
        ("complete_response",),
        served_by(protocol(None, "Version2StatusProtocol", back=_version_2)),
    ),
    Fault(
        "folded_response_field",
        "Content-Type is sent folded onto a second line (obs-fold), which RFC 9112 5.2 forbids "
        "in a response (h11 unfolds it silently)",
        ("complete_response",),
        served_by(protocol(None, "FoldedFieldProtocol", back=_folded_content_type)),
    ),
    Fault(
        "higher_minor_500",
        "a request-line in HTTP/1.9 (a minor version above any) finds no entry in the "
        "front's version table: 500 (RFC 9110 6.2: process it as 1.1, or refuse it)",
        ("higher_minor_version_served",),
        front("HigherMinorCrashProtocol", _higher_minor_crash),
    ),
    Fault(
        "unfinished_head_answered",
        "a read that ends with a field line is taken for a whole head: a request whose "
        "header section has not ended is answered (RFC 9110 5.3: not before all of it)",
        ("unfinished_head_not_answered",),
        served_by(UnfinishedHeadProtocol),
    ),
    Fault(
        "te_cl_kept_open",
        "Content-Length beside Transfer-Encoding is dropped and the request answered as "
        "chunked, but the connection stays open (RFC 9112 6.1: close after responding)",
        ("framing_conflict_closed",),
        front("FramingConflictOpenProtocol", _length_dropped_beside_chunked),
    ),
)
