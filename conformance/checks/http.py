"""Checks of HTTP's semantics on the usage path, whatever the method and the credentials:
nothing without a valid key, HEAD as GET without content, nothing revealed by OPTIONS or
TRACE, and no answer to a credentialed request left for a shared cache to hand out."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from conformance._contract import readings
from conformance._contract.spec import Contract, Operation
from conformance._core.exchange import Exchange
from conformance.checks._invariant import Broken, describe, invariant, usage_body

#: A counter shorter than this is not searched for in other answers: it could be chance.
MIN_SEARCHED_DIGITS = 6


def usage_traces(fields: Iterable[str], reference: Exchange | None, exchange: Exchange) -> str:
    """Where `exchange` carries usage data, or "": a field name of the usage body (`_` or
    `-`, any case) in its body or its header fields, or a counter of `reference`'s usage
    body (6 digits or more) as a number there."""
    names = [re.escape(name).replace("_", "[_-]") for name in fields]
    body = usage_body(reference) if reference is not None else None
    figures = [
        str(value)
        for value in (body or {}).values()
        if type(value) is int and len(str(value)) >= MIN_SEARCHED_DIGITS
    ]
    patterns = [(f"a usage field name ({name})", rf"(?<![0-9A-Za-z]){name}(?![0-9A-Za-z])")
                for name in names]  # fmt: skip
    patterns += [("a usage figure of the key's org", rf"(?<![0-9A-Za-z.]){f}(?![0-9A-Za-z])")
                 for f in figures]  # fmt: skip
    places = [("body", exchange.body.decode("latin-1"))]
    places += [(f"header {name}", f"{name}: {value}") for name, value in exchange.headers.items()]
    for where, text in places:
        for what, pattern in patterns:
            if re.search(pattern, text, re.IGNORECASE):
                return f"{what} in the {where}"
    return ""


@invariant
def no_usage_without_valid_key(
    fields: Sequence[str], reference: Exchange | None, exchange: Exchange
) -> None:
    """Without a valid key no request gets usage, whatever its method, fields or form (RFC
    9110 9: every method acts on the same resource, and the spec secures the resource with
    a key): never a 2xx (OPTIONS aside, a CORS preflight's answer carries no credentials,
    our reading), never a 304 (13.2.1: conditions are ignored where the answer would not be
    a 2xx), never a usage field or figure in a body or header field, never a 5xx (501
    aside, for a method the server does not implement: 15.6.2)."""
    method = exchange.method
    if exchange.error or exchange.status is None:
        return  # no answer: complete_response's finding
    if not readings.keyless_status_allowed(method, exchange.status):
        raise Broken(
            f"{method} without a valid key answered {describe(exchange)}",
            expected="a 3xx or 4xx (401, 405, ...)"
            + (", or a CORS 2xx without data" if method == "OPTIONS" else "")
            + (", or 501" if method not in ("GET", "HEAD") else ""),
            actual=describe(exchange),
            location="status",
        )
    found = usage_traces(fields, reference, exchange)
    if found:
        raise Broken(
            f"{method} without a valid key answered {exchange.status} with {found}",
            expected="no usage data without a valid key",
            actual=found,
            location=found.rsplit(" in the ", 1)[-1],
        )


@invariant
def head_matches_get(get: Exchange, head: Exchange) -> None:
    """HEAD is GET without content: "identical to GET except that the server MUST NOT send
    content in the response" (RFC 9110 9.3.2), and "all general-purpose servers MUST support
    the methods GET and HEAD" (9.1): the same status and no content; for a 200, the same
    Content-Type and a Content-Length, if any, that is GET's. Or a 405 from a gateway that passes
    GET only, whose Allow then does not list HEAD (our reading). Never a 5xx."""
    if head.error or head.status is None:
        raise Broken(
            f"HEAD got no complete answer: {head.error}",
            expected=f"{get.status}, as GET",
            actual=head.error or "nothing",
            location="status",
        )
    if head.status in readings.HEAD_REFUSED:
        allow = {m.strip().upper() for m in head.headers.get("allow", "").split(",")}
        if "HEAD" in allow:
            raise Broken(
                f"HEAD refused with 405, yet Allow: {head.headers['allow']}",
                expected="Allow without HEAD, or HEAD answered like GET",
                actual=head.headers["allow"],
                location="header Allow",
            )
        return
    if head.status != get.status:
        raise Broken(
            f"HEAD answered {describe(head)} where GET answered {describe(get)}",
            expected=f"{get.status} (or 405)",
            actual=str(head.status),
            location="status",
        )
    if head.body:
        raise Broken(
            f"HEAD answered with {len(head.body)} bytes of content after its header section",
            expected="no content (RFC 9110 9.3.2)",
            actual=repr(head.body[:40]),
            location="$",
        )
    if head.status != 200:
        return  # an error's content may name the method: its fields are not compared
    media = head.headers.get("content-type")
    if media is not None and head.media_type != get.media_type:
        raise Broken(
            f"HEAD says Content-Type {media}, GET {get.headers.get('content-type')}",
            expected=get.headers.get("content-type", "(none)"),
            actual=media,
            location="header Content-Type",
        )
    length = head.headers.get("content-length")
    expected = _content_length(get)
    if length is not None and expected is not None and length.strip() != str(expected):
        raise Broken(
            f"HEAD says Content-Length {length}, GET's content is {expected} bytes",
            expected=str(expected),
            actual=length,
            location="header Content-Length",
        )


def _content_length(get: Exchange) -> int | None:
    """The length of GET's content as sent: its Content-Length, else the length of a body
    that was sent without a content coding (None when unknown)."""
    given = get.headers.get("content-length", "").strip()
    if given.isdigit():
        return int(given)
    if get.headers.get("content-encoding", "identity").strip().lower() in ("", "identity"):
        return len(get.body) if get.body_judged and get.status == 200 else None
    return None


@invariant
def options_reveals_nothing(
    fields: Sequence[str], reference: Exchange | None, exchange: Exchange
) -> None:
    """OPTIONS describes "the communication options available for the target resource"
    (RFC 9110 9.3.7), TRACE echoes the request for diagnosis (9.3.8: "A server SHOULD
    exclude any request fields that are likely to contain sensitive data"), and a method the
    server does not know is refused: none of them, with a key or without, carries usage data
    or echoes a credential the request carried."""
    found = usage_traces(fields, reference, exchange)
    if found:
        raise Broken(
            f"{exchange.method} answered {exchange.status} with {found}",
            expected="no usage data: only GET reads usage",
            actual=found,
            location=found.rsplit(" in the ", 1)[-1],
        )
    text = exchange.body.decode("latin-1") + "".join(exchange.headers.values())
    for name, value in exchange.request_headers.items():
        secret = _credential(name, value)
        if secret and secret in text:
            raise Broken(
                f"{exchange.method} answered {exchange.status} echoing the request's {name}",
                expected="no credential of the request in the answer (RFC 9110 9.3.8)",
                actual=f"the {name} value (masked: ***)",
                location="$",
            )


@invariant
def options_ignores_conditions(plain: Exchange, conditional: Exchange) -> None:
    """ "A server MUST ignore all received preconditions if ... the request method is
    CONNECT, OPTIONS, or TRACE" (RFC 9110 13.2.1): an OPTIONS with an If-Match that names no
    representation gets no 412 where the same OPTIONS without it got none."""
    if plain.error or conditional.error or plain.status == 412 or conditional.status != 412:
        return
    raise Broken(
        f"OPTIONS with If-Match answered 412 where without it it answered {describe(plain)}",
        expected=f"{plain.status}, as without the precondition (RFC 9110 13.2.1)",
        actual="412",
        location="status",
        subject=conditional,
    )


#: Request fields whose value is, or holds, a credential.
_CREDENTIAL_FIELDS = frozenset({"authorization", "x-api-key", "cookie", "proxy-authorization"})


def _credential(name: str, value: str) -> str:
    """The secret part of a credential field's value (the token after a scheme), or ""."""
    if name.lower() not in _CREDENTIAL_FIELDS:
        return ""
    token = value.split(" ", 1)[-1].strip()
    return token if len(token) >= 8 else ""


@invariant
def credentialed_answer_not_shared_cacheable(
    contract: Contract, operation: Operation, exchange: Exchange
) -> None:
    """An answer to a request that carried credentials is never left for a shared cache to
    hand to another caller (RFC 9111 3.5: a shared cache reuses an answer to a request with
    Authorization only where `public`, `s-maxage` or `must-revalidate` allow it; 5.2.2.7
    `private`, 5.2.2.10 `s-maxage`). A key in `x-api-key` is no credential to a cache, so an
    answer to it that is explicitly fresh must also say `private`, `no-store` or `no-cache`,
    or Vary on `x-api-key`."""
    if exchange.status is None:
        return
    carried = [
        name
        for name in exchange.request_headers
        if name.lower() in contract.secret_headers | {"authorization"}
    ]
    for name in carried:
        reason = readings.shared_reuse(name, exchange.headers)
        if reason:
            shown = _cache_fields(exchange.headers)
            raise Broken(
                f"a {exchange.status} to a request with credentials in {name}: {reason}",
                expected=f"Cache-Control: private or no-store (or Vary: {name})",
                actual=shown,
                location="header Cache-Control",
            )


def _cache_fields(headers: dict[str, Any]) -> str:
    shown = [f"{n}: {headers[n]}" for n in ("cache-control", "expires", "vary") if n in headers]
    return "; ".join(shown) or "(none)"


def strong_tag(exchange: Exchange) -> str | None:
    """The strong entity tag of a complete 200 to a GET, whose content can be compared with
    that of another answer of the same tag; None for any other answer (weak tags included)."""
    tag = exchange.headers.get("etag", "").strip()
    complete = not (exchange.error or exchange.streamed or exchange.coded)
    if exchange.method != "GET" or exchange.status != 200 or not complete:
        return None
    return tag if tag and not tag.startswith("W/") else None


@invariant
def strong_etag_names_one_content(earlier: Exchange, exchange: Exchange) -> None:
    """A strong entity tag names one representation: "a strong validator is unique across all
    versions of all representations associated with a particular resource over time" (RFC
    9110 8.8.1), so two 200s to GETs of the same target URI with the same strong ETag carry
    the same content (compared as JSON where both are): another org's usage, or a figure that
    has grown since, gets another tag, or a cache revalidating with it is told "not modified"
    and keeps what it has."""
    if earlier.body == exchange.body:
        return
    first, second = earlier.parsed, exchange.parsed
    if first[0] and second[0] and first[1] == second[1]:
        return
    raise Broken(
        f"two 200s to {exchange.method} {exchange.url} carry the same strong ETag "
        f"{exchange.headers.get('etag')} and different content",
        expected="another ETag for other content (RFC 9110 8.8.1), or a weak one",
        actual=f"{describe(earlier)} and {describe(exchange)}",
        location="header ETag",
    )
