"""Checks over the whole request space: the header fields real clients and proxies send, the
shapes of request-targets, and the transformations that must not change an answer. The
plain valid request for a closed period is the reference: another request gets the same
answer (status and whole body), or a refusal that HTTP names for what it asks."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl, urlsplit

from conformance._contract import http, readings
from conformance._core.dates import add_months, parse_date
from conformance._core.exchange import Exchange
from conformance.checks._invariant import Broken, describe, error_body, invariant

#: Of a field value shown in a message, at most this many characters.
SHOWN_VALUE = 60


def difference(reference: Exchange, exchange: Exchange) -> tuple[str, str, str, str]:
    """How `exchange`'s answer differs from `reference`'s: (what, expected, actual,
    location), all empty when it is the same answer. Usage bodies (200) are compared whole,
    as parsed JSON; other answers by status and `error_code`. A body in a content coding the
    request asked for and the suite does not decode is compared by its media type."""
    if exchange.status != reference.status:
        return f"status {exchange.status}", describe(reference), describe(exchange), "status"
    if exchange.status != 200:
        one, two = error_body(reference).get("error_code"), error_body(exchange).get("error_code")
        if one != two:
            return "another error_code", repr(one), repr(two), "$.error_code"
        return "", "", "", ""
    if not (reference.body_judged and exchange.body_judged):
        if reference.media_type != exchange.media_type:
            return "another Content-Type", reference.media_type, exchange.media_type, "header"
        return "", "", "", ""
    (ok_one, one), (ok_two, two) = reference.parsed, exchange.parsed
    if ok_one and ok_two and isinstance(one, dict) and isinstance(two, dict):
        for name in sorted({*one, *two}):
            if one.get(name) != two.get(name):
                values = [repr(b[name]) if name in b else "(missing)" for b in (one, two)]
                return f"another {name}", values[0], values[1], f"$.{name}"
        return "", "", "", ""
    if (ok_one, one) != (ok_two, two):
        return "another body", reference.excerpt(80), exchange.excerpt(80), "$"
    return "", "", "", ""


def _coding_accepted(exchange: Exchange, what: str) -> None:
    """Raise when the answer is in a content coding that the request's own Accept-Encoding
    does not accept (RFC 9110 12.5.3: a coding named with weight 0, or not named where
    nothing else admits it; the server then sends none)."""
    asked = http.field(exchange.request_headers, "accept-encoding")
    coding = exchange.headers.get("content-encoding", "").strip().lower()
    coding = {"x-gzip": "gzip"}.get(coding, coding)
    if asked is None or coding in ("", "identity"):
        return
    if http.accept_list_excludes(asked, coding, default_ok=False):
        raise Broken(
            f"{what}: answered in Content-Encoding {coding}, which Accept-Encoding: "
            f"{asked[:SHOWN_VALUE]} does not accept",
            expected="a coding the request accepts, or none (RFC 9110 12.5.3)",
            actual=coding,
            location="header Content-Encoding",
        )


#: A header field name the suite smuggles into requests percent-encoded after a CR LF: an
#: answer that carries it wrote part of the request into its header section (RFC 9112 2.2).
INJECTED_FIELD = "x-dcs-injected"


def _answered(exchange: Exchange, what: str) -> None:
    """Raise unless the request got a complete answer that is not a 5xx, and whose header
    section holds nothing the request smuggled into it."""
    if INJECTED_FIELD in exchange.headers:
        raise Broken(
            f"{what}: the answer carries a header field decoded from the request "
            f"({INJECTED_FIELD}: {exchange.headers[INJECTED_FIELD][:SHOWN_VALUE]})",
            expected="no CR LF from the request in a header field (RFC 9112 2.2, 5)",
            actual=f"{INJECTED_FIELD} present",
            location=f"header {INJECTED_FIELD}",
        )
    if exchange.error or exchange.status is None:
        raise Broken(
            f"{what}: no complete answer ({exchange.error})",
            expected="a complete answer within the deadline",
            actual=exchange.error or "nothing",
            location="status",
        )
    if exchange.status >= 500:
        raise Broken(
            f"{what} answered {describe(exchange)}",
            expected="never a 5xx",
            actual=describe(exchange),
            location="status",
        )


def added_fields(reference: Exchange, exchange: Exchange) -> str:
    """The header fields `exchange` sent beyond `reference`'s (values cut short)."""
    plain = {name.lower() for name in reference.request_headers}
    shown = []
    for name, value in exchange.request_headers.items():
        if name.lower() in plain and reference.request_headers.get(name) == value:
            continue
        text = exchange.masker.header(name, value)
        cut = text if len(text) <= SHOWN_VALUE else f"{text[:SHOWN_VALUE]}... ({len(value)} chars)"
        shown.append(f"{name}: {cut}")
    return "; ".join(shown) or "no other field"


def representation(reference: Exchange, exchange: Exchange) -> readings.Representation:
    """What is known of the representation: the ETag and Last-Modified of the reference (or
    of a 304, which must repeat them), and when the reference's period ended."""
    etag = reference.headers.get("etag") or exchange.headers.get("etag")
    modified = reference.headers.get("last-modified") or exchange.headers.get("last-modified")
    values = [v for k, v in parse_qsl(urlsplit(reference.url).query) if k == "period_start"]
    start = parse_date(values[0]) if len(values) == 1 else None
    end = None
    if start is not None and start.day == 1:
        month = add_months(start, 1)
        end = dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)
    plain = reference.status == 200 and reference.body_judged
    coded = reference.headers.get("content-encoding", "identity").strip().lower()
    length = len(reference.body) if plain and coded in ("", "identity") else None
    return readings.Representation(etag, http.http_date(modified or ""), end, length)


@invariant
def standard_headers_harmless(malformed: bool, reference: Exchange, exchange: Exchange) -> None:
    """The standard request header fields that clients, browsers, SDKs, gateways and proxies
    send, with valid, unusual or hostile values, change nothing the spec defines: the
    answer is the plain request's (status and whole body), or what HTTP names for what the
    fields ask (RFC 9110 13 conditionals: 304, 412; 12 negotiation: 406; 14 ranges: 206,
    416; 10.1.1 Expect: 417; 5.4 and RFC 6585 sizes: 400, 413, 431; 400 for malformed
    values); never a content coding the request did not accept (12.5.3), a 5xx or a
    hang."""
    fields = added_fields(reference, exchange)
    _answered(exchange, fields)
    _coding_accepted(exchange, fields)
    what, expected, actual, location = difference(reference, exchange)
    if not what:
        return
    status = exchange.status or 0
    known = representation(reference, exchange)
    reason = readings.header_refusal(status, exchange.request_headers, known, malformed=malformed)
    if reason is None:
        raise Broken(
            f"{fields}: answered {describe(exchange)} ({what}), not the plain request's answer",
            expected=f"{expected}, as the plain request; or a refusal these fields call for",
            actual=actual,
            location=location,
        )
    if status == 206:
        _partial_content(reference, exchange)
    if status in readings.REDIRECTS and not exchange.headers.get("location"):
        raise Broken(
            f"{fields}: a {status} redirect without a Location",
            expected="a Location (RFC 9110 10.2.2)",
            actual="(none)",
            location="header Location",
        )


def _partial_content(reference: Exchange, exchange: Exchange) -> None:
    """A 206 carries exactly the ranges it says of the representation the plain request got
    (RFC 9110 15.3.7, 14.4): one Content-Range and its bytes, or multipart/byteranges."""
    coded = any(e.headers.get("content-encoding") for e in (reference, exchange))
    if coded or not reference.body_judged or reference.status != 200:
        return  # the ranges are of bytes the suite did not keep as sent
    full = reference.body
    if exchange.media_type == "multipart/byteranges":
        parts = _byteranges(exchange)
    else:
        parts = [(exchange.headers.get("content-range", ""), exchange.body)]
    if not parts:
        raise Broken(
            "a 206 multipart/byteranges answer without parts",
            expected="one part per range",
            actual=exchange.excerpt(80),
            location="$",
        )
    for given, data in parts:
        parsed = http.content_range(given)
        ok = parsed is not None and parsed[1] < len(full) and parsed[2] in (None, len(full))
        if parsed is None or not ok or data != full[parsed[0] : parsed[1] + 1]:
            raise Broken(
                f"a 206 whose Content-Range ({given or 'none'}) does not frame its bytes of the "
                f"{len(full)}-byte representation",
                expected=f"bytes first-last/{len(full)} and exactly those bytes",
                actual=f"{given or '(none)'}: {data[:40]!r}",
                location="header Content-Range",
            )


def _byteranges(exchange: Exchange) -> list[tuple[str, bytes]]:
    """The (Content-Range, bytes) of each part of a multipart/byteranges body."""
    params = http.cache_directives(exchange.headers.get("content-type", "").replace(";", ","))
    boundary = (params.get("boundary") or "").encode("latin-1")
    if not boundary:
        return []
    parts = []
    for chunk in exchange.body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        given = ""
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-range":
                given = value.strip()
        parts.append((given, data.removesuffix(b"\r\n")))
    return parts


@invariant
def request_target_harmless(reference: Exchange, exchange: Exchange) -> None:
    """A request-target of an unusual shape (parameters repeated, reordered or oddly
    encoded, empty pairs, a bare `?`, a long query) that carries the plain request's
    parameters changes nothing: the same answer, or a refusal of the target (400; 414 when
    long, RFC 9110 15.5.15; a redirect to its canonical form), never a 5xx, never a hang,
    and nothing of it decoded into the answer's header section (RFC 9112 2.2)."""
    target = urlsplit(exchange.url)
    shown = f"?{exchange.masker.text(target.query)[:120]}"
    _answered(exchange, f"the target {shown}")
    what, expected, actual, location = difference(reference, exchange)
    if not what:
        return
    length = len(target.path) + 1 + len(target.query)
    if readings.target_refusal(exchange.status or 0, length, exchange.headers.get("location")):
        return
    raise Broken(
        f"the target {shown} answered {describe(exchange)} ({what})",
        expected=f"{expected}, as the plain target; or 400 (414 when long), or a redirect",
        actual=actual,
        location=location,
    )


@invariant
def equivalent_requests_same_answer(why: str, reference: Exchange, variant: Exchange) -> None:
    """Requests that HTTP, URIs or the spec make equivalent get the same answer for a closed
    period, status and whole body: the other security scheme, header names in another
    case, the org header naming the key's own org, a field the server does not use, the
    parameters in another order or with unreserved characters percent-encoded (RFC 3986
    6.2.2), the request-target in absolute-form, HTTP/1.0 or 1.1, a new connection or a
    kept-alive one (each transformation names the sentence it rests on)."""
    if variant.error or variant.status is None:
        raise Broken(
            f"{why}: no complete answer ({variant.error})",
            expected=f"{describe(reference)}, as the plain request",
            actual=variant.error or "nothing",
            location="status",
        )
    _coding_accepted(variant, why)
    what, expected, actual, location = difference(reference, variant)
    if what:
        raise Broken(
            f"{why}: {what} than the plain request ({describe(reference)})",
            expected=expected,
            actual=actual,
            location=location,
        )
