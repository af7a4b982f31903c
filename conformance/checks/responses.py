"""Checks that hold for every response of every operation: transport, media type, schema."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from jsonschema.exceptions import best_match

from conformance._contract import readings
from conformance._contract.spec import Contract, Operation
from conformance._core.exchange import Exchange, secret_forms
from conformance.checks._invariant import Broken, error_body, invariant

BODYLESS_STATUSES = frozenset({204, 304})
UTF8_BOM = b"\xef\xbb\xbf"
#: Keys shorter than this are not searched for in answers: an echo could not be told from chance.
MIN_SEARCHED_KEY = 8
ERROR_CODE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
#: Each status's recommended phrases: RFC 9110's where they differ from the older ones Python
#: and most frameworks still use (RFC 7231's, RFC 2616's), which are kept too.
STATUS_PHRASES: dict[int, set[str]] = {s.value: {s.phrase.lower()} for s in HTTPStatus}
for _status, _phrase in (
    (413, "content too large"),
    (413, "payload too large"),
    (414, "uri too long"),
    (416, "range not satisfiable"),
    (422, "unprocessable content"),
):
    STATUS_PHRASES[_status].add(_phrase)


def _has_body(exchange: Exchange) -> bool:
    """Whether the response has a body, and so a media type (HEAD, 204 and 304 have none)."""
    return exchange.method != "HEAD" and exchange.status not in BODYLESS_STATUSES


def _whole(exchange: Exchange) -> bool:
    """Whether the response's body is a whole representation: not a 206's part of one
    (RFC 9110 15.3.7), which is judged against the whole by the request-space checks."""
    return _has_body(exchange) and exchange.status != 206


def _as_documented(operation: Operation, exchange: Exchange) -> bool:
    """Whether the operation's documented responses describe this one: a whole body, and not
    a success to another method than the operation's (a 200 to OPTIONS describes the
    resource's options, RFC 9110 9.3.7; a 200 to TRACE echoes the request, 9.3.8), which the
    method checks judge instead, nor an answer of HTTP's layer (`_api_answer`)."""
    other = exchange.method.upper() != operation.method.upper()
    success = 200 <= (exchange.status or 0) < 300
    return _whole(exchange) and not (other and success) and _api_answer(operation, exchange)


def _api_answer(operation: Operation, exchange: Exchange) -> bool:
    """Whether the API's own answers describe this one: not a refusal of a request outside
    the API, which HTTP's layer (a reverse proxy's, or the server's) may answer with its own
    body (`readings.outside_the_api`)."""
    refusal = (exchange.status or 0) >= 300
    return not (refusal and readings.outside_the_api(operation.method, exchange))


@invariant
def complete_response(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """Every request gets a complete, well-formed HTTP response within the deadline (HTTP itself;
    without it nothing else can be judged)."""
    if exchange.error:
        raise Broken(exchange.error, expected="a complete HTTP response", actual=exchange.error)


@invariant
def framing_fits_the_request(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """The answer is framed so that the request's sender can read it: "A server MUST NOT send a
    response containing Transfer-Encoding unless the corresponding request indicates HTTP/1.1"
    (RFC 9112 6.1), and "A sender MUST NOT send a Content-Length header field in any message
    that contains a Transfer-Encoding header field" (RFC 9112 6.2)."""
    coding = exchange.headers.get("transfer-encoding")
    if exchange.error or coding is None:
        return
    if exchange.http_version == "1.0":
        raise Broken(
            f"an HTTP/1.0 request answered with Transfer-Encoding: {coding}, which HTTP/1.0 "
            "does not define: its recipient reads the chunk framing as the body",
            expected="no Transfer-Encoding in an answer to HTTP/1.0 (RFC 9112 6.1)",
            actual=f"Transfer-Encoding: {coding}",
            location="header Transfer-Encoding",
        )
    length = exchange.headers.get("content-length")
    if length is not None:
        raise Broken(
            f"Content-Length: {length} beside Transfer-Encoding: {coding}: two framings, "
            "which recipients may read differently (request smuggling, RFC 9112 11.2)",
            expected="Transfer-Encoding or Content-Length, not both (RFC 9112 6.2)",
            actual=f"Content-Length: {length}, Transfer-Encoding: {coding}",
            location="header Content-Length",
        )


@invariant
def content_type_documented(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """The response's Content-Type is the media type documented for its status (`content:
    application/json` for 200/400/401/403/500/502, `application/problem+json` for `default`)."""
    documented = contract.documented_response(operation, exchange.status or 0)
    if documented is None or not documented.media_types or not _as_documented(operation, exchange):
        return
    if exchange.media_type not in documented.media_types:
        raise Broken(
            f"{exchange.status} served as {exchange.media_type or 'no Content-Type'}",
            expected=" or ".join(documented.media_types),
            actual=exchange.headers.get("content-type", "(none)"),
            location="header Content-Type",
        )


@invariant
def body_matches_schema(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """The body is JSON that validates against the schema documented for its status
    (`additionalProperties: false` and `format: int64` enforced)."""
    documented = contract.documented_response(operation, exchange.status or 0)
    if not documented or not documented.schema_pointers or not _as_documented(operation, exchange):
        return
    if not exchange.body_judged:
        return  # a stream, or a coding asked for and not decodable: status and headers judged
    pointer = documented.schema_pointers.get(exchange.media_type) or next(
        iter(documented.schema_pointers.values())
    )
    ok, body = exchange.parsed
    if not ok:
        raise Broken(
            f"{exchange.status} body is not JSON: {body}",
            expected=f"JSON matching responses.{documented.status_key}",
            actual=exchange.excerpt(120),
            location="$",
        )
    error = best_match(contract.validator(pointer).iter_errors(body))
    if error is not None:
        raise Broken(
            f"{exchange.status} body does not match responses.{documented.status_key}: "
            f"{error.message}",
            expected=f"schema keyword {error.validator!r}: {error.validator_value!r}"[:200],
            actual=repr(error.instance)[:200],
            location=error.json_path,
        )


@invariant
def error_code_format(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """An error body's `error_code` is an UPPER_SNAKE_CASE identifier, as every code the spec
    shows (`AUTH_REQUIRED`, `AUTH_INVALID`, `AUTH_ORG_MISMATCH`, `AUTH_SCOPE_FORBIDDEN`)."""
    if not _api_answer(operation, exchange):
        return
    code = error_body(exchange).get("error_code") if (exchange.status or 0) >= 400 else None
    if isinstance(code, str) and not ERROR_CODE.fullmatch(code):
        raise Broken(
            f"error_code {code!r} is not UPPER_SNAKE_CASE",
            expected="e.g. AUTH_INVALID",
            actual=code,
            location="$.error_code",
        )


@invariant
def auth_errors_not_retryable(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """401 and 403 answers say `retryable: false`: retrying with the same credentials cannot
    succeed (every 401/403 example in the spec)."""
    if exchange.status in (401, 403) and _has_body(exchange) and _api_answer(operation, exchange):
        retryable = error_body(exchange).get("retryable")
        if retryable is not False:
            raise Broken(
                f"{exchange.status} says retryable={retryable!r}",
                expected="retryable: false",
                actual=repr(retryable),
                location="$.retryable",
            )


@invariant
def json_wire_format(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """A JSON body is one JSON text in UTF-8 with no byte order mark, no duplicate member
    names and nothing after the value (RFC 8259 8.1: "MUST NOT add a byte order mark", 4:
    names "SHOULD be unique"; I-JSON, RFC 7493 2.3: "MUST NOT have duplicate names")."""
    if not _is_json(exchange) or not _whole(exchange) or not exchange.body_judged:
        return
    if exchange.body.startswith(UTF8_BOM):
        raise Broken(
            f"{exchange.status} body starts with a UTF-8 byte order mark",
            expected="no byte order mark (RFC 8259 8.1)",
            actual=repr(exchange.body[:8]),
            location="$",
        )
    try:
        text = exchange.body.decode("utf-8").lstrip(" \t\r\n")
        _, end = json.JSONDecoder(object_pairs_hook=_unique_names).raw_decode(text)
    except _DuplicateName as duplicate:
        raise Broken(
            f"{exchange.status} body repeats the member name {duplicate.name!r}",
            expected="unique member names (RFC 7493 2.3)",
            actual=f"{duplicate.name!r} twice",
            location=f"$.{duplicate.name}",
        ) from None
    except ValueError:
        return  # not JSON at all: body_matches_schema's finding
    rest = text[end:]
    if rest.strip(" \t\r\n"):
        raise Broken(
            f"{exchange.status} body has data after the JSON value",
            expected="one JSON value, then at most whitespace (RFC 8259 2)",
            actual=repr(rest[:40]),
            location="$",
        )


class _DuplicateName(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    for name in names:
        if names.count(name) > 1:
            raise _DuplicateName(name)
    return dict(pairs)


def _is_json(exchange: Exchange) -> bool:
    media = exchange.media_type
    return media == "application/json" or media.endswith("+json")


@invariant
def request_errors_not_retryable(
    contract: Contract, operation: Operation, exchange: Exchange
) -> None:
    """A 400 says `retryable: false`: the same invalid request cannot succeed when retried
    ("Invalid request")."""
    if (
        exchange.status == 400
        and exchange.media_type == "application/json"
        and _api_answer(operation, exchange)
    ):
        retryable = error_body(exchange).get("retryable")
        if retryable is True:
            raise Broken(
                "400 says retryable=True",
                expected="retryable: false",
                actual="True",
                location="$.retryable",
            )


@invariant
def retry_hint_non_negative(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """`retry_after_ms`, when an error gives it, is a wait: zero or more milliseconds."""
    hint = error_body(exchange).get("retry_after_ms") if (exchange.status or 0) >= 400 else None
    if type(hint) is int and hint < 0:
        raise Broken(
            f"retry_after_ms is {hint}",
            expected=">= 0",
            actual=str(hint),
            location="$.retry_after_ms",
        )


@invariant
def problem_status_matches(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """A problem document's `status` is the status of the response that carries it
    (`ErrorModel.status`: "HTTP status code"; RFC 9457 3.1.2: a generator "MUST use the same
    status code in the actual HTTP response")."""
    if exchange.media_type != "application/problem+json":
        return
    status = error_body(exchange).get("status")
    if type(status) is int and status != exchange.status:
        raise Broken(
            f"a {exchange.status} problem document says status {status}",
            expected=str(exchange.status),
            actual=str(status),
            location="$.status",
        )


def _english(exchange: Exchange) -> bool:
    """Whether the request asked for no language or for English first (a title may be
    localized, RFC 9457 3.1.3)."""
    asked = next(
        (v for k, v in exchange.request_headers.items() if k.lower() == "accept-language"), ""
    )
    first = asked.split(",")[0].split(";")[0].strip().lower()
    return first in ("", "*") or first.startswith("en")


@invariant
def about_blank_title_is_status_phrase(
    contract: Contract, operation: Operation, exchange: Exchange
) -> None:
    """A problem document of type `about:blank` (or none, its default) has the status's
    recommended phrase as its `title`: "When this value is used, the title SHOULD be the same
    as the recommended HTTP status phrase for that code (e.g., 'Not Found' for 404)" (RFC 9457
    4.2.1), compared without regard to case; a title asked for in another language is not
    judged."""
    if exchange.media_type != "application/problem+json" or not _english(exchange):
        return
    document = error_body(exchange)
    title = document.get("title")
    status = exchange.status or 0
    phrases = STATUS_PHRASES.get(status)
    if document.get("type", "about:blank") != "about:blank" or not isinstance(title, str):
        return
    if phrases and " ".join(title.split()).lower() not in phrases:
        raise Broken(
            f"a {exchange.status} problem of type about:blank titled {title[:80]!r}",
            expected=repr(HTTPStatus(status).phrase),
            actual=repr(title[:80]),
            location="$.title",
        )


#: The header fields whose value is a URI reference the server generates.
URI_FIELDS = ("location", "content-location")


def _uri_flaw(value: str) -> str:
    """What makes `value` an http(s) URI RFC 9110 4.2 forbids a sender to generate ("" if
    nothing): an authority with no host, or userinfo."""
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
    except ValueError:
        return ""  # not a URI reference at all: other checks judge the syntax
    if parts.scheme.lower() not in ("http", "https", ""):
        return ""
    if parts.scheme == "" and not value.strip().startswith("//"):
        return ""  # a relative reference without an authority
    if "@" in parts.netloc:
        return "userinfo (RFC 9110 4.2.4: a sender MUST NOT generate it)"
    if not host:
        return "an empty host (RFC 9110 4.2.1, 4.2.2: a sender MUST NOT generate it)"
    return ""


@invariant
def generated_uris_well_formed(
    contract: Contract, operation: Operation, exchange: Exchange
) -> None:
    """The http(s) URIs a server generates (Location, Content-Location, a problem document's
    `type` and `instance`) have a host and no userinfo: "A sender MUST NOT generate an "http"
    URI with an empty host identifier" (RFC 9110 4.2.1, 4.2.2 for https), nor "the userinfo
    subcomponent (and its "@" delimiter) when an "http" or "https" URI reference is generated
    within a message" (4.2.4): userinfo is where credentials go."""
    places = [(f"header {n}", exchange.headers[n]) for n in URI_FIELDS if n in exchange.headers]
    if exchange.media_type == "application/problem+json":
        document = error_body(exchange)
        places += [(f"$.{n}", document[n]) for n in ("type", "instance") if n in document]
    for where, value in places:
        flaw = _uri_flaw(value) if isinstance(value, str) else ""
        if flaw:
            shown = exchange.masker.text(value)[:120]
            raise Broken(
                f"a {exchange.status} generates the URI {shown} with {flaw.split(' (')[0]}",
                expected="an http(s) URI with a host and no userinfo",
                actual=f"{shown}: {flaw}",
                location=where,
            )


@invariant
def key_never_echoed(keys: Sequence[str], exchange: Exchange) -> None:
    """No answer, body or header, on any status, contains the caller's key, plain,
    URL-encoded or base64-encoded: an echo hands the secret to every log and proxy on the way
    (keys under 8 characters are not searched for)."""
    searched = [form for key in keys if len(key) >= MIN_SEARCHED_KEY for form in secret_forms(key)]
    if not searched:
        return
    places = [("body", exchange.body.decode("latin-1"))]
    places += [(f"header {name}", value) for name, value in exchange.headers.items()]
    for where, text in places:
        if any(form in text for form in searched):
            raise Broken(
                f"the caller's key comes back in the {where}",
                expected="no trace of the key",
                actual=f"the key (masked: ***) in the {where}",
                location=where if where != "body" else "$",
            )
